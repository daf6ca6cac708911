// Internals of the low-bit quantizers (quantize.h): GPTQ error
// compensation, and the nearest-vector search of vector quantization.
// Thread-safety: pure functions (parallel inside with OpenMP).
#ifndef TQF_QUANT_LOWBIT_INTERNAL_H_
#define TQF_QUANT_LOWBIT_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "tqf/quantize.h"
#include "tqf/status.h"

namespace tqf::quant_internal {

// Quantizes `width` columns in place: cols[i * rows + r] is row r of the
// i-th column of the step (original column index first_col + i); the
// callback replaces each value by its dequantized value (recording the code
// where it wants).
using ColumnStep = std::function<void(size_t first_col, size_t width, float* cols)>;

// GPTQ (Frantar et al. 2022) over W given as its transpose `wt` (cols x
// rows, so each column of W is contiguous), in place: columns are quantized
// `width` at a time in the order `order` lists them (a permutation of
// 0..cols-1 whose consecutive runs of `width` are the steps), and each
// step's error is spread over the columns not yet quantized through the
// upper Cholesky factor of the damped inverse Hessian. Without a Hessian
// (hessian == nullptr) the steps run with no compensation (round to
// nearest). On return `wt` holds the dequantized values.
// kInvalidArgument if the damped Hessian is not positive definite.
Status RunGptq(float* wt, size_t rows, size_t cols, const float* hessian, double damping,
               const std::vector<size_t>& order, size_t width, const ColumnStep& step);

// The order GPTQ's "act order" uses: columns by decreasing Hessian diagonal.
std::vector<size_t> ActOrder(const float* hessian, size_t cols);

// Index of the codebook vector nearest to v[0..dim) (squared distance,
// weighted per element by `wt` when not null), among `entries`.
uint32_t NearestVector(const int8_t* vectors, uint32_t entries, uint32_t dim, const float* v,
                       const float* wt);

}  // namespace tqf::quant_internal

#endif  // TQF_QUANT_LOWBIT_INTERNAL_H_
