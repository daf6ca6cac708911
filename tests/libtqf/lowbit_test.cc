// The low-bit quantizers (format 1.2): scheme names, the log8 scale grid,
// and each scheme's error against what its bit rate allows, with and
// without GPTQ.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "tqf/quantize.h"

namespace tqf {
namespace {

std::vector<float> Gaussian(size_t n, uint64_t seed, float sigma = 0.02f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Result<std::vector<float>> Dequantized(const QuantizedTensor& q, size_t rows, size_t cols) {
  std::vector<float> back(rows * cols);
  TQF_RETURN_IF_ERROR(Dequantize(q.dtype, q.quant, q.quant_block, q.data.data(), rows, cols,
                                 q.params.data(), q.params.size(), back.data()));
  return back;
}

// ||W - W'|| / ||W|| after quantizing and dequantizing with `spec`.
double RelativeError(const QuantSpec& spec, const std::vector<float>& w, size_t rows, size_t cols,
                     const QuantizeInput& in = {}) {
  auto q = QuantizeWithSpec(spec, w.data(), rows, cols, 2, DType::kF32, nullptr, in);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  if (!q.ok()) return 1e9;
  auto back = Dequantized(*q, rows, cols);
  EXPECT_TRUE(back.ok());
  double num = 0, den = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    num += double(w[i] - (*back)[i]) * (w[i] - (*back)[i]);
    den += double(w[i]) * w[i];
  }
  return std::sqrt(num / den);
}

// sum over rows of d H d^T for d = W - W'.
double OutputError(const QuantizedTensor& q, const std::vector<float>& w, size_t rows, size_t cols,
                   const std::vector<float>& h) {
  auto back = Dequantized(q, rows, cols);
  EXPECT_TRUE(back.ok());
  double e = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < cols; ++i) {
      const double di = w[r * cols + i] - (*back)[r * cols + i];
      for (size_t j = 0; j < cols; ++j) {
        e += di * h[i * cols + j] * (w[r * cols + j] - (*back)[r * cols + j]);
      }
    }
  }
  return e;
}

double Entropy(const std::vector<uint8_t>& codes) {
  std::map<uint8_t, double> n;
  for (uint8_t c : codes) n[c]++;
  double h = 0;
  for (auto& [c, k] : n) h -= k / codes.size() * std::log2(k / codes.size());
  return h;
}

TEST(QuantSpecNames, RoundTripAndRefuse) {
  for (const char* name : {"raw", "channel", "block32", "tensor-minmax", "q2-g16", "q3a-g32",
                           "q4-row", "q6a-g256", "nf4-g32", "nf4-row", "ec1", "ec3.5", "ec7.5",
                           "vq2x16-row", "vq4x256-g64", "vq8x256-row"}) {
    auto s = ParseQuantSpec(name);
    ASSERT_TRUE(s.ok()) << name << ": " << s.status().ToString();
    EXPECT_EQ(QuantSpecName(*s), name);
  }
  EXPECT_EQ(QuantSpecName(*ParseQuantSpec("q4")), "q4-g32");  // default group
  for (const char* bad : {"", "q1-g32", "q7", "q4-g15", "q4-g512", "q4-g24", "nf3", "ec0.5", "ec8",
                          "ecx", "vq3x16", "vq4x8", "vq4x257", "vq4", "q4b", "int4"}) {
    EXPECT_TRUE(ParseQuantSpec(bad).status().IsInvalidArgument()) << bad;
  }
}

TEST(Log8, GridIsExactAndInvertible) {
  const float base = 0.0123f;
  EXPECT_EQ(Log8Scale(base, 0), 0.0f);
  EXPECT_EQ(Log8Scale(base, 128), base);  // 2^0 * frac16[0] = 1
  EXPECT_EQ(Log8Scale(base, 144), 2 * base);
  for (int c = 1; c < 256; ++c) {
    const float s = Log8Scale(base, static_cast<uint8_t>(c));
    EXPECT_EQ(Log8Code(base, s), c);
    EXPECT_EQ(NearestLog8Code(base, s), c);
    if (c > 1) {
      const double ratio = s / Log8Scale(base, static_cast<uint8_t>(c - 1));
      EXPECT_NEAR(ratio, std::exp2(1.0 / 16), 1e-6) << c;
    }
  }
  EXPECT_EQ(Log8Code(base, 0.5f * (Log8Scale(base, 100) + Log8Scale(base, 101))), -1);
  EXPECT_EQ(NearestLog8Code(base, 1e9f), 255);
  EXPECT_EQ(NearestLog8Code(base, 1e-9f), 1);
}

TEST(Log8, ParamsRoundTripAndBadInput) {
  const float base = 0.5f;
  std::vector<float> p = {0.0f, Log8Scale(base, 1), Log8Scale(base, 200), Log8Scale(base, 255)};
  std::vector<uint8_t> stored;
  ASSERT_TRUE(EncodeParams(ParamsFormat::kLog8, base, p.data(), p.size(), &stored).ok());
  EXPECT_EQ(stored.size(), ParamsBytes(ParamsFormat::kLog8, p.size()));
  std::vector<float> back(p.size());
  ASSERT_TRUE(
      DecodeParams(ParamsFormat::kLog8, stored.data(), stored.size(), back.data(), back.size())
          .ok());
  EXPECT_EQ(back, p);
  // Off-grid values are refused, naming the element.
  std::vector<float> off = {0.3f};
  Status s = EncodeParams(ParamsFormat::kLog8, base, off.data(), 1, &stored);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  // Wrong sizes and bases outside [2^-100, 2^100] are corruption.
  std::vector<uint8_t> bad = stored;
  EXPECT_TRUE(
      DecodeParams(ParamsFormat::kLog8, bad.data(), bad.size() - 1, back.data(), back.size())
          .IsCorruption());
  for (float b : {0.0f, -1.0f, 0x1p-101f, 0x1p101f, INFINITY, NAN}) {
    std::memcpy(bad.data(), &b, 4);
    EXPECT_TRUE(
        DecodeParams(ParamsFormat::kLog8, bad.data(), 4 + back.size(), back.data(), back.size())
            .IsCorruption())
        << b;
  }
}

// Round-to-nearest errors on Gaussian weights: what each rate allows (the
// bounds are ~10% above the values measured when this was written; an
// ideal Gaussian quantizer at b bits: 2-bit Lloyd-Max 0.34, 4-bit 0.095).
TEST(LowBit, ErrorsOnGaussianWeights) {
  const size_t rows = 96, cols = 256;
  const std::vector<float> w = Gaussian(rows * cols, 7);
  const std::map<std::string, double> bound = {
      {"q6-g32", 0.025},  {"q5-g32", 0.048}, {"q4-g32", 0.095}, {"q4a-g32", 0.085},
      {"nf4-g32", 0.086}, {"q3-g32", 0.20},  {"q3a-g32", 0.18}, {"q2-g32", 0.41},
      {"q2a-g32", 0.37},  {"q4-row", 0.115}, {"ec4", 0.082},    {"ec3", 0.167},
      {"ec2", 0.345}};
  for (const auto& [name, limit] : bound) {
    EXPECT_LE(RelativeError(*ParseQuantSpec(name), w, rows, cols), limit) << name;
  }
}

TEST(LowBit, CodesStayOnTheirGrid) {
  const size_t rows = 40, cols = 172;  // rows not a multiple of the group
  const std::vector<float> w = Gaussian(rows * cols, 11);
  for (int bits = 2; bits <= 6; ++bits) {
    for (const char* grid : {"", "a"}) {
      const std::string name = "q" + std::to_string(bits) + grid + "-g32";
      auto q =
          QuantizeWithSpec(*ParseQuantSpec(name), w.data(), rows, cols, 2, DType::kF32, nullptr);
      ASSERT_TRUE(q.ok()) << name << ": " << q.status().ToString();
      EXPECT_EQ(q->quant, QuantKind::kBlock);
      EXPECT_EQ(q->params.size(), rows * 6);  // ceil(172 / 32) groups per row
      EXPECT_EQ(q->params_format, ParamsFormat::kLog8);
      for (size_t r = 0; r < rows; ++r) {
        for (size_t g = 0; g < 6; ++g) {
          std::set<int> levels;
          for (size_t c = g * 32; c < std::min(cols, g * 32 + 32); ++c) {
            levels.insert(static_cast<int8_t>(q->data[r * cols + c]));
          }
          const int span = *levels.rbegin() - *levels.begin();
          EXPECT_LT(span, 1 << bits) << name << " row " << r << " group " << g;
          if (grid[0] == '\0') {
            EXPECT_GE(*levels.begin(), -(1 << (bits - 1)));
            EXPECT_LT(*levels.rbegin(), 1 << (bits - 1));
          }
        }
      }
      // Every scale is on the log8 grid of its base (storable in a byte).
      std::vector<uint8_t> stored;
      EXPECT_TRUE(
          EncodeParams(q->params_format, q->log8_base, q->params.data(), q->params.size(), &stored)
              .ok())
          << name;
    }
  }
}

TEST(LowBit, EntropyConstrainedHitsItsRate) {
  const size_t rows = 128, cols = 256;
  std::vector<float> w = Gaussian(rows * cols, 3);
  w[5 * cols + 7] = 5.0f;  // an outlier row: its step must grow, not clip
  for (double bits : {2.0, 3.5, 5.0}) {
    QuantSpec s(QuantScheme::kEntropy);
    s.entropy_bits = bits;
    auto q = QuantizeWithSpec(s, w.data(), rows, cols, 2, DType::kF32, nullptr);
    ASSERT_TRUE(q.ok());
    EXPECT_NEAR(Entropy(q->data), bits, 0.06) << bits;
    EXPECT_EQ(q->quant, QuantKind::kChannel);  // the outlier row needed its own step
    auto back = Dequantized(*q, rows, cols);
    ASSERT_TRUE(back.ok());
    EXPECT_NEAR((*back)[5 * cols + 7], 5.0f, 0.03f) << "outlier clipped at " << bits << " bits";
  }
  // Without outliers one f32 step is stored.
  const std::vector<float> plain = Gaussian(rows * cols, 4);
  auto q =
      QuantizeWithSpec(*ParseQuantSpec("ec3"), plain.data(), rows, cols, 2, DType::kF32, nullptr);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->quant, QuantKind::kTensorMinMax);
  EXPECT_EQ(q->params.size(), 2u);
  EXPECT_EQ(q->params[1], 0.0f);
}

// A Hessian with strongly correlated inputs (as activations are): GPTQ must
// give less output error than rounding to nearest, for every scheme.
TEST(LowBit, GptqLowersTheOutputError) {
  const size_t rows = 64, cols = 64, n = 512;
  const std::vector<float> w = Gaussian(rows * cols, 21);
  std::vector<float> x = Gaussian(n * cols, 22, 1.0f);
  for (size_t t = 0; t < n; ++t) {
    for (size_t c = 1; c < cols; ++c)
      x[t * cols + c] = 0.8f * x[t * cols + c - 1] + 0.6f * x[t * cols + c];
  }
  std::vector<float> h(cols * cols, 0.0f);
  for (size_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < cols; ++i) {
      for (size_t j = 0; j < cols; ++j) h[i * cols + j] += x[t * cols + i] * x[t * cols + j];
    }
  }
  std::vector<float> vx, vw;
  const QuantSpec vq = *ParseQuantSpec("vq4x64-row");
  VqTrainingVectors(vq, w.data(), rows, cols, nullptr, 1, &vx, &vw);
  const VqCodebook cb = TrainVqCodebook(vx.data(), vw.data(), vw.size(), 4, 64, 20, 1);
  for (const char* name : {"q3-g32", "q3a-g16", "nf4-g32", "ec2.5", "vq4x64-row"}) {
    QuantizeInput rtn;
    rtn.codebook = &cb;
    QuantizeInput gptq = rtn;
    gptq.hessian = h.data();
    auto a =
        QuantizeWithSpec(*ParseQuantSpec(name), w.data(), rows, cols, 2, DType::kF32, nullptr, rtn);
    auto b = QuantizeWithSpec(*ParseQuantSpec(name), w.data(), rows, cols, 2, DType::kF32, nullptr,
                              gptq);
    ASSERT_TRUE(a.ok() && b.ok()) << name;
    const double ea = OutputError(*a, w, rows, cols, h), eb = OutputError(*b, w, rows, cols, h);
    EXPECT_LT(eb, 0.8 * ea) << name << ": GPTQ " << eb << " vs round-to-nearest " << ea;
  }
}

TEST(LowBit, VqCodesAreCodebookVectors) {
  const size_t rows = 256, cols = 256;
  const std::vector<float> w = Gaussian(rows * cols, 9);
  const std::map<std::string, double> bound = {{"vq2x16-row", 0.36},
                                               {"vq2x256-row", 0.096},
                                               {"vq4x256-row", 0.33},
                                               {"vq4x256-g32", 0.33},
                                               {"vq8x256-row", 0.58}};
  for (const auto& [name, limit] : bound) {
    const QuantSpec spec = *ParseQuantSpec(name);
    std::vector<float> x, wt;
    VqTrainingVectors(spec, w.data(), rows, cols, nullptr, 1, &x, &wt);
    const VqCodebook cb =
        TrainVqCodebook(x.data(), wt.data(), wt.size(), spec.vq_dim, spec.vq_entries, 30, 1);
    QuantizeInput in;
    in.codebook = &cb;
    EXPECT_LE(RelativeError(spec, w, rows, cols, in), limit) << name;
    auto q = QuantizeWithSpec(spec, w.data(), rows, cols, 2, DType::kF32, nullptr, in);
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->vq_indices.size(), rows * cols / spec.vq_dim);
    for (size_t v = 0; v < q->vq_indices.size(); ++v) {
      ASSERT_LT(q->vq_indices[v], spec.vq_entries);
      ASSERT_EQ(0, std::memcmp(&q->data[v * spec.vq_dim],
                               &cb.vectors[q->vq_indices[v] * spec.vq_dim], spec.vq_dim))
          << name << " vector " << v;
    }
  }
}

TEST(LowBit, RefusesWhatCannotWork) {
  std::vector<float> w = Gaussian(8 * 64, 1);
  // VQ without a codebook, or with rows that are not whole vectors.
  EXPECT_TRUE(
      QuantizeWithSpec(*ParseQuantSpec("vq4x16-row"), w.data(), 8, 64, 2, DType::kF32, nullptr)
          .status()
          .IsInvalidArgument());
  std::vector<float> x, wt;
  VqTrainingVectors(*ParseQuantSpec("vq8x16-row"), w.data(), 8, 64, nullptr, 1, &x, &wt);
  VqCodebook cb = TrainVqCodebook(x.data(), wt.data(), wt.size(), 8, 16, 5, 1);
  QuantizeInput in;
  in.codebook = &cb;
  EXPECT_TRUE(
      QuantizeWithSpec(*ParseQuantSpec("vq8x16-row"), w.data(), 8, 60, 2, DType::kF32, nullptr, in)
          .status()
          .IsInvalidArgument());
  // Non-finite values, naming the element.
  w[70] = NAN;
  Status s = QuantizeWithSpec(*ParseQuantSpec("q4-g32"), w.data(), 8, 64, 2, DType::kF32, nullptr)
                 .status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("70"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace tqf
