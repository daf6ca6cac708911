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
  for (const Codec* c : AllCodecs()) v.push_back(c->name());
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
