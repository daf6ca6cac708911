// Compute kernels of the runtime: matrix x activations for every stored
// weight form, and the small per-token operations of a LLaMA block.
//
// Stored forms (see QuantKind in tqf/types.h):
//   F32, F16, BF16 (unquantized, `--quant raw`): fp32 dot products, the
//     16-bit forms widened on the fly;
//   I8 kTensorMinMax  x = scale * (q - zero_point);
//   I8 kChannel       x = scale[row] * q;
//   I8 kBlock         x = scale[row, block] * q, blocks of quant_block along
//                     a row (the last one may be short).
// Any of the I8 forms may be held as nibbles (WeightView::lut set): each
// code is a 4-bit index into a 16-entry int8 table, two per byte (see
// NibbleRowBytes), for tensors whose codes take at most 16 values (4-bit
// and lower schemes): half the bytes per token for a memory-bound
// generation. The kernels expand indices to the very same int8 codes and
// run the same integer dots, so results equal the int8 form bit for bit.
// Int8 weights are never expanded to fp32: activations are quantized to
// int8 (symmetric absmax, per token row, or per weight block for kBlock)
// and multiplied with an int8 dot product accumulated in int32; the int32
// sums are then scaled in a fixed order. Int8 results are therefore bit
// identical on every SIMD path; fp32 paths differ only in summation order.
// Prompts (4+ tokens) go through 4-row x 4-token tile kernels where a path
// has them (AVX-512 VNNI: every loaded weight vector feeds 4 dpbusd, about
// 2x the one-token loop for per-channel weights and 3x for blocks; see
// bench/matmul_bench.cc), with the same integer dots and scaling order.
//
// SIMD: the path (scalar, AVX2, AVX-VNNI, AVX-512 VNNI) is chosen at run
// time from the CPU's features (functions carry `target` attributes, so one
// binary runs on any x86-64); TQF_MATMUL_KERNEL=scalar|avx2|avxvnni|avx512vnni
// forces one.
//
// Determinism: every output element is computed by exactly one thread with
// the same operation order, so results do not depend on the thread count.
//
// Thread-safety: all functions are reentrant; KernelOps tables are
// immutable. A MatMulScratch belongs to one caller at a time.
#ifndef TQF_RUNTIME_KERNELS_H_
#define TQF_RUNTIME_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tqf/types.h"

namespace tqf::rt {

enum class KernelPath { kScalar = 0, kAvx2 = 1, kAvxVnni = 2, kAvx512Vnni = 3 };
const char* KernelPathName(KernelPath p);

// The primitive dot products a path provides.
struct KernelOps {
  KernelPath path;
  // sum a[i]*b[i] over int8; `a` any int8 (weights, -128 allowed), `b` in
  // [-127, 127] (quantized activations). Exact in int32 for n < 2^17.
  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, size_t n);
  // out[k] = dot_i8 over block k of `block` elements (last block short).
  void (*dot_i8_blocks)(const int8_t* a, const int8_t* b, size_t n, size_t block, int32_t* out);
  float (*dot_f32)(const float* a, const float* b, size_t n);
  float (*dot_f16)(const uint16_t* w, const float* x, size_t n);
  float (*dot_bf16)(const uint16_t* w, const float* x, size_t n);
  // Optional (nullptr on paths without one): a 4 x 4 tile of a batched
  // int8 product, for prompts. out[t * 4 + r] = sum_i w[r][i] * x[t][i]
  // over i < n, where x holds quantized activations offset to unsigned
  // (q + 128, that is q ^ 0x80): u8 x s8 is what dpbusd multiplies, so
  // each loaded vector serves four products with no sign fix-up. The
  // caller subtracts 128 * sum_i w[r][i]; the sums wrap modulo 2^32, so
  // the corrected dot is exact whenever the true one fits int32 (n < 2^17).
  // Rows and tokens may repeat (a short edge tile passes one twice).
  void (*dot_i8_tile)(const int8_t* const* w, const uint8_t* const* x, size_t n, int32_t* out);
  // Optional: the same tile for block-quantized weights (kBlock with
  // blocks of 16, 32, or 64 and more: smaller blocks are whole 16-byte
  // quarters of a 64-byte step, larger ones whole steps; other sizes use
  // the one-token loop), scales applied. With dot_k the exact
  // dot of block k, i.e. sum over the block of w[r][i] * x[t][i] (x as in
  // dot_i8_tile) minus 128 * wsum[4k + r] (the block's sum of w[r]):
  //   out[t * 4 + r] = sum over k, in order, from 0.0f, of
  //                    float(dot_k) * (wscale[4k + r] * xscale[16k + 4t + r])
  // with every product and sum rounded to float as the one-token loop
  // does it, so results are bit identical to it.
  void (*matmul_i8_block_tile)(const int8_t* const* w, const uint8_t* const* x, size_t n,
                               size_t block, const float* wscale, const int32_t* wsum,
                               const float* xscale, float* out);
  // Optional: QuantizeActivations of one row (its q, scales and, returned,
  // its sum of q), with the same results (NaN and infinities included).
  int32_t (*quantize_i8)(const float* x, size_t cols, size_t block, int8_t* q, float* scales);
  // Required (every path has them; a hand-built table must too):
  // out[i] = sum over p < count, in order from 0.0f, of a[p] * v[p * stride + i],
  // for i < dim (attention's weighted sum of values). Each product and sum is
  // rounded as written (no fused multiply-add), so every path agrees exactly.
  void (*weighted_sum_f32)(const float* a, const float* v, size_t count, size_t stride, size_t dim,
                           float* out);
  // Required: out[p] = dot_f32(q, k + p * stride, dim) * scale for
  // p < count (attention scores), bit identical to this path's dot_f32.
  void (*scores_f32)(const float* q, const float* k, size_t count, size_t stride, size_t dim,
                     float scale, float* out);
  // Nibble-held weights (see NibbleRowBytes for the layout of `w`, one
  // row of n codes; `lut` the 16 codes). Optional (MatMul takes the scalar
  // path's where nullptr); results equal dot_i8 / dot_i8_blocks over the
  // expanded codes exactly. dot_n4_blocks takes any block size (SIMD paths
  // vectorize 32 and multiples of 64).
  int32_t (*dot_n4)(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n);
  void (*dot_n4_blocks)(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n,
                        size_t block, int32_t* out);
  // out[0..n) = the expanded codes of one nibble row (prompt tiles expand
  // their rows, then run the int8 tile kernels).
  void (*expand_n4)(const uint8_t* w, const int8_t* lut, size_t n, int8_t* out);
  // Optional: four nibble rows at once (w, w + stride, w + 2 * stride,
  // w + 3 * stride) times one token b whose values sum to `bsum`:
  // out[i] = dot_n4(w + i * stride, lut, b, n), exactly. For one-token
  // generation, where the sign fix-up dot_n4 needs per row is the cost.
  void (*dot_n4_rows4)(const uint8_t* w, size_t stride, const int8_t* lut, const int8_t* b,
                       size_t n, int32_t bsum, int32_t* out);
  // Optional: dot_n4_blocks of the same four rows, row i's block k into
  // out[i * nb + k] (nb blocks a row), exactly; bsums[k] = the sum of b over
  // block k. Any block size (blocks of 32 and multiples of 64 vectorized).
  void (*dot_n4_blocks_rows4)(const uint8_t* w, size_t stride, const int8_t* lut, const int8_t* b,
                              const int32_t* bsums, size_t n, size_t block, int32_t* out);
  // Optional: the one-token block loop's sums for four rows of nb blocks,
  //   out[i] = sum over k < nb, in order, from 0.0f, of
  //            float(dots[i * nb + k]) * (wscale[i * nb + k] * xscale[k])
  // with every product and sum rounded to float as written, so results are
  // bit identical to the scalar loop (only the four rows run side by side).
  void (*sum_scaled_blocks4)(const int32_t* dots, size_t nb, const float* wscale,
                             const float* xscale, float* out);
  // Optional: one group of 16 rows of a kGroups16 nibble view (see
  // NibbleLayout; `w` the group's 8 * cols bytes, `wscale` its nb * 16
  // interleaved scales, `lut` the 16 codes) times nt <= 4 tokens x[t]
  // (quantized per block; bsums[t][k] = the sum of x[t] over block k,
  // xscale[t][k] its scale):
  //   out[t * 16 + r] = sum over k < nb, in order, from 0.0f, of
  //                     float(dot_k) * (wscale[16k + r] * xscale[t][k])
  // with dot_k the exact int32 dot of row r's block k with x[t]'s, every
  // product and sum rounded to float as written: the one-token loop's
  // results, bit for bit. block == 0: per-row scales (kChannel), one
  // token scale, and no sum: out[t * 16 + r] = float(dot) *
  // (wscale[r] * xscale[t][0]) as the kChannel loop has it (bsums[t][0]
  // the sum of all of x[t]). MatMulN4Group16Scalar is the reference.
  void (*matmul_n4_group16)(const uint8_t* w, const int8_t* lut, const float* wscale, size_t cols,
                            size_t block, const int8_t* const* x, const int32_t* const* bsums,
                            const float* const* xscale, size_t nt, float* out);
};

// Bytes of one nibble-held row of `cols` codes. Row layout: chunks of 64
// codes in 32 bytes each; byte j of chunk c holds code 64c + j in its low
// nibble and code 64c + 32 + j in its high nibble (so one 32-byte load and
// a shift give a whole 64-byte vector of indices); codes past `cols` are
// index 0. The bytes of a short last chunk are all present.
inline size_t NibbleRowBytes(size_t cols) { return (cols + 63) / 64 * 32; }
// The table index of code i of a nibble row.
inline uint8_t NibbleAt(const uint8_t* row, size_t i) {
  const uint8_t b = row[i / 64 * 32 + i % 32];
  return (i % 64) < 32 ? (b & 0x0f) : (b >> 4);
}

// How a nibble view's `data` is laid out (WeightView::nibble_layout).
//   kRows: rows of NibbleRowBytes(cols), as above; params as stored.
//   kGroups16: for kBlock views whose rows are a multiple of 16, cols a
//     multiple of quant_block, and quant_block a multiple of 8, and for
//     kChannel views whose rows are a multiple of 16 and cols of 8
//     (NibbleGroupsFit): rows in groups of 16, group g in the 8 * cols bytes
//     from g * 8 * cols. Its 64-byte step s (s < cols / 8) holds row
//     16g + r's codes 8s + i in byte 4r + i's low nibble and 8s + 4 + i in
//     its high nibble (r < 16, i < 4): one load and a shift give dpbusd
//     the next four codes of 16 rows, so a block's int32 dots land one row
//     per lane and need no reduction across lanes. Params interleaved the
//     same way: block k's scale of row 16g + r at params[(g * nb + k) * 16 + r]
//     (nb = cols / quant_block; kChannel: nb = 1, so params as stored).
//     Chosen where the path has matmul_n4_group16 (blocks of 32 cost
//     their per-block reductions in the row layout: about half the speed
//     of per-row nibbles; prompts expanded rows to int8 first).
enum class NibbleLayout : uint8_t { kRows = 0, kGroups16 = 1 };
inline bool NibbleGroupsFit(QuantKind quant, size_t rows, size_t cols, size_t block) {
  const bool blocks = quant == QuantKind::kBlock && block > 0 && block % 8 == 0 && cols % block == 0;
  const bool channel = quant == QuantKind::kChannel && cols % 8 == 0;
  return (blocks || channel) && cols > 0 && rows % 16 == 0 && rows > 0;
}
inline size_t NibbleGroupBytes(size_t cols) { return 8 * cols; }
// Where block k's scale of `row` sits among a kGroups16 view's params
// (nb blocks a row; see above).
inline size_t NibbleGroupParamIndex(size_t row, size_t k, size_t nb) {
  return ((row / 16) * nb + k) * 16 + row % 16;
}
// The table index of code (row, i) of a kGroups16 matrix.
inline uint8_t NibbleGroupAt(const uint8_t* w, size_t cols, size_t row, size_t i) {
  const uint8_t b = w[(row / 16) * NibbleGroupBytes(cols) + (i / 8) * 64 + 4 * (row % 16) + i % 4];
  return (i % 8) < 4 ? (b & 0x0f) : (b >> 4);
}

// True if this CPU (and build) can run `p`.
bool KernelPathSupported(KernelPath p);
// Every path this CPU supports, scalar first.
std::vector<KernelPath> SupportedKernelPaths();
// The ops of `p`; `p` must be supported.
const KernelOps& GetKernelOps(KernelPath p);
// The best supported path (or the one TQF_MATMUL_KERNEL names; see tqf/internal/cpu_features.h).
const KernelOps& DefaultKernelOps();

// Per-path tables, defined in kernels_<path>.cc.
const KernelOps& ScalarKernelOps();
const KernelOps& Avx2KernelOps();
const KernelOps& AvxVnniKernelOps();
const KernelOps& Avx512VnniKernelOps();

// A weight matrix (rows = outputs, cols = inputs), row-major, as stored.
// `data` and `params` are borrowed.
struct WeightView {
  DType dtype = DType::kF32;
  QuantKind quant = QuantKind::kNone;
  uint32_t quant_block = 0;
  size_t rows = 0;
  size_t cols = 0;
  const uint8_t* data = nullptr;
  const float* params = nullptr;
  size_t num_params = 0;
  // Non-null: `data` holds nibble indices into these 16 int8 codes, laid
  // out as nibble_layout says, instead of int8 codes (dtype stays kI8).
  const int8_t* lut = nullptr;
  NibbleLayout nibble_layout = NibbleLayout::kRows;  // nibble views only
};

// Reusable buffers for the quantized activations of MatMul.
struct MatMulScratch {
  std::vector<int8_t> q;            // n x cols
  std::vector<float> scales;        // n x blocks
  std::vector<int32_t> sums;        // n (sum of q, for the zero point)
  std::vector<uint8_t> qu;          // n x cols: q ^ 0x80, for dot_i8_tile
  std::vector<int8_t> ones;         // cols ones: a weight row's sum is its dot with them
  std::vector<float> xscale_tiles;  // per 4-token tile, blocks x 16 (matmul_i8_block_tile)
  std::vector<int32_t> block_sums;  // n x blocks: sum of q over each block (dot_n4_blocks_rows4)
};

// The scalar path's nibble kernels: the reference the SIMD ones must equal.
int32_t DotN4Scalar(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n);
void DotN4BlocksScalar(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n, size_t block,
                       int32_t* out);
void ExpandN4Scalar(const uint8_t* w, const int8_t* lut, size_t n, int8_t* out);
void MatMulN4Group16Scalar(const uint8_t* w, const int8_t* lut, const float* wscale, size_t cols,
                           size_t block, const int8_t* const* x, const int32_t* const* bsums,
                           const float* const* xscale, size_t nt, float* out);

// y[t*w.rows + r] = sum_c W[r,c] * x[t*w.cols + c] for t < n (x is n rows of
// w.cols floats, y n rows of w.rows floats). `w` must have been validated
// (ValidateWeightView). Parallel over output rows on `threads` threads.
// Batches of 4 or more tokens over int8 weights use the path's tile
// kernels where it has them (dot_i8_tile, matmul_i8_block_tile: each
// loaded weight vector serves 4 tokens); their integer dots are exact and
// their scaling follows the one-token order, so results equal the
// one-token path bit for bit.
void MatMul(const KernelOps& ops, const WeightView& w, const float* x, size_t n, float* y,
            MatMulScratch* scratch, int threads);

// Writes row `row` of `w` as floats to out[0..w.cols).
void DequantizeRow(const WeightView& w, size_t row, float* out);

// Whether `w` is a form MatMul supports (type, quantization kind, params
// count, finite params); fills *why otherwise. `w.data` is not looked at.
bool ValidateWeightView(const WeightView& w, std::string* why);

// Quantizes n rows of `cols` floats to int8: one scale per `block` elements
// of a row (block = cols for one scale per row). q = round(x / scale),
// scale = absmax / 127. `sums` (optional) gets each row's sum of q.
void QuantizeActivations(const float* x, size_t n, size_t cols, size_t block, int8_t* q,
                         float* scales, int32_t* sums);

// ---- Small operations (scalar; cheap next to the matrix products) ----

// out = x / rms(x) * weight, rms with `eps` (llama2.c order of operations).
void RmsNorm(const float* x, const float* weight, size_t n, float eps, float* out);
// In-place softmax over x[0..n).
void Softmax(float* x, size_t n);
// a[i] = silu(a[i]) * b[i].
void SwiGlu(float* a, const float* b, size_t n);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_KERNELS_H_
