// Pack round trips on the real shared models: for every quantizer x codec,
// decoded bytes equal exactly what the quantizer produced, and dequantized
// values lie within the quantizer's error bound of the source.
#include "tqf/pack.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "test_util.h"
#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/reader.h"

namespace tqf {
namespace {

using Param = std::tuple<std::string, QuantScheme, std::string>;  // model, quant, codec

class PackRoundTrip : public ::testing::TestWithParam<Param> {};

TEST_P(PackRoundTrip, DecodesExactlyAndWithinQuantBound) {
  const auto& [rel, scheme, codec_name] = GetParam();
  auto model = ImportModel(testing::SharedPath(rel));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const Codec* codec = FindCodecByName(codec_name);
  ASSERT_NE(codec, nullptr) << codec_name;
  PackOptions opt;
  opt.quant = scheme;
  opt.codec = codec;
  const std::string out = testing::TempDir() + "/rt.tqf";
  auto report = PackModel(*model, out, opt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto reader = Reader::Open(out);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ASSERT_EQ((*reader)->tensors().size(), model->tensors.size());
  EXPECT_EQ((*reader)->model().hparams.dim, model->info.hparams.dim);
  EXPECT_EQ((*reader)->model().tokenizer.tokens, model->info.tokenizer.tokens);

  for (size_t i = 0; i < model->tensors.size(); ++i) {
    const SourceTensor& src = model->tensors[i];
    const TensorInfo& t = (*reader)->tensors()[i];
    ASSERT_EQ(t.name, src.name);
    ASSERT_EQ(t.shape, src.shape);
    std::vector<float> values(src.num_elements());
    ASSERT_TRUE(src.ToF32(values.data()).ok());
    // What the quantizer makes of the source is what must come back.
    QuantScheme s = src.shape.size() < 2 ? QuantScheme::kRaw : scheme;
    auto q =
        Quantize(s, values.data(), src.rows(), src.cols(), src.shape.size(), src.dtype, src.data);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    std::vector<uint8_t> decoded(t.raw_size);
    ASSERT_TRUE((*reader)->DecodeTensor(i, decoded.data(), decoded.size()).ok()) << t.name;
    ASSERT_EQ(decoded, q->data) << t.name;
    ASSERT_EQ(t.num_params, q->params.size());
    if (t.num_params > 0) {
      ASSERT_EQ(0, std::memcmp(t.params, q->params.data(), 4 * t.num_params)) << t.name;
    }
    // Dequantized values within the bound.
    std::vector<float> deq(src.num_elements());
    ASSERT_TRUE((*reader)->DecodeTensorF32(i, deq.data(), deq.size()).ok());
    const size_t cols = src.cols();
    size_t worst = 0;
    double worst_excess = 0;
    for (size_t k = 0; k < deq.size(); ++k) {
      float bound = QuantErrorBound(t.quant, t.quant_block, t.params, cols, k / cols, k % cols);
      if (t.dtype == DType::kF16 || t.dtype == DType::kBF16) bound = std::fabs(values[k]) / 256.f;
      double excess = std::fabs(double(deq[k]) - values[k]) - bound;
      if (excess > worst_excess) worst_excess = excess, worst = k;
    }
    EXPECT_LE(worst_excess, 0.0) << t.name << " element " << worst << ": " << deq[worst] << " vs "
                                 << values[worst];
  }
  EXPECT_TRUE((*reader)->Verify().problems.empty());
}

std::string Name(const ::testing::TestParamInfo<Param>& info) {
  std::string m = std::get<0>(info.param);
  m = m.substr(m.rfind('/') + 1);
  std::string n =
      m + "_" + QuantSchemeName(std::get<1>(info.param)) + "_" + std::get<2>(info.param);
  for (char& c : n) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

std::vector<std::string> CodecNames() {
  std::vector<std::string> v;
  for (const Codec* c : ByteCodecs()) v.push_back(c->name());
  return v;
}

const auto kQuants = ::testing::Values(QuantScheme::kRaw, QuantScheme::kTensorMinMax,
                                       QuantScheme::kChannel, QuantScheme::kBlock32);

INSTANTIATE_TEST_SUITE_P(
    Stories260KGguf, PackRoundTrip,
    ::testing::Combine(::testing::Values("models/stories260K/stories260K.gguf"), kQuants,
                       ::testing::ValuesIn(CodecNames())),
    Name);
INSTANTIATE_TEST_SUITE_P(Stories260KLlama2c, PackRoundTrip,
                         ::testing::Combine(::testing::Values("models/stories260K/stories260K.bin"),
                                            kQuants, ::testing::ValuesIn(CodecNames())),
                         Name);
INSTANTIATE_TEST_SUITE_P(
    Gpt2Attention, PackRoundTrip,
    ::testing::Combine(::testing::Values("models/gpt2-attention/gpt2-small-attention.safetensors"),
                       kQuants, ::testing::ValuesIn(CodecNames())),
    Name);

TEST(Pack, RefusesEmptyModelAndLeavesNoFile) {
  SourceModel empty;
  empty.path = "empty";
  const std::string out = testing::TempDir() + "/empty.tqf";
  EXPECT_TRUE(PackModel(empty, out).status().IsInvalidArgument());
  EXPECT_TRUE(Reader::Open(out).status().IsNotFound());
}

// A cancel flag set from the progress callback stops the pack at the next
// tensor with kCancelled, leaving no output (nor temporary file).
TEST(Pack, CancelStopsAndLeavesNoFile) {
  auto model = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (const char* phase : {"analyse", "encode"}) {
    const std::string dir = testing::TempDir() + "/cancel_" + phase;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string out = dir + "/cancelled.tqf";
    std::atomic<bool> cancel{false};
    size_t calls = 0;
    PackOptions options;
    options.cancel = &cancel;
    options.progress = [&](const char* p, size_t done, size_t total) {
      if (std::string(p) == phase && done == 2) cancel.store(true);
      if (cancel.load()) ++calls;
    };
    Result<PackReport> r = PackModel(*model, out, options);
    EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << phase;
    EXPECT_EQ(calls, 1u) << phase;  // no tensor after the one that cancelled
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << phase;
  }
}

}  // namespace
}  // namespace tqf

namespace tqf {
namespace {

// Low-bit schemes through PackModel: what comes back is exactly what the
// quantizer made (scalar schemes: the same codes and params; VQ: codebook
// vectors), dequantized exactly as Dequantize does, and the report's bits
// per weight are those the file shows.
using LowBitParam = std::tuple<std::string, std::string>;  // model, quant spec
class PackLowBit : public ::testing::TestWithParam<LowBitParam> {};

TEST_P(PackLowBit, DecodesExactlyWhatTheQuantizerMade) {
  const auto& [rel, spec_name] = GetParam();
  auto model = ImportModel(testing::SharedPath(rel));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  PackOptions opt;
  opt.quant = *ParseQuantSpec(spec_name);
  opt.vq_samples = 1 << 14;  // keep k-means quick
  opt.vq_iterations = 8;
  const std::string out = testing::TempDir() + "/lowbit.tqf";
  auto report = PackModel(*model, out, opt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto reader = Reader::Open(out);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const Reader& r = **reader;
  EXPECT_EQ(r.file_info().format_minor, 2);
  EXPECT_TRUE(r.Verify().problems.empty());
  const WeightBits w = MeasureWeightBits(r);
  EXPECT_EQ(w.total_bytes(), report->weight_bits.total_bytes());
  EXPECT_EQ(w.weights, report->weight_bits.weights);
  EXPECT_GT(w.bits_per_weight(), 0.5);
  EXPECT_LT(w.bits_per_weight(), 8.0);
  for (size_t i = 0; i < model->tensors.size(); ++i) {
    const SourceTensor& src = model->tensors[i];
    const TensorInfo& t = r.tensors()[i];
    if (src.shape.size() < 2) continue;
    SCOPED_TRACE(t.name);
    EXPECT_FALSE(t.quantizer.empty());
    std::vector<uint8_t> decoded(t.raw_size);
    ASSERT_TRUE(r.DecodeTensor(i, decoded.data(), decoded.size()).ok());
    std::vector<float> params(t.num_params);
    ASSERT_TRUE(r.CopyParams(i, params.data(), params.size()).ok());
    if (t.codebook >= 0) {
      const CodebookInfo& cb = r.codebooks()[t.codebook];
      const uint8_t* vectors = r.data() + cb.offset;
      for (size_t v = 0; v < decoded.size(); v += cb.dim) {
        bool found = false;
        for (uint32_t e = 0; e < cb.entries && !found; ++e) {
          found = std::memcmp(&decoded[v], vectors + e * cb.dim, cb.dim) == 0;
        }
        ASSERT_TRUE(found) << "elements " << v << ".. are no codebook vector";
      }
    } else {
      std::vector<float> values(src.num_elements());
      ASSERT_TRUE(src.ToF32(values.data()).ok());
      auto q = QuantizeWithSpec(*ParseQuantSpec(t.quantizer), values.data(), src.rows(), src.cols(),
                                2, src.dtype, src.data);
      ASSERT_TRUE(q.ok()) << q.status().ToString();
      ASSERT_EQ(decoded, q->data);
      ASSERT_EQ(params, q->params);
    }
    std::vector<float> deq(src.num_elements()), want(src.num_elements());
    ASSERT_TRUE(r.DecodeTensorF32(i, deq.data(), deq.size()).ok());
    ASSERT_TRUE(Dequantize(t.dtype, t.quant, t.quant_block, decoded.data(), src.rows(), src.cols(),
                           params.data(), params.size(), want.data())
                    .ok());
    ASSERT_EQ(deq, want);
  }
}

std::string LowBitName(const ::testing::TestParamInfo<LowBitParam>& info) {
  std::string m = std::get<0>(info.param);
  std::string n = m.substr(m.rfind('/') + 1) + "_" + std::get<1>(info.param);
  for (char& c : n) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(
    Stories260K, PackLowBit,
    ::testing::Combine(::testing::Values("models/stories260K/stories260K.gguf"),
                       ::testing::Values("q4-g32", "q3a-g16", "q2a-row", "nf4-g64", "q6-g128",
                                         "ec3", "ec5.5", "vq4x256-row", "vq8x256-g32",
                                         "vq2x64-row")),
    LowBitName);
INSTANTIATE_TEST_SUITE_P(
    Gpt2Attention, PackLowBit,
    ::testing::Combine(::testing::Values("models/gpt2-attention/gpt2-small-attention.safetensors"),
                       ::testing::Values("q4a-g32", "ec4.25", "vq4x256-row")),
    LowBitName);

// A VQ vector length that does not divide a row (stories260K's ffn_down has
// 172 columns) falls back to one that does, at the same index rate.
TEST(PackLowBit, VqFallsBackWhereRowsAreNotWholeVectors) {
  auto model = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(model.ok());
  PackOptions opt;
  opt.quant = *ParseQuantSpec("vq8x256-row");
  opt.vq_iterations = 4;
  const std::string out = testing::TempDir() + "/vq8.tqf";
  auto report = PackModel(*model, out, opt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const PackedTensorReport& t : report->tensors) {
    if (!t.matrix) continue;
    const bool down = t.name.find("ffn_down") != std::string::npos;
    EXPECT_EQ(QuantSpecName(t.quant), down ? "vq4x16-row" : "vq8x256-row") << t.name;
  }
}

// 8-bit schemes still write format 1.1, without any 1.2 field.
TEST(PackLowBit, EightBitFilesStayFormat11) {
  auto model = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(model.ok());
  const std::string out = testing::TempDir() + "/ch.tqf";
  ASSERT_TRUE(PackModel(*model, out, {}).ok());
  auto r = Reader::Open(out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->file_info().format_minor, 1);
  EXPECT_EQ((*r)->file_info().incompat_flags, 0u);
  for (const TensorInfo& t : (*r)->tensors()) EXPECT_TRUE(t.quantizer.empty());
}

// PackOptions::refine may change codes, scales on their log8 grid and the
// values of f32 vectors, and the file then holds exactly those; anything
// else it changes fails the pack, naming the tensor, and leaves no file.
TEST(PackRefine, StoresWhatTheHookMayChangeAndRefusesTheRest) {
  auto model = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(model.ok());
  enum Change { kNothing, kCodes, kScaleOnGrid, kGains, kScaleOffGrid, kNanGain, kCodeCount };
  for (Change change : {kNothing, kCodes, kScaleOnGrid, kGains, kScaleOffGrid, kNanGain,
                        kCodeCount}) {
    SCOPED_TRACE(int(change));
    PackOptions opt;
    opt.quant = *ParseQuantSpec("q3a-g16");
    std::string low, vec;  // the tensors changed
    std::vector<uint8_t> want_codes;
    std::vector<float> want_params, want_gains;
    size_t offered_vectors = 0;
    opt.refine = [&](const SourceModel&, std::vector<RefinableTensor>* t) -> Status {
      for (RefinableTensor& r : *t) {
        QuantizedTensor& q = *r.quantized;
        if (q.dtype == DType::kF32) {
          ++offered_vectors;
          EXPECT_EQ(r.source->shape.size(), 1u) << r.source->name;
          if (!vec.empty()) continue;
          vec = r.source->name;
          float v;
          std::memcpy(&v, q.data.data(), sizeof(v));
          v = change == kNanGain ? NAN : change == kGains ? v * 1.25f : v;
          std::memcpy(q.data.data(), &v, sizeof(v));
          want_gains.resize(q.data.size() / sizeof(float));
          std::memcpy(want_gains.data(), q.data.data(), q.data.size());
          continue;
        }
        if (!low.empty()) continue;
        low = r.source->name;
        EXPECT_EQ(q.params_format, ParamsFormat::kLog8);
        if (change == kCodes) q.data[0] = uint8_t(int8_t(q.data[0]) == 0 ? 1 : 0);
        const int code = Log8Code(q.log8_base, q.params[0]);
        EXPECT_GT(code, 1);
        if (change == kScaleOnGrid) q.params[0] = Log8Scale(q.log8_base, uint8_t(code - 1));
        if (change == kScaleOffGrid) q.params[0] *= 1.01f;
        if (change == kCodeCount) q.data.pop_back();
        want_codes = q.data;
        want_params = q.params;
      }
      return Status::OK();
    };
    const std::string out = testing::TempDir() + "/refine.tqf";
    auto report = PackModel(*model, out, opt);
    if (change >= kScaleOffGrid) {
      ASSERT_FALSE(report.ok());
      EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
      const std::string named = change == kNanGain ? vec : low;
      EXPECT_NE(report.status().message().find("'" + named + "'"), std::string::npos)
          << report.status().ToString();
      EXPECT_FALSE(std::filesystem::exists(out));
      continue;
    }
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(offered_vectors, 11u);  // stories260K's norms: 2 per layer (5) and the output's
    auto r = Reader::Open(out);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE((*r)->Verify().problems.empty());
    for (size_t i = 0; i < (*r)->tensors().size(); ++i) {
      const TensorInfo& t = (*r)->tensors()[i];
      if (t.name == low) {
        std::vector<uint8_t> codes(t.raw_size);
        ASSERT_TRUE((*r)->DecodeTensor(i, codes.data(), codes.size()).ok());
        std::vector<float> params(t.num_params);
        ASSERT_TRUE((*r)->CopyParams(i, params.data(), params.size()).ok());
        EXPECT_EQ(codes, want_codes);
        EXPECT_EQ(params, want_params);
      } else if (t.name == vec) {
        std::vector<float> gains(want_gains.size());
        ASSERT_TRUE((*r)->DecodeTensorF32(i, gains.data(), gains.size()).ok());
        EXPECT_EQ(gains, want_gains);
      }
    }
  }
}

// A VQ codebook's vectors may change in refine when every tensor using it
// then holds its vectors at its indices; the file holds the new vectors.
// Vectors changed under codes that still hold the old ones, a changed
// number of entries and -128 (outside the quantizers' -127..127) fail.
TEST(PackRefine, CodebookVectorsMayChangeWithTheirCodes) {
  auto model = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(model.ok());
  enum Change { kBookAndCodes, kBookOnly, kEntries, kRange };
  for (Change change : {kBookAndCodes, kBookOnly, kEntries, kRange}) {
    SCOPED_TRACE(int(change));
    PackOptions opt;
    opt.quant = *ParseQuantSpec("vq2x64-row");
    opt.vq_samples = 1 << 12;
    opt.vq_iterations = 4;
    std::vector<int8_t> want, before;
    opt.refine = [&](const SourceModel&, std::vector<RefinableTensor>* t) -> Status {
      VqCodebook* book = nullptr;
      for (RefinableTensor& r : *t) book = r.codebook ? r.codebook : book;
      if (book == nullptr) return Status::NotFound("no codebook offered");
      before = book->vectors;
      // Entry 0's first value moves by one (toward zero), or to -128.
      int8_t& v = book->vectors[0];
      v = change == kRange ? int8_t(-128) : int8_t(v > 0 ? v - 1 : v + 1);
      if (change == kEntries) {
        book->vectors.resize(book->vectors.size() - book->dim);
        --book->entries;
      }
      want = book->vectors;
      if (change == kBookOnly) return Status::OK();
      for (RefinableTensor& r : *t) {
        if (r.codebook != book) continue;
        QuantizedTensor& q = *r.quantized;
        for (size_t i = 0; i < q.vq_indices.size(); ++i) {
          if (q.vq_indices[i] == 0) q.data[i * book->dim] = uint8_t(v);
        }
      }
      return Status::OK();
    };
    const std::string out = testing::TempDir() + "/refine_book.tqf";
    auto report = PackModel(*model, out, opt);
    if (change != kBookAndCodes) {
      ASSERT_FALSE(report.ok());
      EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(report.status().message().find(change == kBookOnly ? "tensor '" : "codebook"),
                std::string::npos)
          << report.status().ToString();
      EXPECT_FALSE(std::filesystem::exists(out));
      continue;
    }
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    auto r = Reader::Open(out);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE((*r)->Verify().problems.empty());
    size_t now = 0, old = 0;  // codebooks of the file holding the new vectors, the old
    for (const CodebookInfo& cb : (*r)->codebooks()) {
      const std::vector<int8_t> held((*r)->data() + cb.offset, (*r)->data() + cb.offset + cb.size);
      now += held == want, old += held == before;
    }
    EXPECT_EQ(now, 1u);
    EXPECT_EQ(old, 0u);
  }
}

}  // namespace
}  // namespace tqf
