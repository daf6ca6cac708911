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

// A path's vectorized activation quantizer gives QuantizeActivations'
// bytes, scales and sums, ties included (127 / amax = 1 below, so x.5
// values land exactly halfway and must round to even), and for zero
// blocks, NaN and infinities.
TEST(Kernels, QuantizeI8MatchesScalar) {
  std::mt19937 rng(12);
  int checked = 0;
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.quantize_i8 == nullptr) continue;
    for (size_t cols : {1, 15, 16, 70, 172, 2048}) {
      for (size_t block : {size_t{16}, size_t{32}, cols}) {
        std::vector<float> x = RandomF32(&rng, cols, 40.0f);
        for (size_t i = 0; i < cols; i += 3) x[i] = std::round(x[i]) + 0.5f;  // ties
        for (size_t b = 0; b < cols; b += block) x[b] = 127.0f;  // amax 127 in every block
        if (cols >= 64) {  // a block of zeros, NaN and infinities (as a broken model makes)
          std::fill(x.begin(), x.begin() + std::min<size_t>(block, 16), 0.0f);
          x[cols - 2] = std::nanf("");
          x[cols / 2] = -INFINITY;
          x[cols / 3] = std::nanf("");
        }
        const size_t nb = (cols + block - 1) / block;
        std::vector<int8_t> want_q(cols), got_q(cols);
        std::vector<float> want_s(nb), got_s(nb);
        int32_t want_sum = 0;
        QuantizeActivations(x.data(), 1, cols, block, want_q.data(), want_s.data(), &want_sum);
        const int32_t got_sum = ops.quantize_i8(x.data(), cols, block, got_q.data(), got_s.data());
        ASSERT_EQ(want_q, got_q) << KernelPathName(p) << " cols " << cols << " block " << block;
        ASSERT_EQ(0, std::memcmp(want_s.data(), got_s.data(), nb * 4));
        ASSERT_EQ(want_sum, got_sum);
        ++checked;
      }
    }
  }
  if (DefaultKernelOps().quantize_i8 != nullptr) {
    EXPECT_GT(checked, 0);
  }
  // One NaN at each lane of a vector: where it lands decides whether a
  // careless vector max keeps it (the scalar max always skips it).
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.quantize_i8 == nullptr) continue;
    for (size_t cols : {5, 16, 40}) {
      for (size_t at = 0; at < cols; ++at) {
        std::vector<float> x(cols);
        for (size_t i = 0; i < cols; ++i) x[i] = 0.1f * static_cast<float>(i + 1);
        x[at] = std::nanf("");
        std::vector<int8_t> want_q(cols), got_q(cols);
        std::vector<float> want_s(4), got_s(4);
        int32_t want_sum = 0;
        QuantizeActivations(x.data(), 1, cols, 16, want_q.data(), want_s.data(), &want_sum);
        const int32_t got_sum = ops.quantize_i8(x.data(), cols, 16, got_q.data(), got_s.data());
        ASSERT_EQ(want_q, got_q) << KernelPathName(p) << " cols " << cols << " NaN at " << at;
        ASSERT_EQ(0, std::memcmp(want_s.data(), got_s.data(), (cols + 15) / 16 * 4));
        ASSERT_EQ(want_sum, got_sum);
      }
    }
  }
}

// Attention's weighted sum of values is the same on every path, bit for
// bit (mul then add in the scalar order), for head sizes under, at and
// over the vector width.
TEST(Kernels, WeightedSumMatchesScalarExactly) {
  std::mt19937 rng(13);
  for (size_t dim : {1, 16, 63, 64, 70, 128}) {
    for (size_t count : {1, 2, 37, 300}) {
      const size_t stride = dim + 5;
      std::vector<float> a = RandomF32(&rng, count), v = RandomF32(&rng, count * stride);
      std::vector<float> want(dim + 1, -7.0f);
      ScalarKernelOps().weighted_sum_f32(a.data(), v.data(), count, stride, dim, want.data());
      for (size_t i = 0; i < dim; ++i) {  // the scalar path is the plain loop
        float ref = 0.0f;
        for (size_t p = 0; p < count; ++p) ref += a[p] * v[p * stride + i];
        ASSERT_EQ(ref, want[i]);
      }
      ASSERT_EQ(want[dim], -7.0f);  // nothing written past dim
      for (KernelPath p : SupportedKernelPaths()) {
        std::vector<float> got(dim + 1, -7.0f);
        GetKernelOps(p).weighted_sum_f32(a.data(), v.data(), count, stride, dim, got.data());
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), (dim + 1) * 4))
            << KernelPathName(p) << " dim " << dim << " count " << count;
      }
    }
  }
}

// Attention scores for many positions at once equal the path's own
// dot_f32 per position, bit for bit (the AVX-512 path reduces 16 positions
// together in dot_f32's order), for head sizes under, at and over 16 and
// position counts around multiples of 16.
TEST(Kernels, ScoresMatchDotPerPosition) {
  std::mt19937 rng(14);
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    for (size_t dim : {1, 15, 16, 33, 64, 128}) {
      for (size_t count : {1, 15, 16, 17, 100}) {
        const size_t stride = dim + 3;
        std::vector<float> q = RandomF32(&rng, dim), k = RandomF32(&rng, count * stride);
        std::vector<float> got(count + 1, -7.0f);
        ops.scores_f32(q.data(), k.data(), count, stride, dim, 0.125f, got.data());
        for (size_t i = 0; i < count; ++i) {
          const float want = ops.dot_f32(q.data(), &k[i * stride], dim) * 0.125f;
          ASSERT_EQ(0, std::memcmp(&want, &got[i], 4))
              << KernelPathName(p) << " dim " << dim << " count " << count << " p " << i;
        }
        ASSERT_EQ(got[count], -7.0f);  // nothing written past count
      }
    }
  }
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

// Counting wrappers around a path's tile kernels: proof that MatMul took
// the tiles rather than its loop.
const KernelOps* g_counted = nullptr;
int g_tile_calls = 0;
void CountedTile(const int8_t* const* w, const uint8_t* const* x, size_t n, int32_t* out) {
  ++g_tile_calls;
  g_counted->dot_i8_tile(w, x, n, out);
}
void CountedBlockTile(const int8_t* const* w, const uint8_t* const* x, size_t n, size_t block,
                      const float* wscale, const int32_t* wsum, const float* xscale, float* out) {
  ++g_tile_calls;
  g_counted->matmul_i8_block_tile(w, x, n, block, wscale, wsum, xscale, out);
}

struct IntForm {
  QuantKind quant;
  uint32_t block;
};

// An int8 WeightView over `q` with random scales of the form's layout.
WeightView IntWeight(const IntForm& f, const std::vector<int8_t>& q, size_t rows, size_t cols,
                     std::mt19937* rng, std::vector<float>* params) {
  WeightView w;
  w.dtype = DType::kI8;
  w.quant = f.quant;
  w.quant_block = f.block;
  w.rows = rows;
  w.cols = cols;
  w.data = reinterpret_cast<const uint8_t*>(q.data());
  const size_t nb = f.block ? (cols + f.block - 1) / f.block : 1;
  if (f.quant == QuantKind::kTensorMinMax) {
    *params = {0.01f, 3.0f};
  } else {
    *params = RandomF32(rng, f.quant == QuantKind::kBlock ? rows * nb : rows, 0.01f);
  }
  w.params = params->data();
  w.num_params = params->size();
  return w;
}

// MatMul through `tiles` (counted), through the same path without its
// tiles, and through the scalar path: all three bit for bit.
void ExpectTilesMatchLoop(const KernelOps& tiles, const WeightView& w, const std::vector<float>& x,
                          size_t n, const std::string& where) {
  KernelOps counted = tiles, no_tiles = tiles;
  g_counted = &tiles;
  if (tiles.dot_i8_tile) counted.dot_i8_tile = CountedTile;
  if (tiles.matmul_i8_block_tile) counted.matmul_i8_block_tile = CountedBlockTile;
  no_tiles.dot_i8_tile = nullptr;
  no_tiles.matmul_i8_block_tile = nullptr;
  std::vector<float> tiled(n * w.rows), loop(n * w.rows), scalar(n * w.rows);
  MatMulScratch s;
  const int before = g_tile_calls;
  MatMul(counted, w, x.data(), n, tiled.data(), &s, 2);
  const bool tileable =
      w.quant == QuantKind::kBlock
          ? tiles.matmul_i8_block_tile != nullptr &&
                (w.quant_block == 16 || w.quant_block == 32 || w.quant_block >= 64)
          : tiles.dot_i8_tile != nullptr;
  EXPECT_EQ(g_tile_calls > before, tileable) << where;
  MatMul(no_tiles, w, x.data(), n, loop.data(), &s, 3);
  MatMul(ScalarKernelOps(), w, x.data(), n, scalar.data(), &s, 1);
  ASSERT_EQ(0, std::memcmp(tiled.data(), loop.data(), tiled.size() * 4)) << where;
  ASSERT_EQ(0, std::memcmp(tiled.data(), scalar.data(), tiled.size() * 4)) << where;
}

const IntForm kIntForms[] = {{QuantKind::kChannel, 0}, {QuantKind::kTensorMinMax, 0},
                             {QuantKind::kBlock, 16},  {QuantKind::kBlock, 32},
                             {QuantKind::kBlock, 48},  {QuantKind::kBlock, 64},
                             {QuantKind::kBlock, 96},  {QuantKind::kBlock, 128}};

// The batched tile kernels (dot_i8_tile, matmul_i8_block_tile) of every
// path that has them, against the one-token loop and the scalar path, bit
// for bit, over the edges: rows and tokens not multiples of 4 (and rows
// over several 16-row chunks), rows not multiples of 64 bytes, short last
// blocks, every block size the tiles take (and some they leave to the
// loop), weights of -128, and prompts long enough to quantize in parallel.
TEST(Kernels, BatchedTilesEqualOneTokenLoop) {
  std::mt19937 rng(9);
  int paths = 0;
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.dot_i8_tile == nullptr && ops.matmul_i8_block_tile == nullptr) continue;
    ++paths;
    for (const IntForm& form : kIntForms) {
      for (size_t cols : {16, 64, 70, 172, 300}) {
        const size_t rows = 37;
        std::vector<int8_t> q = RandomI8(&rng, rows * cols, -128, 127);
        q[1] = -128;
        std::vector<float> params;
        const WeightView w = IntWeight(form, q, rows, cols, &rng, &params);
        std::string why;
        ASSERT_TRUE(ValidateWeightView(w, &why)) << why;
        for (size_t n : {4, 5, 11, 17}) {
          std::vector<float> x = RandomF32(&rng, n * cols);
          x[0] = 1e4f;  // an outlier: other activations of its block round small
          ExpectTilesMatchLoop(ops, w, x, n,
                               std::string(KernelPathName(p)) + " quant " +
                                   std::to_string(int(form.quant)) + " block " +
                                   std::to_string(form.block) + " cols " + std::to_string(cols) +
                                   " n " + std::to_string(n));
        }
      }
    }
  }
  if (KernelPathSupported(KernelPath::kAvx512Vnni)) {
    EXPECT_GT(paths, 0);  // the tiles were exercised here, not skipped
  }
}

// The longest rows ValidateWeightView allows, at full scale: the offset
// sums (q + 128) * w wrap modulo 2^32 and must still give the exact dots
// (-128 * 127 * 131071 = -2130690176 fits int32, barely).
TEST(Kernels, BatchedTilesExactAtTheLongestRows) {
  std::mt19937 rng(10);
  const size_t rows = 4, cols = (size_t{1} << 17) - 1, n = 4;
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.dot_i8_tile == nullptr && ops.matmul_i8_block_tile == nullptr) continue;
    for (const IntForm& form : {IntForm{QuantKind::kChannel, 0}, IntForm{QuantKind::kBlock, 16},
                                IntForm{QuantKind::kBlock, 32}, IntForm{QuantKind::kBlock, 64}}) {
      std::vector<int8_t> q(rows * cols);
      for (size_t r = 0; r < rows; ++r) {
        std::fill(&q[r * cols], &q[(r + 1) * cols], static_cast<int8_t>(r % 2 ? 127 : -128));
      }
      std::vector<float> params;
      const WeightView w = IntWeight(form, q, rows, cols, &rng, &params);
      std::vector<float> x(n * cols);
      for (size_t t = 0; t < n; ++t) {
        std::fill(&x[t * cols], &x[(t + 1) * cols], t % 2 ? -1.0f : 1.0f);
      }
      ExpectTilesMatchLoop(ops, w, x, n,
                           std::string(KernelPathName(p)) + " block " + std::to_string(form.block));
    }
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

#if defined(__x86_64__)
// Whether the upper halves of ymm0-15 / zmm0-15 are in use (XINUSE bits 2
// and 6, from XGETBV with ECX = 1, which CPUID leaf 0xD sub-leaf 1 EAX bit
// 2 announces): legacy-SSE code run in that state pays a transition
// penalty on every instruction.
bool XgetbvOneSupported() {
  uint32_t a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(1));
  return (a & 4) != 0;
}
bool UpperStateDirty() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
  return (lo & ((1u << 2) | (1u << 6))) != 0;
}
__attribute__((target("avx"))) void CleanUpperState() { __asm__ volatile("vzeroupper"); }

// Every op of every SIMD path returns with the upper register halves
// clean (vzeroupper), so the runtime's scalar code after a kernel (SwiGlu,
// RmsNorm, libm) runs at full speed. A helper left out of line with vector
// arguments (GCC then omits vzeroupper) made SwiGlu and expf take ~36% of
// a prompt.
TEST(Kernels, EveryOpReturnsWithCleanUpperState) {
  if (SupportedKernelPaths().size() < 2) GTEST_SKIP() << "no SIMD path on this CPU";
  if (!XgetbvOneSupported()) GTEST_SKIP() << "this CPU has no XGETBV with ECX=1 (XINUSE)";
  constexpr size_t n = 256, block = 32, nb = n / block;
  std::vector<int8_t> a(4 * n, 3), b(4 * n, -2), ones(n, 1), codes(n);
  std::vector<uint8_t> u(4 * n, 130), nib(16 * n, 0x21);
  std::vector<float> f(16 * n, 0.5f), g(16 * n, 0.25f), out(16 * n);
  std::vector<uint16_t> h(n, 0x3c00);
  std::vector<int32_t> dots(16 * nb), bsums(4 * nb, 64);
  const int8_t lut[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
  const int8_t* w4[4] = {a.data(), a.data() + n, a.data() + 2 * n, a.data() + 3 * n};
  const uint8_t* x4[4] = {u.data(), u.data() + n, u.data() + 2 * n, u.data() + 3 * n};
  const int8_t* xb[4] = {b.data(), b.data() + n, b.data() + 2 * n, b.data() + 3 * n};
  const int32_t* bs[4] = {bsums.data(), bsums.data(), bsums.data(), bsums.data()};
  const float* xs[4] = {g.data(), g.data(), g.data(), g.data()};
  CleanUpperState();
  if (UpperStateDirty()) {
    GTEST_SKIP() << "XINUSE still reports the upper state in use after vzeroupper here "
                    "(no init optimisation under this CPU or hypervisor): cannot observe it";
  }
  for (KernelPath p : SupportedKernelPaths()) {
    if (p == KernelPath::kScalar) continue;
    const KernelOps& o = GetKernelOps(p);
    auto check = [&](const char* op, auto&& call) {
      CleanUpperState();
      ASSERT_FALSE(UpperStateDirty());
      call();
      EXPECT_FALSE(UpperStateDirty()) << KernelPathName(p) << " " << op;
    };
    check("dot_i8", [&] { out[0] = static_cast<float>(o.dot_i8(a.data(), b.data(), n)); });
    check("dot_i8_blocks", [&] { o.dot_i8_blocks(a.data(), b.data(), n, block, dots.data()); });
    check("dot_f32", [&] { out[0] = o.dot_f32(f.data(), g.data(), n); });
    check("dot_f16", [&] { out[0] = o.dot_f16(h.data(), f.data(), n); });
    check("dot_bf16", [&] { out[0] = o.dot_bf16(h.data(), f.data(), n); });
    if (o.dot_i8_tile) check("dot_i8_tile", [&] { o.dot_i8_tile(w4, x4, n, dots.data()); });
    if (o.matmul_i8_block_tile) {
      check("matmul_i8_block_tile", [&] {
        o.matmul_i8_block_tile(w4, x4, n, block, f.data(), dots.data(), g.data(), out.data());
      });
    }
    if (o.quantize_i8) {
      check("quantize_i8", [&] { o.quantize_i8(f.data(), n, block, codes.data(), out.data()); });
    }
    check("weighted_sum_f32", [&] { o.weighted_sum_f32(f.data(), g.data(), 8, n, n, out.data()); });
    check("scores_f32", [&] { o.scores_f32(f.data(), g.data(), 8, n, n, 0.5f, out.data()); });
    if (o.dot_n4) check("dot_n4", [&] { out[0] = float(o.dot_n4(nib.data(), lut, b.data(), n)); });
    if (o.dot_n4_blocks) {
      check("dot_n4_blocks",
            [&] { o.dot_n4_blocks(nib.data(), lut, b.data(), n, block, dots.data()); });
    }
    if (o.expand_n4) check("expand_n4", [&] { o.expand_n4(nib.data(), lut, n, codes.data()); });
    if (o.dot_n4_rows4) {
      check("dot_n4_rows4", [&] {
        o.dot_n4_rows4(nib.data(), NibbleRowBytes(n), lut, b.data(), n, -2 * int32_t{n},
                       dots.data());
      });
    }
    if (o.dot_n4_blocks_rows4) {
      check("dot_n4_blocks_rows4", [&] {
        o.dot_n4_blocks_rows4(nib.data(), NibbleRowBytes(n), lut, b.data(), bsums.data(), n, block,
                              dots.data());
      });
    }
    if (o.sum_scaled_blocks4) {
      check("sum_scaled_blocks4",
            [&] { o.sum_scaled_blocks4(dots.data(), nb, f.data(), g.data(), out.data()); });
    }
    if (o.matmul_n4_group16) {
      for (size_t blk : {size_t{0}, block}) {
        for (size_t nt = 1; nt <= 4; ++nt) {
          check("matmul_n4_group16", [&] {
            o.matmul_n4_group16(nib.data(), lut, f.data(), n, blk, xb, bs, xs, nt, out.data());
          });
        }
      }
    }
  }
}
#endif

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
