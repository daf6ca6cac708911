// Corruption sweep (after leveldb's corruption_test): flip every byte of a
// small .tqf and truncate it at every length. Open/Verify/Decode must
// return an error or exact output, never crash; and every flip inside a
// byte range that a checksum covers must be detected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "test_util.h"
#include "tqf/codec.h"
#include "tqf/reader.h"
#include "tqf_file_builder.h"

namespace tqf {
namespace {

struct Range {
  uint64_t begin, end;
};

// Byte ranges covered by some checksum (or magic) in a good file.
std::vector<Range> CoveredRanges(const Reader& r) {
  std::vector<Range> v;
  const FileInfo& f = r.file_info();
  v.push_back({0, format::kPreambleSize});
  v.push_back({f.file_size - format::kFooterSize, f.file_size});
  v.push_back({f.header_offset, f.header_offset + f.header_size});
  for (const DictionaryInfo& d : r.dictionaries()) v.push_back({d.offset, d.offset + d.size});
  for (const CodebookInfo& c : r.codebooks()) v.push_back({c.offset, c.offset + c.size});
  for (const TensorInfo& t : r.tensors()) {
    v.push_back({t.data_offset, t.data_offset + t.stored_size});
    if (t.params_bytes) v.push_back({t.params_offset, t.params_offset + t.params_bytes});
  }
  return v;
}

// Aligned copy, opened from memory; then everything decoded.
Status OpenVerifyDecode(const std::vector<uint8_t>& bytes, bool verify_checksums,
                        std::vector<std::vector<uint8_t>>* decoded) {
  std::vector<uint64_t> aligned(bytes.size() / 8 + 1);
  if (!bytes.empty()) std::memcpy(aligned.data(), bytes.data(), bytes.size());
  ReadOptions opt;
  opt.verify_checksums = verify_checksums;
  auto r = Reader::OpenMemory(reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size(), opt);
  if (!r.ok()) return r.status();
  Status first;
  if (verify_checksums) {
    VerifyReport rep = (*r)->Verify(1);
    if (!rep.problems.empty()) first = rep.problems[0].status;
  }
  decoded->clear();
  for (size_t i = 0; i < (*r)->tensors().size(); ++i) {
    std::vector<uint8_t> out((*r)->tensors()[i].raw_size);
    Status s = (*r)->DecodeTensor(i, out.data(), out.size(), 1);
    if (!s.ok() && first.ok()) first = s;
    std::vector<float> params((*r)->tensors()[i].num_params);
    s = (*r)->CopyParams(i, params.data(), params.size());
    if (!s.ok() && first.ok()) first = s;
    decoded->push_back(std::move(out));
  }
  return first;
}

class CorruptionTest : public ::testing::TestWithParam<CodecKind> {
 protected:
  void SetUp() override {
    if (FindCodec(GetParam()) == nullptr) GTEST_FAIL() << "codec not built";
    std::string dir = testing::TempDir();
    path_ = dir + "/sweep.tqf";
    // rans-alias-vq sweeps the format 1.2 model (log8 params, codebooks).
    model_ = GetParam() == CodecKind::kRansAliasVq ? testing::MakeLowBitModel(3)
                                                   : testing::MakeSmallModel(GetParam(), 3);
    testing::WriteSmallModel(model_, path_, 512);
    bytes_ = testing::ReadFileBytes(path_);
    auto r = Reader::Open(path_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    covered_ = CoveredRanges(**r);
  }
  bool Covered(uint64_t off) const {
    return std::any_of(covered_.begin(), covered_.end(),
                       [&](const Range& r) { return off >= r.begin && off < r.end; });
  }
  std::string path_;
  testing::SmallModel model_;
  std::vector<uint8_t> bytes_;
  std::vector<Range> covered_;
};

TEST_P(CorruptionTest, EveryFlippedByteIsDetectedOrHarmless) {
  std::vector<std::vector<uint8_t>> decoded;
  ASSERT_TRUE(OpenVerifyDecode(bytes_, true, &decoded).ok());
  size_t detected = 0, harmless = 0;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    std::vector<uint8_t> f = bytes_;
    f[i] ^= 0x5A;
    Status s = OpenVerifyDecode(f, true, &decoded);
    if (!s.ok()) {
      ++detected;
      continue;
    }
    // Undetected: must be padding, and decoding must give the exact bytes.
    EXPECT_FALSE(Covered(i)) << "flip at offset " << i << " not detected";
    for (size_t t = 0; t < model_.tensors.size(); ++t) {
      ASSERT_EQ(decoded[t], model_.tensors[t].data) << "flip at " << i << " changed tensor " << t;
    }
    ++harmless;
  }
  EXPECT_GT(detected, bytes_.size() / 2);
  RecordProperty("detected", static_cast<int>(detected));
  RecordProperty("harmless", static_cast<int>(harmless));
}

TEST_P(CorruptionTest, FlipsWithoutChecksumsNeverCrashTheCodecs) {
  // With checksum checks off, flipped stream bytes reach the codec itself.
  std::vector<std::vector<uint8_t>> decoded;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> f = bytes_;
      f[i] ^= x;
      (void)OpenVerifyDecode(f, false, &decoded);
    }
  }
  SUCCEED();
}

TEST_P(CorruptionTest, EveryTruncationIsAnError) {
  std::vector<std::vector<uint8_t>> decoded;
  for (size_t len = 0; len < bytes_.size(); ++len) {
    std::vector<uint8_t> f(bytes_.begin(), bytes_.begin() + len);
    Status s = OpenVerifyDecode(f, true, &decoded);
    ASSERT_FALSE(s.ok()) << "truncated to " << len << " bytes was accepted";
    ASSERT_TRUE(s.IsCorruption() || s.IsChecksumMismatch()) << len << ": " << s.ToString();
  }
}

std::vector<CodecKind> AllKinds() {
  std::vector<CodecKind> v;
  for (const Codec* c : AllCodecs()) v.push_back(c->kind());
  return v;
}

INSTANTIATE_TEST_SUITE_P(Codecs, CorruptionTest, ::testing::ValuesIn(AllKinds()),
                         [](const ::testing::TestParamInfo<CodecKind>& info) {
                           std::string name = FindCodec(info.param)->name();
                           for (char& ch : name) ch = ch == '-' ? '_' : ch;  // gtest names
                           return name;
                         });

}  // namespace
}  // namespace tqf
