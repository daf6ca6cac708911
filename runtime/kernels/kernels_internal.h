// Helpers shared by the kernel files (not part of the runtime's API).
// Thread-safety: pure functions.
#ifndef TQF_RUNTIME_KERNELS_INTERNAL_H_
#define TQF_RUNTIME_KERNELS_INTERNAL_H_

#include <cstddef>

#include "tqf/internal/half.h"

namespace tqf::rt {

// The scalar weighted sum (KernelOps::weighted_sum_f32), for paths without
// a vector one.
void WeightedSumF32(const float* a, const float* v, size_t count, size_t stride, size_t dim,
                    float* out);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_KERNELS_INTERNAL_H_
