// Kernel tests: every SIMD path this CPU supports against the scalar
// reference (int8 exactly, fp32 to rounding), MatMul for every stored form
// against a double-precision reference, and thread-count independence.
#include "tqf/rt/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tqf/internal/half.h"
#include "tqf/quantize.h"

namespace tqf::rt {
namespace {

std::vector<int8_t> RandomI8(std::mt19937* rng, size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(*rng));
  return v;
}

std::vector<float> RandomF32(std::mt19937* rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(*rng);
  return v;
}

TEST(Kernels, ScalarAlwaysSupported) {
  std::vector<KernelPath> paths = SupportedKernelPaths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), KernelPath::kScalar);
  for (KernelPath p : paths) std::printf("kernel path available: %s\n", KernelPathName(p));
  std::printf("default: %s\n", KernelPathName(DefaultKernelOps().path));
}

TEST(Kernels, DotI8MatchesScalarExactly) {
  std::mt19937 rng(1);
  const KernelOps& ref = ScalarKernelOps();
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    for (size_t n : {0, 1, 7, 31, 32, 33, 63, 64, 65, 100, 128, 255, 1000, 2048, 4099}) {
      std::vector<int8_t> a = RandomI8(&rng, n, -128, 127);  // weights may be -128
      std::vector<int8_t> b = RandomI8(&rng, n, -127, 127);
      if (n > 0) {
        a[0] = -128;  // extremes
        b[0] = -127;
      }
      EXPECT_EQ(ops.dot_i8(a.data(), b.data(), n), ref.dot_i8(a.data(), b.data(), n))
          << KernelPathName(p) << " n=" << n;
      for (size_t block : {32, 17, 64}) {
        const size_t nb = (n + block - 1) / block;
        std::vector<int32_t> got(nb + 1, 7), want(nb + 1, 7);
        ops.dot_i8_blocks(a.data(), b.data(), n, block, got.data());
        ref.dot_i8_blocks(a.data(), b.data(), n, block, want.data());
        EXPECT_EQ(got, want) << KernelPathName(p) << " n=" << n << " block=" << block;
      }
    }
  }
}

TEST(Kernels, DotFloatMatchesScalarToRounding) {
  std::mt19937 rng(2);
  const KernelOps& ref = ScalarKernelOps();
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    for (size_t n : {0, 1, 5, 8, 15, 16, 17, 31, 32, 33, 100, 1000, 2048, 4097}) {
      std::vector<float> a = RandomF32(&rng, n), b = RandomF32(&rng, n);
      std::vector<uint16_t> h(n), bf(n);
      double mag = 0.0;
      for (size_t i = 0; i < n; ++i) {
        h[i] = F32ToF16(a[i]);
        uint32_t bits;
        std::memcpy(&bits, &a[i], 4);
        bf[i] = static_cast<uint16_t>(bits >> 16);
        mag += std::fabs(a[i] * b[i]);
      }
      const double tol = 1e-5 * mag + 1e-6;
      EXPECT_NEAR(ops.dot_f32(a.data(), b.data(), n), ref.dot_f32(a.data(), b.data(), n), tol)
          << KernelPathName(p) << " n=" << n;
      EXPECT_NEAR(ops.dot_f16(h.data(), b.data(), n), ref.dot_f16(h.data(), b.data(), n), tol)
          << KernelPathName(p) << " n=" << n;
      EXPECT_NEAR(ops.dot_bf16(bf.data(), b.data(), n), ref.dot_bf16(bf.data(), b.data(), n), tol)
          << KernelPathName(p) << " n=" << n;
    }
  }
}

TEST(Kernels, QuantizeActivationsRoundTrips) {
  std::mt19937 rng(3);
  const size_t n = 3, cols = 70, block = 32, nb = 3;
  std::vector<float> x = RandomF32(&rng, n * cols, 2.0f);
  std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f);  // an all-zero row
  std::vector<int8_t> q(n * cols);
  std::vector<float> scales(n * nb);
  std::vector<int32_t> sums(n);
  QuantizeActivations(x.data(), n, cols, block, q.data(), scales.data(), sums.data());
  for (size_t t = 0; t < n; ++t) {
    int32_t sum = 0;
    for (size_t i = 0; i < cols; ++i) {
      const float s = scales[t * nb + i / block];
      EXPECT_GE(q[t * cols + i], -127);
      EXPECT_LE(std::fabs(q[t * cols + i] * s - x[t * cols + i]), s * 0.5f + 1e-6f);
      sum += q[t * cols + i];
    }
    EXPECT_EQ(sum, sums[t]);
  }
  for (size_t i = cols; i < 2 * cols; ++i) EXPECT_EQ(q[i], 0);
}

// A quantized (or raw) weight matrix with its own storage.
struct TestWeight {
  QuantizedTensor qt;
  WeightView view;
};

TestWeight MakeWeight(QuantScheme scheme, DType raw_type, const std::vector<float>& w, size_t rows,
                      size_t cols) {
  TestWeight tw;
  std::vector<uint8_t> src;
  if (raw_type == DType::kF16 || raw_type == DType::kBF16) {
    src.resize(w.size() * 2);
    for (size_t i = 0; i < w.size(); ++i) {
      uint16_t h;
      if (raw_type == DType::kF16) {
        h = F32ToF16(w[i]);
      } else {
        uint32_t bits;
        std::memcpy(&bits, &w[i], 4);
        h = static_cast<uint16_t>(bits >> 16);
      }
      std::memcpy(&src[2 * i], &h, 2);
    }
  }
  Result<QuantizedTensor> q =
      Quantize(scheme, w.data(), rows, cols, 2, raw_type, src.empty() ? nullptr : src.data());
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  tw.qt = std::move(q).value();
  tw.view.dtype = tw.qt.dtype;
  tw.view.quant = tw.qt.quant;
  tw.view.quant_block = tw.qt.quant_block;
  tw.view.rows = rows;
  tw.view.cols = cols;
  tw.view.data = tw.qt.data.data();
  tw.view.params = tw.qt.params.data();
  tw.view.num_params = tw.qt.params.size();
  return tw;
}

struct Form {
  const char* name;
  QuantScheme scheme;
  DType raw_type;
};

const Form kForms[] = {{"f32", QuantScheme::kRaw, DType::kF32},
                       {"f16", QuantScheme::kRaw, DType::kF16},
                       {"bf16", QuantScheme::kRaw, DType::kBF16},
                       {"tensor-minmax", QuantScheme::kTensorMinMax, DType::kF32},
                       {"channel", QuantScheme::kChannel, DType::kF32},
                       {"block32", QuantScheme::kBlock32, DType::kF32}};

// MatMul against double precision over the dequantized weights. For int8
// forms the activations are quantized too, so the bound adds, per output,
// sum_j |w_j| * (activation step / 2) (the activation rounding error).
TEST(Kernels, MatMulEveryFormEveryPath) {
  std::mt19937 rng(4);
  for (const Form& form : kForms) {
    for (size_t cols : {64, 70, 172}) {  // 70, 172: short last block of 32
      const size_t rows = 37, n = 5;
      std::vector<float> wf = RandomF32(&rng, rows * cols, 0.1f);
      wf[3] = 0.9f;  // an outlier
      std::vector<float> x = RandomF32(&rng, n * cols);
      TestWeight tw = MakeWeight(form.scheme, form.raw_type, wf, rows, cols);
      std::string why;
      ASSERT_TRUE(ValidateWeightView(tw.view, &why)) << form.name << ": " << why;
      std::vector<float> deq(rows * cols);
      for (size_t r = 0; r < rows; ++r) DequantizeRow(tw.view, r, &deq[r * cols]);
      std::vector<float> first;
      for (KernelPath p : SupportedKernelPaths()) {
        MatMulScratch scratch;
        std::vector<float> y(n * rows, -1.0f);
        MatMul(GetKernelOps(p), tw.view, x.data(), n, y.data(), &scratch, 2);
        for (size_t t = 0; t < n; ++t) {
          float amax = 0.0f;
          for (size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[t * cols + c]));
          for (size_t r = 0; r < rows; ++r) {
            double want = 0.0, wabs = 0.0;
            for (size_t c = 0; c < cols; ++c) {
              want += double(deq[r * cols + c]) * x[t * cols + c];
              wabs += std::fabs(deq[r * cols + c]);
            }
            const bool i8 = tw.view.dtype == DType::kI8;
            const double tol = (i8 ? wabs * amax / 127.0 * 0.5 : 0.0) + 1e-4 * (wabs * amax) + 1e-5;
            ASSERT_NEAR(y[t * rows + r], want, tol) << form.name << " " << KernelPathName(p)
                                                    << " cols=" << cols << " t=" << t << " r=" << r;
          }
        }
        if (tw.view.dtype == DType::kI8) {  // int8 results agree bit for bit
          if (first.empty()) {
            first = y;
          } else {
            ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * 4))
                << form.name << " " << KernelPathName(p) << " differs from scalar";
          }
        }
      }
    }
  }
}

TEST(Kernels, MatMulIndependentOfThreadCountAndBatch) {
  std::mt19937 rng(5);
  const size_t rows = 301, cols = 256, n = 7;
  std::vector<float> wf = RandomF32(&rng, rows * cols, 0.05f);
  std::vector<float> x = RandomF32(&rng, n * cols);
  for (const Form& form : kForms) {
    TestWeight tw = MakeWeight(form.scheme, form.raw_type, wf, rows, cols);
    MatMulScratch scratch;
    std::vector<float> y1(n * rows), y3(n * rows), yseq(n * rows);
    MatMul(DefaultKernelOps(), tw.view, x.data(), n, y1.data(), &scratch, 1);
    MatMul(DefaultKernelOps(), tw.view, x.data(), n, y3.data(), &scratch, 3);
    for (size_t t = 0; t < n; ++t) {  // one token at a time, as in generation
      MatMul(DefaultKernelOps(), tw.view, &x[t * cols], 1, &yseq[t * rows], &scratch, 2);
    }
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << form.name;
    EXPECT_EQ(0, std::memcmp(y1.data(), yseq.data(), y1.size() * 4)) << form.name;
  }
}

TEST(Kernels, ValidateWeightViewRejectsBadForms) {
  float params[2] = {1.0f, 0.0f};
  uint8_t data[16] = {0};
  WeightView w;
  w.rows = 4;
  w.cols = 4;
  w.data = data;
  w.dtype = DType::kI8;
  w.quant = QuantKind::kNone;
  std::string why;
  EXPECT_FALSE(ValidateWeightView(w, &why));
  w.quant = QuantKind::kChannel;
  w.params = params;
  w.num_params = 2;
  EXPECT_FALSE(ValidateWeightView(w, &why));
  EXPECT_NE(why.find("expected 4"), std::string::npos) << why;
  w.quant = QuantKind::kTensorMinMax;
  EXPECT_TRUE(ValidateWeightView(w, &why)) << why;
  params[0] = NAN;
  EXPECT_FALSE(ValidateWeightView(w, &why));
  w.dtype = DType::kQ8_0;
  EXPECT_FALSE(ValidateWeightView(w, &why));
}

TEST(Kernels, SmallOps) {
  float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 2}, out[4];
  RmsNorm(x, w, 4, 1e-5f, out);
  const float inv = 1.0f / std::sqrt(7.5f + 1e-5f);
  EXPECT_FLOAT_EQ(out[0], inv);
  EXPECT_FLOAT_EQ(out[3], 8 * inv);
  float s[3] = {1000.0f, 1000.0f, -1000.0f};
  Softmax(s, 3);
  EXPECT_FLOAT_EQ(s[0], 0.5f);
  EXPECT_FLOAT_EQ(s[2], 0.0f);
  float a[2] = {0.0f, 2.0f}, b[2] = {5.0f, 1.0f};
  SwiGlu(a, b, 2);
  EXPECT_FLOAT_EQ(a[0], 0.0f);
  EXPECT_NEAR(a[1], 2.0f / (1.0f + std::exp(-2.0f)), 1e-6);
}

}  // namespace
}  // namespace tqf::rt
