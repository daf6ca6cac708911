// Quantizers: fp32 source values -> stored bytes plus f32 parameters.
//
// Every scheme stores int8 codes with scales (or the values unquantized), so
// that every tensor decodes into the one form the runtime's kernels take:
// int8 * per-row / per-block / per-tensor scale (QuantKind in types.h).
//
// 8-bit schemes (format 1.0):
//   kRaw           keep the source values unquantized (F32/F16/BF16 as the
//                  source has them; Q8_0 sources are widened to F32);
//   kTensorMinMax  the paper's per-tensor asymmetric min/max, 256 levels;
//   kChannel       symmetric absmax per output row (default);
//   kBlock32       symmetric absmax per block of 32 elements of a row.
// Low-bit schemes (format 1.2; QuantSpec gives their parameters, names as
// ParseQuantSpec reads them):
//   kScalar   "q<b>[a|n]-g<G>|-row": b-bit codes (2..6) per group of G
//             elements of a row (or one group per row): symmetric levels
//             [-2^(b-1), 2^(b-1)-1], asymmetric ("a": an integer zero point
//             per group, so the code is c - z), or the fixed non-uniform
//             4-bit grid of llama.cpp's IQ4_NL ("nf4"); scales stored
//             log8 (8 bits each), chosen by a search that minimises the
//             importance-weighted squared error rather than taken from absmax;
//   kEntropy  "ec<H>": one uniform step for the whole tensor, chosen so that
//             the codes' order-0 entropy is H bits (the codec then stores
//             them at about H bits): entropy-constrained scalar quantization,
//             within a quarter bit of the rate-distortion bound at high rate.
//             Stored as one f32 step (kTensorMinMax, zero point 0), or per
//             row (log8, the step as base) when a row's largest magnitude
//             exceeds 127 steps: that row takes the smallest step that fits;
//   kVq       "vq<d>x<K>-g<G>|-row": vector quantization, the paper's
//             dictionary done as it should be: groups of d consecutive
//             elements of a row (d = 2, 4 or 8 dividing the row) replaced by
//             the nearest of K (<= 256) int8 vectors of a codebook learned by
//             weighted k-means++ (shared by tensors), after a log8 scale per
//             group of G; stored as one index byte per vector (codec
//             rans-alias-vq).
// All low-bit schemes take an optional Hessian (GPTQ error compensation,
// QuantizeInput::hessian) or per-column importance.
// Tensors with fewer than 2 dimensions (norms, biases) always stay F32.
//
// Thread-safety: pure functions.
#ifndef TQF_QUANTIZE_H_
#define TQF_QUANTIZE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tqf/result.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

enum class QuantScheme { kRaw, kTensorMinMax, kChannel, kBlock32, kScalar, kEntropy, kVq };
TQF_EXPORT const char* QuantSchemeName(QuantScheme s);  // "raw", "tensor-minmax", ...
// Parses "raw" | "tensor-minmax" | "channel" | "block32"; kInvalidArgument otherwise.
TQF_EXPORT Result<QuantScheme> ParseQuantScheme(std::string_view name);

enum class ScalarGrid : uint8_t { kSymmetric, kAsymmetric, kNf4 };

// A scheme with its parameters (see the list above).
struct QuantSpec {
  QuantScheme scheme = QuantScheme::kChannel;
  int bits = 8;                              // kScalar: code bits, 2..6
  ScalarGrid grid = ScalarGrid::kSymmetric;  // kScalar
  uint32_t group = 0;                        // kScalar, kVq: scale group (0: a row)
  double entropy_bits = 0;                   // kEntropy: target bits per code
  uint32_t vq_dim = 0, vq_entries = 0;       // kVq
  QuantSpec() = default;
  QuantSpec(QuantScheme s) : scheme(s) {}  // NOLINT: the 8-bit schemes convert
  // True for the format-1.2 schemes.
  bool low_bit() const {
    return scheme == QuantScheme::kScalar || scheme == QuantScheme::kEntropy ||
           scheme == QuantScheme::kVq;
  }
};
// "channel", "q4-g32", "nf4-g64", "q3a-row", "ec3.5", "vq4x256-g64", ...
TQF_EXPORT std::string QuantSpecName(const QuantSpec& spec);
// Parses any scheme name; kInvalidArgument (listing the forms) otherwise.
TQF_EXPORT Result<QuantSpec> ParseQuantSpec(std::string_view name);

// A vector-quantization codebook: `entries` vectors of `dim` int8 values.
struct VqCodebook {
  uint32_t dim = 0, entries = 0;
  std::vector<int8_t> vectors;  // entries x dim, row-major
  // What one int8 step of `vectors` stands for, in units of a group's RMS
  // (the vectors were learned on RMS-normalised groups): a group's scale is
  // its RMS times `unit`. Not stored in files (the scales are).
  float unit = 1.0f;
};

// A tensor as it will be stored: its bytes (what a codec encodes) and how to
// turn them back into floats.
struct QuantizedTensor {
  DType dtype = DType::kF32;  // F32/F16/BF16 (unquantized) or I8
  QuantKind quant = QuantKind::kNone;
  uint32_t quant_block = 0;   // for QuantKind::kBlock
  std::vector<uint8_t> data;  // element bytes, row-major
  std::vector<float> params;  // see QuantKind
  // How to store the params (low-bit schemes: kLog8 with this base).
  ParamsFormat params_format = ParamsFormat::kF32;
  float log8_base = 0.0f;
  // kVq: the index of each `dim`-element vector of `data` in the codebook
  // it was quantized with (what codec rans-alias-vq stores).
  std::vector<uint8_t> vq_indices;
};

// What a low-bit quantizer may use beyond the values. All optional.
struct QuantizeInput {
  // cols x cols, row-major: the second moment X^T X of the inputs this
  // matrix multiplies (calibration). With it the quantizer compensates its
  // errors (GPTQ: columns quantized in order, each error spread over the
  // columns not yet quantized through the inverse Hessian).
  const float* hessian = nullptr;
  double damping = 0.01;  // added to the diagonal, times its mean
  bool act_order = true;  // GPTQ: columns in decreasing Hessian diagonal (scalar schemes)
  // cols: per-column importance for the scale search when there is no
  // Hessian (its diagonal is used when there is one); nullptr: all 1.
  const float* importance = nullptr;
  const VqCodebook* codebook = nullptr;  // kVq: required
};

// Quantizes with any scheme (8-bit schemes ignore `input`). kVq requires
// input.codebook with vq_dim dividing `cols`. kInvalidArgument for specs
// that do not apply to this shape, non-finite values.
TQF_EXPORT Result<QuantizedTensor> QuantizeWithSpec(const QuantSpec& spec, const float* values,
                                                    size_t rows, size_t cols, size_t ndim,
                                                    DType source_dtype, const uint8_t* source_bytes,
                                                    const QuantizeInput& input = {});

// Learns a codebook of `entries` vectors of `dim` values for kVq from
// sample vectors `x` (n x dim, already divided by their group's scale, see
// VqNormalize), weighted by `w` (n, or nullptr): k-means++ initialisation,
// then Lloyd iterations; the centroids are rounded to int8 on a common
// scale so that the largest magnitude is 127. Deterministic for a seed.
TQF_EXPORT VqCodebook TrainVqCodebook(const float* x, const float* w, size_t n, uint32_t dim,
                                      uint32_t entries, int iterations, uint64_t seed);
// The training vectors of one tensor for TrainVqCodebook: each dim-element
// vector of each row divided by its group's RMS (groups of spec.group, 0 a
// row), with the group's mean importance as its weight. Every `stride`-th
// vector only (a sample), appended to *x and *w.
TQF_EXPORT void VqTrainingVectors(const QuantSpec& spec, const float* values, size_t rows,
                                  size_t cols, const float* importance, size_t stride,
                                  std::vector<float>* x, std::vector<float>* w);

// Quantizes `values` (row-major, `rows` x `cols`; 1-D tensors pass rows = 1).
// `ndim` < 2 forces F32. For kRaw, `source_dtype`/`source_bytes` are kept
// as they are when the source is F32/F16/BF16 (source_bytes must then hold
// rows*cols elements of that type); otherwise `values` are stored as F32.
TQF_EXPORT Result<QuantizedTensor> Quantize(QuantScheme scheme, const float* values, size_t rows,
                                            size_t cols, size_t ndim, DType source_dtype,
                                            const uint8_t* source_bytes);

// OK if every value of the rows x cols matrix is finite; otherwise
// kInvalidArgument naming the first non-finite one (NaN or Inf, row, column
// and element index).
TQF_EXPORT Status CheckFiniteValues(const float* values, size_t rows, size_t cols);

// Expands stored bytes back to floats. `data` holds rows*cols elements of
// `dtype`; `params` as described for `quant`. kInvalidArgument if the sizes
// do not agree.
TQF_EXPORT Status Dequantize(DType dtype, QuantKind quant, uint32_t quant_block,
                             const uint8_t* data, size_t rows, size_t cols, const float* params,
                             size_t num_params, float* out);

// ---- Compact scales: ParamsFormat::kLog8 (format-spec/tqf-format.md) ----
// Log8Scale(base, c) = 0 for c = 0, else ldexp(fl32(base * frac16[c % 16]),
// c / 16 - 8) with frac16[k] = 2^(k / 16) rounded to float: exactly
// reproducible, a 2^(1/16) (4.4%) grid from base * 2^-8 to base * 2^7.94.
TQF_EXPORT float Log8Scale(float base, uint8_t code);
// The code of `scale` if it is exactly on base's grid (or 0.0f); -1 otherwise.
TQF_EXPORT int Log8Code(float base, float scale);
// The grid scale nearest to `scale` in ratio (codes 1..255; 0 for scale <= 0).
TQF_EXPORT uint8_t NearestLog8Code(float base, float scale);
// Stored params -> n floats. kF32: 4n bytes; kLog8: 4 + n bytes.
// kCorruption if `size` does not match or the base is outside
// [2^-100, 2^100] (so that every scale is a finite normal float).
TQF_EXPORT Status DecodeParams(ParamsFormat format, const uint8_t* stored, size_t size, float* out,
                               size_t n);
// n floats -> stored params in `format`. For kLog8 every value must be
// Log8Scale(base, c) for the given base (kInvalidArgument naming the first
// that is not).
TQF_EXPORT Status EncodeParams(ParamsFormat format, float log8_base, const float* params, size_t n,
                               std::vector<uint8_t>* out);

// Number of f32 parameters a scheme stores for a rows x cols tensor.
TQF_EXPORT size_t NumQuantParams(QuantKind quant, uint32_t quant_block, size_t rows, size_t cols);

// Largest absolute rounding error the quantizer can make on an element of
// row `row`, column `col`, given its params (0 for unquantized F32).
TQF_EXPORT float QuantErrorBound(QuantKind quant, uint32_t quant_block, const float* params,
                                 size_t cols, size_t row, size_t col);

}  // namespace tqf

#endif  // TQF_QUANTIZE_H_
