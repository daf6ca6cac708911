// Golden test vectors (format-spec/test-vectors/): the writer must keep
// producing these exact bytes from the same inputs, and the reader must
// keep reading them. A deliberate format change regenerates them with
//   TQF_REGENERATE_GOLDEN=1 build/bin/golden_test
// and says so in format-spec/tqf-format.md's version changes.
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.h"
#include "tqf/codec.h"
#include "tqf/reader.h"
#include "tqf_file_builder.h"

namespace tqf {
namespace {

const char* const kGoldenCodecs[] = {"raw", "dict4", "rans", "rans-alias"};
// Vectors written by format 1.0 writers: a reader must keep reading them.
const char* const kFormat10Codecs[] = {"raw", "dict4", "rans"};

std::string VectorPath(const std::string& codec, const std::string& dir = "") {
  return std::string(TQF_SOURCE_DIR) + "/format-spec/test-vectors/" + dir + "small-" + codec +
         ".tqf";
}

std::string GtestName(std::string name) {
  for (char& ch : name) ch = ch == '-' ? '_' : ch;
  return name;
}

// Opens `path`, verifies it, and checks every tensor decodes to the
// small model's bytes.
void ExpectDecodesSmallModel(const std::string& path, CodecKind kind, uint16_t minor) {
  auto model = testing::MakeSmallModel(kind, 42);
  auto r = Reader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->file_info().writer, "tqf-golden");
  EXPECT_EQ((*r)->file_info().format_minor, minor);
  EXPECT_TRUE((*r)->Verify().problems.empty());
  ASSERT_EQ((*r)->tensors().size(), model.tensors.size());
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    std::vector<uint8_t> out((*r)->tensors()[i].raw_size);
    ASSERT_TRUE((*r)->DecodeTensor(i, out.data(), out.size()).ok());
    EXPECT_EQ(out, model.tensors[i].data) << model.tensors[i].spec.name;
  }
}

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, WriterReproducesTheVectorByteForByte) {
  const Codec* codec = FindCodecByName(GetParam());
  ASSERT_NE(codec, nullptr);
  auto model = testing::MakeSmallModel(codec->kind(), 42);
  const std::string fresh = testing::TempDir() + "/golden.tqf";
  testing::WriteSmallModel(model, fresh, 256, "tqf-golden");
  const auto bytes = testing::ReadFileBytes(fresh);
  const char* regen = std::getenv("TQF_REGENERATE_GOLDEN");
  if (regen && std::string(regen) == "1") {
    testing::WriteFileBytes(VectorPath(GetParam()), bytes);
  }
  const auto golden = testing::ReadFileBytes(VectorPath(GetParam()));
  ASSERT_FALSE(golden.empty()) << VectorPath(GetParam()) << " missing";
  ASSERT_EQ(golden.size(), bytes.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    ASSERT_EQ(golden[i], bytes[i]) << "first difference at byte " << i;
  }
}

TEST_P(Golden, ReaderDecodesTheVector) {
  const Codec* codec = FindCodecByName(GetParam());
  ASSERT_NE(codec, nullptr);
  ExpectDecodesSmallModel(VectorPath(GetParam()), codec->kind(), 1);
}

class GoldenFormat10 : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenFormat10, ReaderStillDecodesTheVector) {
  const Codec* codec = FindCodecByName(GetParam());
  ASSERT_NE(codec, nullptr);
  ExpectDecodesSmallModel(VectorPath(GetParam(), "1.0/"), codec->kind(), 0);
}

// Format 1.2's features (log8 params, codebooks, rans-alias-vq).
TEST(GoldenLowBit, WriterReproducesTheVectorByteForByte) {
  auto model = testing::MakeLowBitModel(42);
  const std::string fresh = testing::TempDir() + "/golden-lowbit.tqf";
  testing::WriteSmallModel(model, fresh, 256, "tqf-golden");
  const auto bytes = testing::ReadFileBytes(fresh);
  const char* regen = std::getenv("TQF_REGENERATE_GOLDEN");
  if (regen && std::string(regen) == "1") testing::WriteFileBytes(VectorPath("lowbit"), bytes);
  const auto golden = testing::ReadFileBytes(VectorPath("lowbit"));
  ASSERT_FALSE(golden.empty()) << VectorPath("lowbit") << " missing";
  ASSERT_EQ(golden.size(), bytes.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    ASSERT_EQ(golden[i], bytes[i]) << "first difference at byte " << i;
  }
}

TEST(GoldenLowBit, ReaderDecodesTheVector) {
  auto model = testing::MakeLowBitModel(42);
  auto r = Reader::Open(VectorPath("lowbit"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const FileInfo& f = (*r)->file_info();
  EXPECT_EQ(f.format_minor, 2);
  EXPECT_EQ(f.incompat_flags, 1u);  // bit 0: log8 params
  EXPECT_TRUE((*r)->Verify().problems.empty());
  ASSERT_EQ((*r)->codebooks().size(), 2u);
  EXPECT_EQ((*r)->codebooks()[1].dim, 8u);
  EXPECT_EQ((*r)->codebooks()[1].entries, 32u);
  ASSERT_EQ((*r)->tensors().size(), model.tensors.size());
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const TensorInfo& t = (*r)->tensors()[i];
    const auto& want = model.tensors[i];
    SCOPED_TRACE(want.spec.name);
    EXPECT_EQ(t.quantizer, want.spec.quantizer);
    EXPECT_EQ(t.params_format, want.spec.params_format);
    EXPECT_EQ(t.codebook, want.spec.codebook);
    std::vector<uint8_t> out(t.raw_size);
    ASSERT_TRUE((*r)->DecodeTensor(i, out.data(), out.size()).ok());
    EXPECT_EQ(out, want.data);
    std::vector<float> params(t.num_params);
    ASSERT_TRUE((*r)->CopyParams(i, params.data(), params.size()).ok());
    EXPECT_EQ(params, want.params);  // log8 scales are exact grid values
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, Golden, ::testing::ValuesIn(kGoldenCodecs),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return GtestName(i.param);
                         });
INSTANTIATE_TEST_SUITE_P(Vectors, GoldenFormat10, ::testing::ValuesIn(kFormat10Codecs),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return GtestName(i.param);
                         });

}  // namespace
}  // namespace tqf
