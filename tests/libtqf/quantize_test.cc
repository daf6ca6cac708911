// Tests for the quantizers and f16/bf16 conversions (tqf/quantize.h):
// error bounds on heavy-tailed random data and on the real shared tensors,
// exhaustive f16 round trip, short last blocks, zero rows, NaN rejection.
#include "tqf/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "test_util.h"
#include "tqf/import.h"
#include "tqf/internal/half.h"

namespace tqf {
namespace {

constexpr QuantScheme kQuantSchemes[] = {QuantScheme::kTensorMinMax, QuantScheme::kChannel,
                                         QuantScheme::kBlock32};

// Quantizes, dequantizes, and checks every element against the bound.
void CheckRoundTrip(QuantScheme scheme, const float* x, size_t rows, size_t cols,
                    const std::string& what) {
  SCOPED_TRACE(what + " / " + QuantSchemeName(scheme));
  Result<QuantizedTensor> q = Quantize(scheme, x, rows, cols, 2, DType::kF32, nullptr);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->dtype, DType::kI8);
  ASSERT_EQ(q->data.size(), rows * cols);
  ASSERT_EQ(q->params.size(), NumQuantParams(q->quant, q->quant_block, rows, cols));
  std::vector<float> y(rows * cols);
  ASSERT_TRUE(Dequantize(q->dtype, q->quant, q->quant_block, q->data.data(), rows, cols,
                         q->params.data(), q->params.size(), y.data())
                  .ok());
  size_t failures = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const float bound = QuantErrorBound(q->quant, q->quant_block, q->params.data(), cols, r, c);
      const float err = std::fabs(y[r * cols + c] - x[r * cols + c]);
      if (!(err <= bound) && failures++ < 5) {
        ADD_FAILURE() << "row " << r << " col " << c << ": x=" << x[r * cols + c]
                      << " y=" << y[r * cols + c] << " err=" << err << " bound=" << bound;
      }
    }
  }
  EXPECT_EQ(failures, 0u);
}

std::vector<float> HeavyTailed(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> t(2.0f);  // heavy tails, occasional large outliers
  std::vector<float> v(n);
  for (float& x : v) x = 0.02f * t(rng);
  return v;
}

TEST(Quantize, HeavyTailedRandomWithinBound) {
  const size_t rows = 96, cols = 200;
  std::vector<float> x = HeavyTailed(rows * cols, 7);
  for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, x.data(), rows, cols, "random");
}

TEST(Quantize, OffsetAndConstantTensors) {
  std::vector<float> x(64 * 33);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 1000.0f + 0.001f * static_cast<float>(i % 97);
  for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, x.data(), 64, 33, "offset");
  std::vector<float> c(40 * 40, -3.25f);
  for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, c.data(), 40, 40, "constant");
  std::vector<float> tiny(8 * 8, 1e-44f);  // absmax/127 underflows
  for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, tiny.data(), 8, 8, "subnormal");
  std::vector<float> wide = {-3e38f, 3e38f, 0.0f, 1.0f};
  for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, wide.data(), 2, 2, "wide");
}

TEST(Quantize, Block32ShortLastBlock) {
  const size_t rows = 5, cols = 172;  // 5 full blocks + 12
  std::vector<float> x = HeavyTailed(rows * cols, 3);
  x[31] = 50.0f;  // an outlier only affects its own block
  Result<QuantizedTensor> q =
      Quantize(QuantScheme::kBlock32, x.data(), rows, cols, 2, DType::kF32, nullptr);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->quant, QuantKind::kBlock);
  EXPECT_EQ(q->quant_block, 32u);
  EXPECT_EQ(q->params.size(), rows * 6);
  EXPECT_FLOAT_EQ(q->params[0], 50.0f / 127.0f);
  EXPECT_LT(q->params[1], 1.0f);
  CheckRoundTrip(QuantScheme::kBlock32, x.data(), rows, cols, "172 cols");
}

TEST(Quantize, ExactFormulas) {
  // channel: scale = absmax/127; q = round(x/scale).
  const float x[4] = {-1.27f, 0.5f, 0.0f, 0.0f};
  Result<QuantizedTensor> c = Quantize(QuantScheme::kChannel, x, 2, 2, 2, DType::kF32, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_FLOAT_EQ(c->params[0], 0.01f);
  EXPECT_EQ(static_cast<int8_t>(c->data[0]), -127);
  EXPECT_EQ(static_cast<int8_t>(c->data[1]), 50);
  // tensor-minmax: scale = (max-min)/255, zp = round(-128 - min/scale).
  const float y[4] = {-1.0f, 0.0f, 0.5f, 1.55f};
  Result<QuantizedTensor> m =
      Quantize(QuantScheme::kTensorMinMax, y, 2, 2, 2, DType::kF32, nullptr);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->params.size(), 2u);
  EXPECT_FLOAT_EQ(m->params[0], 2.55f / 255.0f);
  EXPECT_FLOAT_EQ(m->params[1], -28.0f);
  EXPECT_EQ(static_cast<int8_t>(m->data[0]), -128);
  EXPECT_EQ(static_cast<int8_t>(m->data[3]), 127);
}

TEST(Quantize, ZeroRowsDequantizeToZero) {
  std::vector<float> x(4 * 40, 0.0f);
  for (size_t c = 0; c < 40; ++c) x[2 * 40 + c] = 0.1f * static_cast<float>(c) - 2.0f;
  for (QuantScheme s : kQuantSchemes) {
    Result<QuantizedTensor> q = Quantize(s, x.data(), 4, 40, 2, DType::kF32, nullptr);
    ASSERT_TRUE(q.ok());
    std::vector<float> y(x.size(), 1.0f);
    ASSERT_TRUE(Dequantize(q->dtype, q->quant, q->quant_block, q->data.data(), 4, 40,
                           q->params.data(), q->params.size(), y.data())
                    .ok());
    if (s != QuantScheme::kTensorMinMax) {  // symmetric: zero rows are exact
      for (size_t c = 0; c < 40; ++c) EXPECT_EQ(y[c], 0.0f);
      for (float p : q->params) EXPECT_TRUE(std::isfinite(p));
    }
    CheckRoundTrip(s, x.data(), 4, 40, "zero rows");
  }
  std::vector<float> all_zero(10 * 10, 0.0f);
  for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, all_zero.data(), 10, 10, "all zero");
}

TEST(Quantize, RejectsNonFinite) {
  std::vector<float> x(8 * 8, 0.5f);
  x[3 * 8 + 5] = std::numeric_limits<float>::quiet_NaN();
  for (QuantScheme s : kQuantSchemes) {
    Result<QuantizedTensor> q = Quantize(s, x.data(), 8, 8, 2, DType::kF32, nullptr);
    ASSERT_FALSE(q.ok());
    EXPECT_TRUE(q.status().IsInvalidArgument());
    EXPECT_NE(q.status().message().find("row 3, column 5"), std::string::npos)
        << q.status().ToString();
  }
  x[3 * 8 + 5] = -std::numeric_limits<float>::infinity();
  EXPECT_TRUE(Quantize(QuantScheme::kChannel, x.data(), 8, 8, 2, DType::kF32, nullptr)
                  .status()
                  .IsInvalidArgument());
}

TEST(Quantize, RawAndOneDimensional) {
  std::vector<uint16_t> h = {F32ToF16(1.5f), F32ToF16(-2.0f), F32ToF16(0.25f), F32ToF16(8.0f)};
  const float v[4] = {1.5f, -2.0f, 0.25f, 8.0f};
  Result<QuantizedTensor> raw = Quantize(QuantScheme::kRaw, v, 2, 2, 2, DType::kF16,
                                         reinterpret_cast<const uint8_t*>(h.data()));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->dtype, DType::kF16);
  EXPECT_EQ(raw->quant, QuantKind::kNone);
  EXPECT_EQ(std::memcmp(raw->data.data(), h.data(), 8), 0);
  // A 1-D tensor stays F32 whatever the scheme.
  Result<QuantizedTensor> norm = Quantize(QuantScheme::kChannel, v, 1, 4, 1, DType::kF32, nullptr);
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(norm->dtype, DType::kF32);
  EXPECT_TRUE(norm->params.empty());
  std::vector<float> y(4);
  ASSERT_TRUE(
      Dequantize(DType::kF16, QuantKind::kNone, 0, raw->data.data(), 2, 2, nullptr, 0, y.data())
          .ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[i], v[i]);
  EXPECT_TRUE(
      Dequantize(DType::kI8, QuantKind::kChannel, 0, raw->data.data(), 2, 2, nullptr, 0, y.data())
          .IsInvalidArgument());
}

TEST(Quantize, SchemeNames) {
  for (QuantScheme s : {QuantScheme::kRaw, QuantScheme::kTensorMinMax, QuantScheme::kChannel,
                        QuantScheme::kBlock32}) {
    Result<QuantScheme> p = ParseQuantScheme(QuantSchemeName(s));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, s);
  }
  EXPECT_TRUE(ParseQuantScheme("int4").status().IsInvalidArgument());
}

TEST(F16, ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    const uint16_t back = F32ToF16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(F16ToF32(back))) << std::hex << h;
      EXPECT_EQ((h & 0x7C00u), 0x7C00u);
    } else {
      ASSERT_EQ(back, h) << std::hex << h << " -> " << f;
    }
  }
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(F16ToF32(0xFC00)));
}

TEST(F16, RoundsToNearestEven) {
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even (down)
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // rounds to inf
  EXPECT_EQ(F32ToF16(1e10f), 0x7C00);
  EXPECT_EQ(F32ToF16(-1e10f), 0xFC00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(F32ToF16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp tie -> 2
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);  // to normal
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(BF16ToF32(0x3F80), 1.0f);
  EXPECT_EQ(BF16ToF32(0xC040), -3.0f);
}

// The real shared tensors: every 2-D tensor of stories260K and a sample of
// gpt2-attention, all schemes.
void CheckModel(const std::string& rel, size_t max_tensors) {
  const std::string path = testing::SharedPath(rel);
  Result<SourceModel> m = ImportModel(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  size_t done = 0;
  for (const SourceTensor& t : m->tensors) {
    if (t.shape.size() < 2) continue;
    if (done++ >= max_tensors) break;
    std::vector<float> x(t.num_elements());
    ASSERT_TRUE(t.ToF32(x.data()).ok());
    for (QuantScheme s : kQuantSchemes) CheckRoundTrip(s, x.data(), t.rows(), t.cols(), t.name);
  }
  EXPECT_GT(done, 0u);
}

TEST(Quantize, RealStories260KWithinBound) {
  CheckModel("models/stories260K/stories260K.gguf", 1000);
}

TEST(Quantize, RealGpt2AttentionWithinBound) {
  CheckModel("models/gpt2-attention/gpt2-small-attention.safetensors", 6);
}

}  // namespace
}  // namespace tqf
