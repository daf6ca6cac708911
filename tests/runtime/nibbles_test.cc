// Nibble-held weights (held_nibbles.h, the dot_n4 kernels): every path's
// nibble kernels against the int8 ones over the expanded codes, MatMul
// over a nibble view against the int8 view bit for bit (one token and
// prompt tiles), the 16-code limit, and a model's logits equal with and
// without nibble holding.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"
#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/quantize.h"
#include "tqf/rt/held_nibbles.h"
#include "tqf/rt/kernels.h"
#include "tqf/rt/model.h"

namespace tqf::rt {
namespace {

// 16 distinct codes, -128 and 127 among them, in random order.
std::vector<int8_t> RandomTable(std::mt19937* rng) {
  std::vector<int> all;
  for (int v = -127; v < 127; ++v) all.push_back(v);
  std::shuffle(all.begin(), all.end(), *rng);
  std::vector<int8_t> t = {-128, 127};
  for (int i = 0; t.size() < 16; ++i) t.push_back(static_cast<int8_t>(all[i]));
  std::shuffle(t.begin(), t.end(), *rng);
  return t;
}

// Consecutive codes first, first + 1, ... (count of them): the uniform grids
// that the kernels multiply without a lookup (index + first).
std::vector<int8_t> ConsecutiveTable(int first, int count) {
  std::vector<int8_t> t;
  for (int i = 0; i < count; ++i) t.push_back(static_cast<int8_t>(first + i));
  return t;
}

// The tables the kernel tests use: random ones (the lookup path) and
// consecutive ones, with all 16 codes or fewer (FindNibbleTable pads them),
// at both ends of the int8 range.
std::vector<std::vector<int8_t>> TestTables(std::mt19937* rng) {
  return {RandomTable(rng),        ConsecutiveTable(-8, 16),   ConsecutiveTable(-7, 15),
          ConsecutiveTable(0, 16), ConsecutiveTable(-128, 16), ConsecutiveTable(112, 16),
          ConsecutiveTable(-4, 8), ConsecutiveTable(113, 15),  ConsecutiveTable(3, 1)};
}

// rows x cols codes drawn from `table`, every entry used when there is room.
std::vector<int8_t> CodesFrom(const std::vector<int8_t>& table, size_t n, std::mt19937* rng) {
  std::uniform_int_distribution<int> d(0, static_cast<int>(table.size()) - 1);
  std::vector<int8_t> q(n);
  for (size_t i = 0; i < n; ++i) q[i] = table[i < table.size() ? i : d(*rng)];
  std::shuffle(q.begin(), q.end(), *rng);
  return q;
}

std::vector<int8_t> RandomActivations(std::mt19937* rng, size_t n) {
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(*rng));
  if (n > 0) v[0] = -127;
  return v;
}

// Packs one row; returns the table FindNibbleTable chose.
std::vector<uint8_t> PackRow(const std::vector<int8_t>& codes, int8_t lut[16]) {
  EXPECT_TRUE(FindNibbleTable(codes.data(), codes.size(), lut));
  std::vector<uint8_t> packed(NibbleRowBytes(codes.size()));
  PackNibbles(codes.data(), 1, codes.size(), lut, packed.data());
  return packed;
}

TEST(Nibbles, TableHoldsUpTo16CodesAscending) {
  std::vector<int8_t> codes;
  for (int v = -128; v < -112; ++v) codes.push_back(static_cast<int8_t>(v));
  int8_t lut[16];
  ASSERT_TRUE(FindNibbleTable(codes.data(), codes.size(), lut));
  for (int k = 0; k < 16; ++k) EXPECT_EQ(lut[k], -128 + k);
  codes.push_back(5);  // a 17th code
  EXPECT_FALSE(FindNibbleTable(codes.data(), codes.size(), lut));
  const int8_t few[] = {3, -2, 3, 3};
  ASSERT_TRUE(FindNibbleTable(few, 4, lut));
  EXPECT_EQ(lut[0], -2);
  EXPECT_EQ(lut[1], 3);
  EXPECT_EQ(lut[15], 3);  // unused entries repeat the largest
}

TEST(Nibbles, PackedLayoutIsTheDocumentedOne) {
  std::vector<int8_t> codes(70);
  const int8_t lut[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<int8_t>(i % 16);
  std::vector<uint8_t> packed(NibbleRowBytes(70), 0xee);
  ASSERT_EQ(packed.size(), 64u);
  PackNibbles(codes.data(), 1, 70, lut, packed.data());
  EXPECT_EQ(packed[0], 0x00);  // code 0 low, code 32 high (32 % 16 = 0)
  EXPECT_EQ(packed[1], 0x11);
  EXPECT_EQ(packed[32] & 0x0f, 64 % 16);  // code 64, low nibble
  EXPECT_EQ(packed[32] >> 4, 0);          // past cols: index 0
  EXPECT_EQ(packed[63], 0);
  for (size_t i = 0; i < 70; ++i) EXPECT_EQ(NibbleAt(packed.data(), i), i % 16) << i;
}

// dot_n4, dot_n4_blocks and expand_n4 of every path equal the scalar int8
// kernels over the expanded codes: odd sizes, short last blocks and
// chunks, the -128 code, every table entry.
TEST(Nibbles, KernelsEveryPathEqualInt8Dots) {
  std::mt19937 rng(21);
  const KernelOps& ref = ScalarKernelOps();
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    ASSERT_NE(ops.dot_n4, nullptr) << KernelPathName(p);
    for (size_t n : {1, 7, 16, 31, 32, 33, 63, 64, 65, 96, 100, 127, 128, 129, 300, 2048, 4099})
      for (const std::vector<int8_t>& table : TestTables(&rng)) {
        const std::vector<int8_t> codes = CodesFrom(table, n, &rng);
        const std::vector<int8_t> b = RandomActivations(&rng, n);
        int8_t lut[16];
        const std::vector<uint8_t> w = PackRow(codes, lut);
        const std::string where = std::string(KernelPathName(p)) + " n=" + std::to_string(n) +
                                  " table from " + std::to_string(table[0]) + " (" +
                                  std::to_string(table.size()) + " codes)";
        EXPECT_EQ(ops.dot_n4(w.data(), lut, b.data(), n), ref.dot_i8(codes.data(), b.data(), n))
            << where;
        std::vector<int8_t> expanded(n + 64, 99);
        ops.expand_n4(w.data(), lut, n, expanded.data());
        EXPECT_EQ(0, std::memcmp(expanded.data(), codes.data(), n)) << where;
        EXPECT_EQ(expanded[n], 99) << where << ": wrote past the row";
        for (size_t block : {16, 17, 32, 64, 96, 128}) {
          const size_t nb = (n + block - 1) / block;
          std::vector<int32_t> got(nb + 1, 7), want(nb + 1, 7);
          ops.dot_n4_blocks(w.data(), lut, b.data(), n, block, got.data());
          ref.dot_i8_blocks(codes.data(), b.data(), n, block, want.data());
          EXPECT_EQ(got, want) << where << " block=" << block;
        }
      }
  }
}

// Four rows packed one after the other, as a nibble view holds them.
struct FourRows {
  std::vector<int8_t> codes[4];
  std::vector<uint8_t> packed;
  int8_t lut[16];
};

FourRows PackFourRows(const std::vector<int8_t>& table, size_t n, std::mt19937* rng) {
  FourRows f;
  std::vector<int8_t> all;
  for (auto& c : f.codes) {
    c = CodesFrom(table, n, rng);
    all.insert(all.end(), c.begin(), c.end());
  }
  EXPECT_TRUE(FindNibbleTable(all.data(), all.size(), f.lut));
  f.packed.assign(4 * NibbleRowBytes(n), 0);
  PackNibbles(all.data(), 4, n, f.lut, f.packed.data());
  return f;
}

int32_t SumOf(const std::vector<int8_t>& b) {
  int32_t s = 0;
  for (int8_t v : b) s += v;
  return s;
}

// dot_n4_rows4, where a path has it, equals dot_i8 row by row.
TEST(Nibbles, FourRowKernelsEqualInt8Dots) {
  std::mt19937 rng(23);
  const KernelOps& ref = ScalarKernelOps();
  int tested = 0;
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.dot_n4_rows4 == nullptr) continue;
    ++tested;
    for (size_t n : {1, 7, 32, 63, 64, 65, 127, 128, 129, 172, 300, 2048, 4099})
      for (const std::vector<int8_t>& table : TestTables(&rng)) {
        const FourRows f = PackFourRows(table, n, &rng);
        const std::vector<int8_t> b = RandomActivations(&rng, n);
        int32_t got[4] = {7, 7, 7, 7};
        ops.dot_n4_rows4(f.packed.data(), NibbleRowBytes(n), f.lut, b.data(), n, SumOf(b), got);
        for (int r = 0; r < 4; ++r) {
          EXPECT_EQ(got[r], ref.dot_i8(f.codes[r].data(), b.data(), n))
              << KernelPathName(p) << " n=" << n << " row " << r << " table from " << int(table[0]);
        }
        if (ops.dot_n4_blocks_rows4 == nullptr) continue;
        for (size_t block : {16, 17, 32, 64, 96, 128}) {
          const size_t nb = (n + block - 1) / block;
          std::vector<int32_t> bsums(nb, 0);
          for (size_t i = 0; i < n; ++i) bsums[i / block] += b[i];
          std::vector<int32_t> blocks(4 * nb + 1, 7), want(nb);
          ops.dot_n4_blocks_rows4(f.packed.data(), NibbleRowBytes(n), f.lut, b.data(), bsums.data(),
                                  n, block, blocks.data());
          for (int r = 0; r < 4; ++r) {
            ref.dot_i8_blocks(f.codes[r].data(), b.data(), n, block, want.data());
            EXPECT_TRUE(std::equal(want.begin(), want.end(), blocks.begin() + r * nb))
                << KernelPathName(p) << " n=" << n << " block=" << block << " row " << r;
          }
          EXPECT_EQ(blocks[4 * nb], 7) << "wrote past the rows";
        }
      }
  }
  // The machines this runs on have AVX-512; elsewhere the test says so.
  if (tested == 0) GTEST_SKIP() << "no path here has dot_n4_rows4";
}

// sum_scaled_blocks4, where a path has it, equals the scalar loop bit for
// bit: block counts below, at and past its 16-block step, extreme dots,
// scales of mixed sign and magnitude (so that the order of adds matters).
TEST(Nibbles, ScaledBlockSumsEqualTheScalarLoop) {
  std::mt19937 rng(24);
  std::uniform_int_distribution<int32_t> dot(-2000000, 2000000);
  std::normal_distribution<float> scale(0.0f, 1.0f);
  int tested = 0;
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.sum_scaled_blocks4 == nullptr) continue;
    ++tested;
    for (size_t nb : {1, 2, 15, 16, 17, 31, 32, 64, 70, 256}) {
      std::vector<int32_t> dots(4 * nb);
      std::vector<float> ws(4 * nb), ts(nb);
      for (int32_t& d : dots) d = dot(rng);
      dots[0] = INT32_MIN + 1;
      for (float& v : ws) v = scale(rng) * std::exp(scale(rng) * 4.0f);
      for (float& v : ts) v = std::fabs(scale(rng)) * 1e-3f;
      float want[4] = {};
      for (size_t k = 0; k < nb; ++k) {
        for (size_t i = 0; i < 4; ++i) {
          want[i] += static_cast<float>(dots[i * nb + k]) * (ws[i * nb + k] * ts[k]);
        }
      }
      float got[4];
      ops.sum_scaled_blocks4(dots.data(), nb, ws.data(), ts.data(), got);
      EXPECT_EQ(0, std::memcmp(got, want, sizeof(got))) << KernelPathName(p) << " nb=" << nb;
    }
  }
  if (tested == 0) GTEST_SKIP() << "no path here has sum_scaled_blocks4";
}

// The unsigned-offset sums wrap past int32 on the longest rows the views
// accept (2^17 - 1 codes); the results must still be the exact dots.
TEST(Nibbles, FourRowKernelsAreExactAtTheLongestRow) {
  const size_t n = (size_t{1} << 17) - 1;
  const std::vector<int8_t> b_pos(n, 127), b_neg(n, -127);
  for (KernelPath p : SupportedKernelPaths()) {
    const KernelOps& ops = GetKernelOps(p);
    if (ops.dot_n4_rows4 == nullptr) continue;
    // Rows of all 127, all -128, alternating extremes, all 0.
    const int8_t row_code[4] = {127, -128, 127, 0};
    std::vector<int8_t> all;
    for (int r = 0; r < 4; ++r) {
      for (size_t i = 0; i < n; ++i) {
        all.push_back(r == 2 ? static_cast<int8_t>(i % 2 ? -128 : 127) : row_code[r]);
      }
    }
    int8_t lut[16];
    ASSERT_TRUE(FindNibbleTable(all.data(), all.size(), lut));
    std::vector<uint8_t> packed(4 * NibbleRowBytes(n));
    PackNibbles(all.data(), 4, n, lut, packed.data());
    for (const std::vector<int8_t>* b : {&b_pos, &b_neg}) {
      int32_t got[4];
      ops.dot_n4_rows4(packed.data(), NibbleRowBytes(n), lut, b->data(), n, SumOf(*b), got);
      for (int r = 0; r < 4; ++r) {
        int64_t want = 0;
        for (size_t i = 0; i < n; ++i) want += int64_t{all[r * n + i]} * (*b)[i];
        EXPECT_EQ(got[r], want) << KernelPathName(p) << " row " << r;
      }
    }
  }
}

struct Form {
  QuantKind quant;
  uint32_t block;
};

// The int8 view of `codes` and its nibble twin (same params).
struct Views {
  std::vector<float> params;
  std::vector<uint8_t> packed;
  int8_t lut[16];
  WeightView i8, n4;
};

void MakeViews(const Form& f, const std::vector<int8_t>& codes, size_t rows, size_t cols,
               std::mt19937* rng, Views* v) {
  std::normal_distribution<float> d(0.0f, 0.01f);
  const size_t nb = f.block ? (cols + f.block - 1) / f.block : 1;
  if (f.quant == QuantKind::kTensorMinMax) {
    v->params = {0.01f, 3.0f};
  } else {
    v->params.resize(f.quant == QuantKind::kBlock ? rows * nb : rows);
    for (float& x : v->params) x = d(*rng);
  }
  ASSERT_TRUE(FindNibbleTable(codes.data(), codes.size(), v->lut));
  v->packed.assign(rows * NibbleRowBytes(cols), 0);
  PackNibbles(codes.data(), rows, cols, v->lut, v->packed.data());
  WeightView& w = v->i8;
  w.dtype = DType::kI8;
  w.quant = f.quant;
  w.quant_block = f.block;
  w.rows = rows;
  w.cols = cols;
  w.data = reinterpret_cast<const uint8_t*>(codes.data());
  w.params = v->params.data();
  w.num_params = v->params.size();
  v->n4 = w;
  v->n4.data = v->packed.data();
  v->n4.lut = v->lut;
}

// MatMul over the nibble view equals MatMul over the int8 view bit for
// bit on every path (and the scalar path), one token and prompt tiles.
TEST(Nibbles, MatMulEqualsInt8HeldForm) {
  std::mt19937 rng(22);
  const Form forms[] = {{QuantKind::kChannel, 0}, {QuantKind::kTensorMinMax, 0},
                        {QuantKind::kBlock, 16},  {QuantKind::kBlock, 32},
                        {QuantKind::kBlock, 48},  {QuantKind::kBlock, 64},
                        {QuantKind::kBlock, 128}};
  for (const Form& f : forms) {
    for (size_t cols : {16, 64, 70, 172, 300}) {
      const size_t rows = 37;
      const std::vector<int8_t> codes = CodesFrom(RandomTable(&rng), rows * cols, &rng);
      Views v;
      MakeViews(f, codes, rows, cols, &rng, &v);
      std::string why;
      ASSERT_TRUE(ValidateWeightView(v.n4, &why)) << why;
      for (size_t n : {1, 2, 3, 4, 5, 11, 17}) {
        std::normal_distribution<float> d(0.0f, 1.0f);
        std::vector<float> x(n * cols);
        for (float& e : x) e = d(rng);
        x[0] = 1e4f;  // an outlier: other activations of its block round small
        std::vector<float> want(n * rows);
        MatMulScratch s;
        MatMul(ScalarKernelOps(), v.i8, x.data(), n, want.data(), &s, 1);
        for (KernelPath p : SupportedKernelPaths()) {
          for (const WeightView* w : {&v.i8, &v.n4}) {
            std::vector<float> got(n * rows, -1.0f);
            MatMul(GetKernelOps(p), *w, x.data(), n, got.data(), &s, 2);
            ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4))
                << KernelPathName(p) << (w == &v.n4 ? " nibbles" : " int8") << " quant "
                << int(f.quant) << " block " << f.block << " cols " << cols << " n " << n;
          }
        }
        std::vector<float> row(cols), row8(cols);
        DequantizeRow(v.n4, rows - 1, row.data());
        DequantizeRow(v.i8, rows - 1, row8.data());
        ASSERT_EQ(0, std::memcmp(row.data(), row8.data(), cols * 4));
      }
    }
  }
}

// The kGroups16 layout as kernels.h documents it: byte 4r + i of step s
// holds row r's codes 8s + i (low) and 8s + 4 + i (high).
TEST(Nibbles, GroupLayoutIsTheDocumentedOne) {
  const size_t rows = 32, cols = 24;
  std::mt19937 rng(5);
  const std::vector<int8_t> table = RandomTable(&rng);
  const std::vector<int8_t> codes = CodesFrom(table, rows * cols, &rng);
  int8_t lut[16];
  ASSERT_TRUE(FindNibbleTable(codes.data(), codes.size(), lut));
  std::vector<uint8_t> packed(rows / 16 * NibbleGroupBytes(cols), 0xee);
  PackNibbleGroups16(codes.data(), rows, cols, lut, packed.data());
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < cols; ++i) {
      const uint8_t byte = packed[(r / 16) * 8 * cols + (i / 8) * 64 + 4 * (r % 16) + i % 4];
      const uint8_t index = (i % 8) < 4 ? (byte & 0x0f) : (byte >> 4);
      ASSERT_EQ(lut[index], codes[r * cols + i]) << r << "," << i;
      ASSERT_EQ(index, NibbleGroupAt(packed.data(), cols, r, i));
    }
  }
}

// MatMul over a kGroups16 view (codes and params interleaved as
// PackNibbleTensor writes them) equals MatMul over the int8 view bit for
// bit, on every path and the scalar reference, one token and prompts
// (tails of 1-3 tokens after groups of 4), every block size the layout
// takes and per-row scales (negative ones among them: a -0.0f product
// must stay -0.0f); DequantizeRow reads it back; ValidateWeightView
// refuses a view that does not fit it.
TEST(Nibbles, MatMulOverRowGroupsEqualsInt8HeldForm) {
  std::mt19937 rng(31);
  for (size_t block : {0, 8, 16, 32, 64, 128, 256}) {  // 0: per-row scales (kChannel)
    for (size_t cols : {256, 768, 2048}) {
      const size_t rows = 48;
      const QuantKind quant = block ? QuantKind::kBlock : QuantKind::kChannel;
      std::vector<int8_t> table = RandomTable(&rng);
      table[3] = 0;  // may repeat a 0 RandomTable drew: still at most 16 codes
      std::vector<int8_t> codes = CodesFrom(table, rows * cols, &rng);
      // Row 5: all zero codes, so every dot is 0; with a negative scale a
      // per-row product is -0.0f, which must stay -0.0f (a block sum from
      // 0.0f gives +0.0f).
      std::fill(codes.begin() + 5 * cols, codes.begin() + 6 * cols, 0);
      Views v;
      MakeViews({quant, static_cast<uint32_t>(block)}, codes, rows, cols, &rng, &v);
      const size_t nb = block ? cols / block : 1;
      for (size_t k = 0; k < nb; ++k) v.params[5 * nb + k] = -std::fabs(v.params[5 * nb + k]) - 1e-3f;
      TensorInfo t;
      t.dtype = DType::kI8;
      t.quant = quant;
      t.quant_block = static_cast<uint32_t>(block);
      t.shape = {rows, cols};
      t.num_params = v.params.size();
      ASSERT_EQ(NibbleLayoutFor(t, true), NibbleLayout::kGroups16);
      ASSERT_EQ(NibbleLayoutFor(t, false), NibbleLayout::kRows);
      std::vector<uint8_t> packed(NibbleTensorBytes(t, NibbleLayout::kGroups16));
      ASSERT_EQ(packed.size(), rows * cols / 2);
      std::vector<float> params(v.params.size());
      PackNibbleTensor(t, codes.data(), v.params.data(), v.lut, NibbleLayout::kGroups16,
                       packed.data(), params.data());
      WeightView g = v.n4;
      g.data = packed.data();
      g.params = params.data();
      g.nibble_layout = NibbleLayout::kGroups16;
      std::string why;
      ASSERT_TRUE(ValidateWeightView(g, &why)) << why;
      for (size_t n : {1, 2, 3, 4, 5, 7, 9}) {
        std::normal_distribution<float> d(0.0f, 1.0f);
        std::vector<float> x(n * cols);
        for (float& e : x) e = d(rng);
        x[0] = 1e4f;
        std::vector<float> want(n * rows);
        MatMulScratch s;
        MatMul(ScalarKernelOps(), v.i8, x.data(), n, want.data(), &s, 1);
        ASSERT_EQ(want[5] == 0.0f && std::signbit(want[5]), block == 0) << "row 5: -0.0f per row";
        for (KernelPath p : SupportedKernelPaths()) {
          std::vector<float> got(n * rows, -1.0f);
          MatMul(GetKernelOps(p), g, x.data(), n, got.data(), &s, 2);
          ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4))
              << KernelPathName(p) << " block " << block << " cols " << cols << " n " << n;
        }
      }
      for (size_t r : {size_t{0}, size_t{17}, rows - 1}) {
        std::vector<float> row(cols), row8(cols);
        DequantizeRow(g, r, row.data());
        DequantizeRow(v.i8, r, row8.data());
        ASSERT_EQ(0, std::memcmp(row.data(), row8.data(), cols * 4)) << "row " << r;
      }
      WeightView bad = g;
      bad.rows = 40;  // not a multiple of 16
      bad.num_params = block ? 40 * (cols / block) : 40;
      EXPECT_FALSE(ValidateWeightView(bad, &why));
      EXPECT_NE(why.find("groups of 16 rows"), std::string::npos) << why;
    }
  }
}

// stories260K packed with `spec`, once per process.
std::string PackedLowBit(const std::string& spec) {
  static const std::string dir = tqf::testing::TempDir();
  const std::string path = dir + "/stories-" + spec + ".tqf";
  Result<SourceModel> model =
      ImportModel(tqf::testing::SharedPath("models/stories260K/stories260K.gguf"));
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return "";
  Result<QuantSpec> q = ParseQuantSpec(spec);
  EXPECT_TRUE(q.ok());
  PackOptions po;
  po.quant = *q;
  po.writer.block_size = 4096;
  Result<PackReport> r = PackModel(*model, path, po);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? path : "";
}

struct GenerationRun {
  std::vector<float> logits;  // the prompt's, then each generated token's
  std::vector<int32_t> tokens;
  uint64_t held_bytes = 0;
  size_t resident = 0;
};

GenerationRun Generate(const std::string& path, bool nibbles, bool groups = true) {
  GenerationRun run;
  ModelOptions mo;
  mo.threads = 2;
  mo.hold_nibbles = nibbles;
  mo.nibble_groups = groups;
  auto model = Model::Open(path, mo);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return run;
  std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 1153, 29892, 727, 471};
  for (int32_t& t : prompt) t %= static_cast<int32_t>((*model)->info().hparams.vocab_size);
  std::vector<float> logits;
  EXPECT_TRUE((*model)->Forward(prompt.data(), prompt.size(), 0, true, &logits).ok());
  run.logits = logits;
  size_t pos = prompt.size();
  for (int i = 0; i < 20; ++i) {
    const float* last = logits.data() + logits.size() - (*model)->info().hparams.vocab_size;
    const int32_t next = static_cast<int32_t>(
        std::max_element(last, last + (*model)->info().hparams.vocab_size) - last);
    run.tokens.push_back(next);
    EXPECT_TRUE((*model)->Forward(&next, 1, pos++, false, &logits).ok());
    run.logits.insert(run.logits.end(), logits.begin(), logits.end());
  }
  run.held_bytes = (*model)->provider_stats().held_bytes;
  run.resident = (*model)->resident_bytes();
  return run;
}

// A 4-bit file gives the same logits (prompt and generation) whether its
// layers, embedding and head are held as nibbles (in groups of 16 rows
// where the path has the kernel and a tensor fits, or all in rows) or as
// int8, with fewer bytes held; an int8 file's tensors (more than 16 codes)
// stay int8.
TEST(Nibbles, ModelLogitsEqualBetweenHeldForms) {
  for (const char* spec : {"q4-g32", "nf4-g32", "q3-row", "channel"}) {
    const std::string path = PackedLowBit(spec);
    ASSERT_FALSE(path.empty());
    const GenerationRun n4 = Generate(path, true), i8 = Generate(path, false);
    const GenerationRun rows = Generate(path, true, false);
    ASSERT_FALSE(i8.logits.empty());
    ASSERT_EQ(n4.logits.size(), i8.logits.size());
    ASSERT_EQ(rows.logits.size(), i8.logits.size());
    EXPECT_EQ(0, std::memcmp(n4.logits.data(), i8.logits.data(), n4.logits.size() * 4)) << spec;
    EXPECT_EQ(0, std::memcmp(rows.logits.data(), i8.logits.data(), i8.logits.size() * 4)) << spec;
    EXPECT_EQ(n4.tokens, i8.tokens) << spec;
    std::printf("%s: held layer bytes %llu nibbles vs %llu int8; resident %zu vs %zu\n", spec,
                static_cast<unsigned long long>(n4.held_bytes),
                static_cast<unsigned long long>(i8.held_bytes), n4.resident, i8.resident);
    if (std::string(spec) == "channel") {
      EXPECT_EQ(n4.held_bytes, i8.held_bytes);
      EXPECT_EQ(n4.resident, i8.resident);
    } else {
      EXPECT_LT(n4.held_bytes, i8.held_bytes * 7 / 10) << spec;
      EXPECT_LT(n4.resident, i8.resident * 7 / 10) << spec;
    }
  }
}

// A layer provider asked for row groups holds the q4-g32 layer tensors
// that fit them (stories260K: the attention matrices, 64 or 32 rows of 64)
// in kGroups16 and the rest in rows (the feed-forward's 172 rows, or rows
// of 172 codes: not whole blocks); without the option all in rows.
TEST(Nibbles, ProviderHoldsFittingTensorsInRowGroups) {
  const std::string path = PackedLowBit("q4-g32");
  ASSERT_FALSE(path.empty());
  auto reader = Reader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<size_t> layer0;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    const TensorInfo& t = (*reader)->tensors()[i];
    if (t.name.rfind("blk.0.", 0) == 0) layer0.push_back(i);
  }
  ASSERT_FALSE(layer0.empty());
  for (bool groups : {true, false}) {
    LayerProviderOptions o;
    o.nibble_groups = groups;
    o.prefetch = false;
    LayerProvider provider(reader->get(), {layer0}, o);
    auto layer = provider.Acquire(0);
    ASSERT_TRUE(layer.ok()) << layer.status().ToString();
    size_t grouped = 0, rows = 0;
    for (size_t i = 0; i < layer0.size(); ++i) {
      const TensorInfo& t = (*reader)->tensors()[layer0[i]];
      if ((*layer)->lut(i) == nullptr) continue;
      const bool fits = NibbleGroupsFit(t.quant, t.rows(), t.cols(), t.quant_block);
      const NibbleLayout want =
          groups && fits && NibbleGroupsEnabled() ? NibbleLayout::kGroups16 : NibbleLayout::kRows;
      EXPECT_EQ(want, (*layer)->nibble_layout(i)) << t.name;
      ((*layer)->nibble_layout(i) == NibbleLayout::kGroups16 ? grouped : rows)++;
    }
    EXPECT_GT(rows, 0u);  // w1, w2, w3 do not fit
    if (groups && NibbleGroupsEnabled()) {
      EXPECT_GE(grouped, 4u);  // wq, wk, wv, wo
    } else {
      EXPECT_EQ(grouped, 0u);
    }
  }
}

}  // namespace
}  // namespace tqf::rt
