// Quantizers: fp32 source values -> stored bytes plus f32 parameters.
//
// Schemes (see QuantKind in types.h for the exact formulas):
//   kRaw           keep the source values unquantized (F32/F16/BF16 as the
//                  source has them; Q8_0 sources are widened to F32);
//   kTensorMinMax  the paper's per-tensor asymmetric min/max, 256 levels;
//   kChannel       symmetric absmax per output row (default);
//   kBlock32       symmetric absmax per block of 32 elements of a row.
// Tensors with fewer than 2 dimensions (norms, biases) always stay F32.
//
// Thread-safety: pure functions.
#ifndef TQF_QUANTIZE_H_
#define TQF_QUANTIZE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tqf/result.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

enum class QuantScheme { kRaw, kTensorMinMax, kChannel, kBlock32 };
TQF_EXPORT const char* QuantSchemeName(QuantScheme s);  // "raw", "tensor-minmax", ...
// Parses "raw" | "tensor-minmax" | "channel" | "block32"; kInvalidArgument otherwise.
TQF_EXPORT Result<QuantScheme> ParseQuantScheme(std::string_view name);

// A tensor as it will be stored: its bytes (what a codec encodes) and how to
// turn them back into floats.
struct QuantizedTensor {
  DType dtype = DType::kF32;  // F32/F16/BF16 (unquantized) or I8
  QuantKind quant = QuantKind::kNone;
  uint32_t quant_block = 0;   // for QuantKind::kBlock
  std::vector<uint8_t> data;  // element bytes, row-major
  std::vector<float> params;  // see QuantKind
};

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

// Number of f32 parameters a scheme stores for a rows x cols tensor.
TQF_EXPORT size_t NumQuantParams(QuantKind quant, uint32_t quant_block, size_t rows, size_t cols);

// Largest absolute rounding error the quantizer can make on an element of
// row `row`, column `col`, given its params (0 for unquantized F32).
TQF_EXPORT float QuantErrorBound(QuantKind quant, uint32_t quant_block, const float* params,
                                 size_t cols, size_t row, size_t col);

}  // namespace tqf

#endif  // TQF_QUANTIZE_H_
