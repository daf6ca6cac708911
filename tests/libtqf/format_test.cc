// Writer -> Reader round trips and the table of hand-crafted bad files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "test_util.h"
#include "tqf/reader.h"
#include "tqf_file_builder.h"
#include "util/checksum.h"

namespace tqf {
namespace {

using testing::MakeSmallModel;
using testing::PatchFooter;
using testing::PatchHeader;
using testing::PatchPreamble;
using testing::ReadFileBytes;
using testing::WriteSmallModel;

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    path_ = dir_ + "/small.tqf";
    model_ = MakeSmallModel(CodecKind::kDict4);
    WriteSmallModel(model_, path_);
    bytes_ = ReadFileBytes(path_);
    // Keep an 8-byte aligned copy for OpenMemory.
  }
  Status OpenBytes(const std::vector<uint8_t>& b, bool verify_all = false) {
    std::vector<uint64_t> aligned((b.size() + 7) / 8 + 1);
    std::memcpy(aligned.data(), b.data(), b.size());
    auto r = Reader::OpenMemory(reinterpret_cast<const uint8_t*>(aligned.data()), b.size());
    if (!r.ok()) return r.status();
    if (verify_all) {
      VerifyReport rep = (*r)->Verify(1);
      if (!rep.problems.empty()) return rep.problems[0].status;
    }
    return Status::OK();
  }
  std::string dir_, path_;
  testing::SmallModel model_;
  std::vector<uint8_t> bytes_;
};

TEST_F(FormatTest, RoundTripsEveryTensorExactly) {
  for (CodecKind codec :
       {CodecKind::kRaw, CodecKind::kDict4, CodecKind::kRans, CodecKind::kRansAlias}) {
    auto m = MakeSmallModel(codec, 7);
    std::string path = dir_ + "/rt.tqf";
    WriteSmallModel(m, path, 100);  // odd block size: many blocks, short last block
    auto r = Reader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ((*r)->tensors().size(), m.tensors.size());
    for (size_t i = 0; i < m.tensors.size(); ++i) {
      const TensorInfo& t = (*r)->tensors()[i];
      EXPECT_EQ(t.name, m.tensors[i].spec.name);
      EXPECT_EQ(t.shape, m.tensors[i].spec.shape);
      EXPECT_EQ(t.dtype, m.tensors[i].spec.dtype);
      EXPECT_EQ(t.quant, m.tensors[i].spec.quant);
      std::vector<uint8_t> out(t.raw_size);
      for (int threads : {1, 2}) {
        ASSERT_TRUE((*r)->DecodeTensor(i, out.data(), out.size(), threads).ok());
        EXPECT_EQ(out, m.tensors[i].data) << t.name;
      }
      ASSERT_EQ(t.num_params, m.tensors[i].params.size());
      if (t.num_params > 0) {
        EXPECT_EQ(0, std::memcmp(t.params, m.tensors[i].params.data(), t.num_params * 4));
      }
      // Every block alone.
      for (uint32_t b = 0; b < t.block_count; ++b) {
        size_t off = size_t(b) * t.block_size;
        size_t n = std::min<size_t>(t.block_size, t.raw_size - off);
        std::vector<uint8_t> blk(n);
        ASSERT_TRUE((*r)->DecodeBlock(i, b, blk.data(), n).ok());
        EXPECT_EQ(0, std::memcmp(blk.data(), m.tensors[i].data.data() + off, n));
      }
    }
    EXPECT_TRUE((*r)->Verify().problems.empty());
    EXPECT_EQ((*r)->model().tokenizer.tokens, m.info.tokenizer.tokens);
    EXPECT_EQ((*r)->model().metadata, m.info.metadata);
  }
}

// Reader::DecodeBlocks: one list of blocks across tensors, in any order,
// decodes exactly (pairs may straddle tensors), refuses bad refs before
// decoding, and names the tensor and block of a damaged one.
TEST_F(FormatTest, DecodeBlocksTakesBlocksOfManyTensors) {
  for (CodecKind codec : {CodecKind::kRaw, CodecKind::kRansAlias}) {
    auto m = MakeSmallModel(codec, 9);
    std::string path = dir_ + "/list.tqf";
    WriteSmallModel(m, path, 192);
    auto r = Reader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const auto& ts = (*r)->tensors();
    std::vector<std::vector<uint8_t>> out(ts.size());
    std::vector<BlockRef> refs;
    for (size_t i = 0; i < ts.size(); ++i) {
      out[i].assign(ts[i].raw_size, 0);
      for (size_t b = 0; b < ts[i].block_count; ++b) {
        refs.push_back({i, b, out[i].data() + b * ts[i].block_size});
      }
    }
    ASSERT_GT(refs.size(), 8u);
    std::reverse(refs.begin() + 3, refs.end());  // any order
    for (int threads : {1, 2}) {
      for (auto& o : out) std::fill(o.begin(), o.end(), 0);
      ASSERT_TRUE((*r)->DecodeBlocks(refs.data(), refs.size(), threads).ok());
      for (size_t i = 0; i < ts.size(); ++i) EXPECT_EQ(out[i], m.tensors[i].data) << ts[i].name;
    }
    auto bad = refs;
    bad[4].block = ts[bad[4].tensor].block_count;
    Status s = (*r)->DecodeBlocks(bad.data(), bad.size());
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_NE(s.message().find("block list entry 4"), std::string::npos) << s.ToString();
    bad = refs;
    bad[2].tensor = ts.size();
    EXPECT_TRUE((*r)->DecodeBlocks(bad.data(), bad.size()).IsInvalidArgument());
    // Damage a byte in the middle of the minmax tensor's stream: the error
    // names that tensor and one of its blocks.
    auto bytes = ReadFileBytes(path);
    const size_t minmax = *(*r)->FindTensor("w.minmax");
    const TensorInfo& t = ts[minmax];
    ASSERT_GE(t.block_count, 2u);
    bytes[t.data_offset + t.stored_size / 2] ^= 0x20;
    r->reset();
    testing::WriteFileBytes(path, bytes);
    auto r3 = Reader::Open(path);
    ASSERT_TRUE(r3.ok()) << r3.status().ToString();
    s = (*r3)->DecodeBlocks(refs.data(), refs.size(), 2);
    EXPECT_TRUE(s.IsChecksumMismatch()) << s.ToString();
    EXPECT_NE(s.message().find("tensor 'w.minmax' block "), std::string::npos) << s.ToString();
  }
}

TEST_F(FormatTest, DecodeRejectsWrongBufferSize) {
  auto r = Reader::Open(path_);
  ASSERT_TRUE(r.ok());
  std::vector<uint8_t> out(10);
  EXPECT_TRUE((*r)->DecodeTensor(1, out.data(), out.size()).IsInvalidArgument());
  EXPECT_TRUE((*r)->DecodeBlock(1, 9999, out.data(), out.size()).IsInvalidArgument());
  EXPECT_TRUE((*r)->DecodeTensor(999, out.data(), out.size()).IsInvalidArgument());
  EXPECT_TRUE((*r)->FindTensor("nope").status().IsNotFound());
}

TEST_F(FormatTest, MissingFileIsNotFound) {
  EXPECT_TRUE(Reader::Open(dir_ + "/does-not-exist.tqf").status().IsNotFound());
}

TEST_F(FormatTest, WriterFailureLeavesNoFile) {
  std::string path = dir_ + "/failed.tqf";
  {
    auto w = Writer::Create(path, model_.info);
    ASSERT_TRUE(w.ok());
    TensorSpec bad = model_.tensors[1].spec;
    // Wrong size for the shape: refused, and the writer is dropped unfinished.
    EXPECT_TRUE((*w)->AddTensor(bad, model_.tensors[1].data.data(), 3, nullptr, 0)
                    .status()
                    .IsInvalidArgument());
  }
  EXPECT_TRUE(ReadFileBytes(path).empty());
  EXPECT_TRUE(Reader::Open(path).status().IsNotFound());
  // No temporary left beside it either.
  EXPECT_EQ(0, std::system(("test -z \"$(ls " + dir_ + " | grep failed)\"").c_str()));
}

// ---- The table of hand-crafted bad files. Each edit reaches one check.

struct BadCase {
  const char* name;
  std::function<void(std::vector<uint8_t>*)> edit;
  StatusCode expect;
  bool needs_verify;  // detected by Verify (data checksums), not Open
};

std::vector<BadCase> BadCases() {
  using fb::HeaderT;
  return {
      {"BadMagic", [](auto* f) { (*f)[1] = 'X'; }, StatusCode::kCorruption, false},
      {"FutureMajorVersion",
       [](auto* f) {
         PatchPreamble(f, [](format::Preamble* p) { p->format_major = 2; });
         PatchFooter(f, [](format::Footer* p) { p->format_major = 2; });
       },
       StatusCode::kNotSupported, false},
      {"ZeroMajorVersion",
       [](auto* f) { PatchPreamble(f, [](format::Preamble* p) { p->format_major = 0; }); },
       StatusCode::kNotSupported, false},
      {"UnknownRequiredFeature",
       [](auto* f) {
         PatchPreamble(f, [](format::Preamble* p) { p->incompat_flags = 1ull << 5; });
         PatchFooter(f, [](format::Footer* p) { p->incompat_flags = 1ull << 5; });
       },
       StatusCode::kNotSupported, false},
      {"ReservedFieldNonZero",
       [](auto* f) {
         (*f)[50] = 1;
         uint64_t c = Checksum64(f->data(), 56);
         std::memcpy(f->data() + 56, &c, 8);
       },
       StatusCode::kCorruption, false},
      {"PreambleChecksum", [](auto* f) { (*f)[40] ^= 1; }, StatusCode::kChecksumMismatch, false},
      {"FooterChecksum", [](auto* f) { (*f)[f->size() - 64] ^= 1; }, StatusCode::kChecksumMismatch,
       false},
      {"TruncatedByOneByte", [](auto* f) { f->pop_back(); }, StatusCode::kCorruption, false},
      {"TruncatedToHalf", [](auto* f) { f->resize(f->size() / 2); }, StatusCode::kCorruption,
       false},
      {"TruncatedToTenBytes", [](auto* f) { f->resize(10); }, StatusCode::kCorruption, false},
      {"EmptyFile", [](auto* f) { f->clear(); }, StatusCode::kCorruption, false},
      {"TrailingGarbageAfterFooterCopy",
       [](auto* f) {
         std::vector<uint8_t> footer(f->end() - 64, f->end());
         f->insert(f->end(), footer.begin(), footer.end());
       },
       StatusCode::kCorruption, false},
      {"PreambleFooterDisagree",
       [](auto* f) { PatchPreamble(f, [](format::Preamble* p) { p->header_size += 8; }); },
       StatusCode::kCorruption, false},
      {"HeaderOffsetPastEnd",
       [](auto* f) {
         PatchFooter(f, [](format::Footer* p) { p->header_offset = 1ull << 60; });
         PatchPreamble(f, [](format::Preamble* p) { p->header_offset = 1ull << 60; });
       },
       StatusCode::kCorruption, false},
      {"HeaderSizeOverflows",
       [](auto* f) {
         PatchFooter(f, [](format::Footer* p) { p->header_size = ~0ull - 16; });
         PatchPreamble(f, [](format::Preamble* p) { p->header_size = ~0ull - 16; });
       },
       StatusCode::kCorruption, false},
      {"HeaderChecksumWrong",
       [](auto* f) { PatchFooter(f, [](format::Footer* p) { p->header_checksum ^= 1; }); },
       StatusCode::kChecksumMismatch, false},
      {"HeaderNotAFlatBuffer",
       [](auto* f) {
         // Garbage in the header, checksum recomputed: the verifier must catch it.
         format::Footer ft;
         std::memcpy(&ft.header_offset, f->data() + f->size() - 64, 8);
         for (size_t i = 0; i < 64; ++i) (*f)[ft.header_offset + 8 + i] = uint8_t(0xA5 ^ i);
         PatchFooter(f, [&](format::Footer* p) {
           p->header_checksum = Checksum64(f->data() + p->header_offset, p->header_size);
         });
       },
       StatusCode::kCorruption, false},
      {"SectionPastHeader",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->sections[1]->extent->mutate_size(1ull << 40); });
       },
       StatusCode::kCorruption, false},
      {"OverlappingSections",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           auto& a = *h->sections[0]->extent;
           auto& b = *h->sections[1]->extent;
           b.mutate_offset(a.offset());
         });
       },
       StatusCode::kCorruption, false},
      {"MissingSection",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->sections.pop_back(); }); },
       StatusCode::kCorruption, false},
      {"DuplicateSection",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           h->sections.push_back(std::make_unique<fb::SectionT>(*h->sections[0]));
         });
       },
       StatusCode::kCorruption, false},
      {"TensorStreamPastSection",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->tensors[1]->data->mutate_offset(1ull << 62); });
       },
       StatusCode::kCorruption, false},
      {"OverlappingTensorStreams",
       [](auto* f) {
         // Tensor 2 becomes a renamed copy of tensor 1: every per-tensor
         // check passes, only the shared stream is wrong.
         PatchHeader(f, [](HeaderT* h) {
           fb::TensorT& a = *h->tensors[1];
           fb::TensorT& b = *h->tensors[2];
           b.shape = a.shape;
           b.dtype = a.dtype;
           b.quant = a.quant;
           b.quant_block = a.quant_block;
           b.codec = a.codec;
           b.dictionary = a.dictionary;
           b.raw_size = a.raw_size;
           b.block_size = a.block_size;
           b.params_checksum = a.params_checksum;
           b.index_checksum = a.index_checksum;
           b.raw_checksum = a.raw_checksum;
           *b.params = *a.params;
           *b.data = *a.data;
           *b.index = *a.index;
         });
       },
       StatusCode::kCorruption, false},
      {"HugeShapeOverflows",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->tensors[1]->shape = {1ull << 40, 1ull << 40}; });
       },
       StatusCode::kCorruption, false},
      {"ShapeDisagreesWithRawSize",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) {
                       h->tensors[1]->shape = {47, 64};
                     }); },
       StatusCode::kCorruption, false},
      {"TooManyDimensions",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->shape.assign(9, 1); }); },
       StatusCode::kCorruption, false},
      {"HugeBlockCount",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->block_size = 1; }); },
       StatusCode::kCorruption, false},
      {"ZeroBlockSize",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->block_size = 0; }); },
       StatusCode::kCorruption, false},
      {"UnknownCodec",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->tensors[1]->codec = fb::CodecKind(200); });
       },
       StatusCode::kNotSupported, false},
      {"UnknownDType",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->dtype = fb::DType(77); }); },
       StatusCode::kNotSupported, false},
      {"StoredQ8_0NotAllowed",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->dtype = fb::DType::Q8_0; }); },
       StatusCode::kNotSupported, false},
      {"Int8WithoutQuantizer",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->tensors[1]->quant = fb::QuantKind::None; });
       },
       StatusCode::kCorruption, false},
      {"DictionaryIndexOutOfRange",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->dictionary = 9; }); },
       StatusCode::kCorruption, false},
      {"RawCodecWithDictionary",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[0]->dictionary = 0; }); },
       StatusCode::kCorruption, false},
      {"DictionaryOutsideSection",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->dictionaries[0]->extent->mutate_offset(8); });
       },
       StatusCode::kCorruption, false},
      {"DictionaryChecksum",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->dictionaries[0]->checksum ^= 1; }); },
       StatusCode::kChecksumMismatch, false},
      {"DuplicateTensorName",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) { h->tensors[2]->name = h->tensors[1]->name; });
       },
       StatusCode::kCorruption, false},
      {"ParamsWrongSize",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           h->tensors[1]->params->mutate_size(h->tensors[1]->params->size() - 4);
         });
       },
       StatusCode::kCorruption, false},
      {"ParamsChecksum",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->params_checksum ^= 1; }); },
       StatusCode::kChecksumMismatch, false},
      {"SeekIndexWrongSize",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->index->mutate_size(32); }); },
       StatusCode::kCorruption, false},
      {"SeekIndexChecksum",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->index_checksum ^= 1; }); },
       StatusCode::kChecksumMismatch, false},
      {"SeekIndexEntryInconsistent",
       [](auto* f) {
         PatchHeader(f, [&](HeaderT* h) {
           auto& t = *h->tensors[1];
           uint8_t* entry = f->data() + t.index->offset();
           uint32_t stored;
           std::memcpy(&stored, entry + 8, 4);
           stored += 1;  // block 0 claims one byte more than it has
           std::memcpy(entry + 8, &stored, 4);
           t.index_checksum = Checksum64(entry, t.index->size());
         });
       },
       StatusCode::kCorruption, false},
      // Hostile-input review (issue 11), defect 3: raw_size 2^64-4 with
      // block_size 5 wrapped the block count to 0, and Open accepted it.
      {"WrappedBlockCount",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           fb::TensorT& t = *h->tensors[4];  // w.f32, unquantized f32
           t.shape = {(1ull << 62) - 1};
           t.raw_size = ~0ull - 3;
           t.block_size = 5;
           t.data->mutate_size(0);
           t.index->mutate_size(0);
           t.index_checksum = Checksum64(nullptr, 0);
         });
       },
       StatusCode::kCorruption, false},
      // Defect 9: non-finite hyperparameters were accepted.
      {"NonFiniteNormEps",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           h->model->norm_eps = std::numeric_limits<float>::infinity();
         });
       },
       StatusCode::kCorruption, false},
      {"NaNRopeTheta",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           h->model->rope_theta = std::numeric_limits<float>::quiet_NaN();
         });
       },
       StatusCode::kCorruption, false},
      // Defect 11: a tokenizer with fewer entries than vocab_size passed.
      {"TokenizerShorterThanVocab",
       [](auto* f) {
         PatchHeader(f, [](HeaderT* h) {
           h->model->vocab_size = static_cast<uint32_t>(h->tokenizer->tokens.size() + 1);
         });
       },
       StatusCode::kCorruption, false},
      {"TokenizerBosOutOfRange",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tokenizer->bos_id = 99; }); },
       StatusCode::kCorruption, false},
      {"TokenizerScoresCountWrong",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tokenizer->scores.pop_back(); }); },
       StatusCode::kCorruption, false},
      {"StreamByteFlipped",
       [](auto* f) {
         PatchHeader(f, [&](HeaderT* h) { (*f)[h->tensors[1]->data->offset() + 3] ^= 0x40; });
       },
       StatusCode::kChecksumMismatch, true},
      {"TensorRawChecksum",
       [](auto* f) { PatchHeader(f, [](HeaderT* h) { h->tensors[1]->raw_checksum ^= 1; }); },
       StatusCode::kChecksumMismatch, true},
  };
}

class BadFileTest : public FormatTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(BadFileTest, GivesItsSpecificError) {
  const BadCase c = BadCases()[GetParam()];
  std::vector<uint8_t> f = bytes_;
  c.edit(&f);
  Status open = OpenBytes(f, false);
  if (c.needs_verify) {
    ASSERT_TRUE(open.ok()) << c.name << ": " << open.ToString();
    Status all = OpenBytes(f, true);
    EXPECT_EQ(all.code(), c.expect) << c.name << ": " << all.ToString();
  } else {
    EXPECT_EQ(open.code(), c.expect) << c.name << ": " << open.ToString();
  }
  // The message must say something.
  if (!open.ok()) {
    EXPECT_GT(open.message().size(), 10u) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadFileTest, ::testing::Range<size_t>(0, BadCases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return std::string(BadCases()[info.param].name);
                         });

TEST_F(FormatTest, UnknownCompatFlagIsIgnored) {
  std::vector<uint8_t> f = bytes_;
  PatchPreamble(&f, [](format::Preamble* p) { p->compat_flags = 1ull << 9; });
  EXPECT_TRUE(OpenBytes(f, true).ok());
}

TEST_F(FormatTest, NewerMinorVersionIsAccepted) {
  std::vector<uint8_t> f = bytes_;
  PatchPreamble(&f, [](format::Preamble* p) { p->format_minor = 7; });
  PatchFooter(&f, [](format::Footer* p) { p->format_minor = 7; });
  EXPECT_TRUE(OpenBytes(f, true).ok());
}

TEST_F(FormatTest, UnknownSectionKindIsIgnored) {
  std::vector<uint8_t> f = bytes_;
  PatchHeader(&f, [](fb::HeaderT* h) {
    auto s = std::make_unique<fb::SectionT>();
    s->kind = fb::SectionKind(42);
    s->extent = std::make_unique<fb::Extent>(64, 8);  // inside the preamble padding
    h->sections.push_back(std::move(s));
  });
  EXPECT_TRUE(OpenBytes(f, true).ok()) << OpenBytes(f, true).ToString();
}

TEST_F(FormatTest, VerifyNamesTensorAndBlockOfAFlippedByte) {
  auto r = Reader::Open(path_);
  ASSERT_TRUE(r.ok());
  const TensorInfo& t = (*r)->tensors()[1];
  ASSERT_GT(t.block_count, 1u);
  // The last byte of the stream belongs to the last block.
  std::vector<uint8_t> f = bytes_;
  f[t.data_offset + t.stored_size - 1] ^= 0x01;
  std::string flipped = dir_ + "/flipped.tqf";
  testing::WriteFileBytes(flipped, f);
  auto r2 = Reader::Open(flipped);
  ASSERT_TRUE(r2.ok());
  VerifyReport rep = (*r2)->Verify();
  ASSERT_EQ(rep.problems.size(), 1u);
  const std::string msg = rep.problems[0].status.ToString();
  EXPECT_TRUE(rep.problems[0].status.IsChecksumMismatch()) << msg;
  EXPECT_NE(msg.find("'w.channel'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block " + std::to_string(t.block_count - 1)), std::string::npos) << msg;
  // Decoding that tensor fails the same way; the others still decode.
  std::vector<uint8_t> out(t.raw_size);
  EXPECT_TRUE((*r2)->DecodeTensor(1, out.data(), out.size()).IsChecksumMismatch());
  const TensorInfo& t2 = (*r2)->tensors()[2];
  std::vector<uint8_t> out2(t2.raw_size);
  EXPECT_TRUE((*r2)->DecodeTensor(2, out2.data(), out2.size()).ok());
}

}  // namespace
}  // namespace tqf
