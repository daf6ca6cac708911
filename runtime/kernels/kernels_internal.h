// Helpers shared by the kernel files (not part of the runtime's API).
// Thread-safety: pure functions.
#ifndef TQF_RUNTIME_KERNELS_INTERNAL_H_
#define TQF_RUNTIME_KERNELS_INTERNAL_H_

#include "tqf/internal/half.h"

#endif  // TQF_RUNTIME_KERNELS_INTERNAL_H_
