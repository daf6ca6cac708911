// AVX-512 (F, BW, VL) + VNNI kernels. Functions carry `target` attributes,
// so this file builds with the baseline flags and is only called after the
// CPU check in kernels.cc.
#if defined(__x86_64__)
// GCC 12's avx512fintrin.h trips -Wuninitialized on _mm512_undefined_*.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

#include "kernels_internal.h"
#include "tqf/rt/kernels.h"

namespace tqf::rt {

#if defined(__x86_64__)
namespace {

#define TQF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))

// sum a*b: |a| as u8 times b with a's sign, into dpbusd (no saturation).
// b must be in [-127, 127].
TQF_AVX512 inline int32_t DotI8Avx512(const int8_t* a, const int8_t* b, size_t n) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i va = _mm512_loadu_si512(a + i);
    const __m512i vb = _mm512_loadu_si512(b + i);
    const __mmask64 neg = _mm512_movepi8_mask(va);
    acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(va), _mm512_mask_sub_epi8(vb, neg, zero, vb));
  }
  if (i < n) {
    const __mmask64 m = ~uint64_t{0} >> (64 - (n - i));
    const __m512i va = _mm512_maskz_loadu_epi8(m, a + i);
    const __m512i vb = _mm512_maskz_loadu_epi8(m, b + i);
    const __mmask64 neg = _mm512_movepi8_mask(va);
    acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(va), _mm512_mask_sub_epi8(vb, neg, zero, vb));
  }
  return _mm512_reduce_add_epi32(acc);
}

// One block of exactly 32 elements, 256-bit.
TQF_AVX512 inline int32_t DotI8Block32(const int8_t* a, const int8_t* b) {
  const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  __m256i acc =
      _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(va), _mm256_sign_epi8(vb, va));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

TQF_AVX512 int32_t DotI8(const int8_t* a, const int8_t* b, size_t n) {
  return DotI8Avx512(a, b, n);
}

TQF_AVX512 void DotI8Blocks(const int8_t* a, const int8_t* b, size_t n, size_t block,
                            int32_t* out) {
  size_t k = 0, i = 0;
  if (block == 32) {
    for (; i + 32 <= n; i += 32, ++k) out[k] = DotI8Block32(a + i, b + i);
  }
  for (; i < n; i += block, ++k) out[k] = DotI8Avx512(a + i, b + i, n - i < block ? n - i : block);
}

TQF_AVX512 float DotF32(const float* a, const float* b, size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  if (i + 16 <= n) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    i += 16;
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

TQF_AVX512 float DotF16(const uint16_t* w, const float* x, size_t n) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 wv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
    acc = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + i), acc);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i));
    acc = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

TQF_AVX512 float DotBF16(const uint16_t* w, const float* x, size_t n) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i < n; i += 16) {
    const size_t left = n - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, w + i));
    const __m512 wv = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    acc = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

}  // namespace

const KernelOps& Avx512VnniKernelOps() {
  static const KernelOps ops = {
      KernelPath::kAvx512Vnni, DotI8, DotI8Blocks, DotF32, DotF16, DotBF16};
  return ops;
}

#else

const KernelOps& Avx512VnniKernelOps() { return ScalarKernelOps(); }

#endif

}  // namespace tqf::rt
