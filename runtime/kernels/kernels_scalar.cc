// Portable reference kernels (any CPU). The other paths must agree with
// these exactly for int8 and to rounding for fp32; see runtime_kernels_test.
#include <cstring>

#include "kernels_internal.h"
#include "tqf/rt/kernels.h"

namespace tqf::rt {
namespace {

int32_t DotI8(const int8_t* a, const int8_t* b, size_t n) {
  int32_t s = 0;
  for (size_t i = 0; i < n; ++i) s += int32_t{a[i]} * int32_t{b[i]};
  return s;
}

void DotI8Blocks(const int8_t* a, const int8_t* b, size_t n, size_t block, int32_t* out) {
  for (size_t k = 0, i = 0; i < n; i += block, ++k) {
    out[k] = DotI8(a + i, b + i, n - i < block ? n - i : block);
  }
}

float DotF32(const float* a, const float* b, size_t n) {
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void ScoresF32(const float* q, const float* k, size_t count, size_t stride, size_t dim, float scale,
               float* out) {
  for (size_t p = 0; p < count; ++p) out[p] = DotF32(q, k + p * stride, dim) * scale;
}

float DotF16(const uint16_t* w, const float* x, size_t n) {
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += F16ToF32(w[i]) * x[i];
  return s;
}

float DotBF16(const uint16_t* w, const float* x, size_t n) {
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += BF16ToF32(w[i]) * x[i];
  return s;
}

}  // namespace

int32_t DotN4Scalar(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n) {
  int32_t s = 0;
  for (size_t i = 0; i < n; ++i) s += int32_t{lut[NibbleAt(w, i)]} * int32_t{b[i]};
  return s;
}

void DotN4BlocksScalar(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n, size_t block,
                       int32_t* out) {
  for (size_t k = 0, i = 0; i < n; i += block, ++k) {
    const size_t end = n - i < block ? n : i + block;
    int32_t s = 0;
    for (size_t j = i; j < end; ++j) s += int32_t{lut[NibbleAt(w, j)]} * int32_t{b[j]};
    out[k] = s;
  }
}

void ExpandN4Scalar(const uint8_t* w, const int8_t* lut, size_t n, int8_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = lut[NibbleAt(w, i)];
}

void MatMulN4Group16Scalar(const uint8_t* w, const int8_t* lut, const float* wscale, size_t cols,
                           size_t block, const int8_t* const* x, const int32_t* const* bsums,
                           const float* const* xscale, size_t nt, float* out) {
  (void)bsums;  // the SIMD kernels' offset correction; exact dots need none
  const bool per_row = block == 0;
  const size_t span = per_row ? cols : block, nb = cols / span;
  for (size_t t = 0; t < nt; ++t) {
    for (size_t r = 0; r < 16; ++r) {
      float acc = 0.0f;
      for (size_t k = 0; k < nb; ++k) {
        int32_t dot = 0;
        for (size_t i = k * span; i < (k + 1) * span; ++i) {
          dot += int32_t{lut[NibbleGroupAt(w, cols, r, i)]} * int32_t{x[t][i]};
        }
        const float v = static_cast<float>(dot) * (wscale[16 * k + r] * xscale[t][k]);
        acc = per_row ? v : acc + v;  // kChannel: no sum from 0.0f (keeps a -0.0f)
      }
      out[t * 16 + r] = acc;
    }
  }
}

void WeightedSumF32(const float* a, const float* v, size_t count, size_t stride, size_t dim,
                    float* out) {
  for (size_t i = 0; i < dim; ++i) out[i] = 0.0f;
  for (size_t p = 0; p < count; ++p) {
    const float* vp = v + p * stride;
    for (size_t i = 0; i < dim; ++i) out[i] += a[p] * vp[i];
  }
}

const KernelOps& ScalarKernelOps() {
  static const KernelOps ops = {KernelPath::kScalar,
                                DotI8,
                                DotI8Blocks,
                                DotF32,
                                DotF16,
                                DotBF16,
                                nullptr,
                                nullptr,
                                nullptr,
                                WeightedSumF32,
                                ScoresF32,
                                DotN4Scalar,
                                DotN4BlocksScalar,
                                ExpandN4Scalar,
                                nullptr,
                                nullptr,
                                nullptr,
                                nullptr};
  return ops;
}

}  // namespace tqf::rt
