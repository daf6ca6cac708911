// AVX2 (+FMA, F16C) and AVX-VNNI kernels. Every function carries a
// `target` attribute, so this file builds with the baseline flags and is
// only called after the CPU check in kernels.cc.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <cstring>

#include "kernels_internal.h"
#include "tqf/rt/kernels.h"

namespace tqf::rt {

#if defined(__x86_64__) || defined(__i386__)
namespace {

#define TQF_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TQF_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
// Helpers always inlined, so every kernel ends with vzeroupper (see
// kernels_avx512.cc).
#define TQF_AVX2_INLINE TQF_AVX2 inline __attribute__((always_inline))

TQF_AVX2_INLINE int32_t HSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

TQF_AVX2_INLINE float HSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// |a| as unsigned bytes times b with a's sign: u8 x s8 products that
// maddubs/dpbusd take. b must be in [-127, 127].
TQF_AVX2_INLINE int32_t DotI8Avx2(const int8_t* a, const int8_t* b, size_t n) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
  }
  int32_t s = HSum(acc);
  for (; i < n; ++i) s += int32_t{a[i]} * int32_t{b[i]};
  return s;
}

TQF_AVXVNNI inline __attribute__((always_inline)) int32_t DotI8AvxVnni(const int8_t* a, const int8_t* b, size_t n) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    acc = _mm256_dpbusd_avx_epi32(acc, _mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
  }
  int32_t s = HSum(acc);
  for (; i < n; ++i) s += int32_t{a[i]} * int32_t{b[i]};
  return s;
}

TQF_AVX2 int32_t DotI8(const int8_t* a, const int8_t* b, size_t n) { return DotI8Avx2(a, b, n); }

TQF_AVX2 void DotI8Blocks(const int8_t* a, const int8_t* b, size_t n, size_t block, int32_t* out) {
  for (size_t k = 0, i = 0; i < n; i += block, ++k) {
    out[k] = DotI8Avx2(a + i, b + i, n - i < block ? n - i : block);
  }
}

TQF_AVXVNNI int32_t DotI8Vnni(const int8_t* a, const int8_t* b, size_t n) {
  return DotI8AvxVnni(a, b, n);
}

TQF_AVXVNNI void DotI8BlocksVnni(const int8_t* a, const int8_t* b, size_t n, size_t block,
                                 int32_t* out) {
  for (size_t k = 0, i = 0; i < n; i += block, ++k) {
    out[k] = DotI8AvxVnni(a + i, b + i, n - i < block ? n - i : block);
  }
}

TQF_AVX2 float DotF32(const float* a, const float* b, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float s = HSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

TQF_AVX2 void ScoresF32(const float* q, const float* k, size_t count, size_t stride, size_t dim,
                        float scale, float* out) {
  for (size_t p = 0; p < count; ++p) out[p] = DotF32(q, k + p * stride, dim) * scale;
}

TQF_AVX2 float DotF16(const uint16_t* w, const float* x, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8)));
    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
  }
  float s = HSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += F16ToF32(w[i]) * x[i];
  return s;
}

TQF_AVX2_INLINE __m256 LoadBf16(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

TQF_AVX2 float DotBF16(const uint16_t* w, const float* x, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(LoadBf16(w + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(LoadBf16(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  float s = HSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += BF16ToF32(w[i]) * x[i];
  return s;
}

// ---- nibble-held weights (layout: NibbleRowBytes) ----

// The 64 codes of one chunk: lo = codes 0..31, hi = codes 32..63.
TQF_AVX2_INLINE void ExpandChunkAvx2(const uint8_t* w, __m256i lut, __m256i* lo, __m256i* hi) {
  const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m256i m = _mm256_set1_epi8(0x0f);
  *lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(p, m));
  *hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(p, 4), m));
}

TQF_AVX2_INLINE __m256i LoadLutAvx2(const int8_t* lut) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut)));
}

// acc + the products of 32 codes with b[0..32), as DotI8Avx2 forms them.
TQF_AVX2_INLINE __m256i AccI8Avx2(__m256i acc, __m256i va, const int8_t* b) {
  const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// Codes [i0, i1) the plain way (tails).
inline int32_t DotN4Range(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t i0,
                          size_t i1) {
  int32_t s = 0;
  for (size_t i = i0; i < i1; ++i) s += int32_t{lut[NibbleAt(w, i)]} * int32_t{b[i]};
  return s;
}

TQF_AVX2 int32_t DotN4(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n) {
  const __m256i vl = LoadLutAvx2(lut);
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m256i lo, hi;
    ExpandChunkAvx2(w + i / 2, vl, &lo, &hi);
    acc = AccI8Avx2(AccI8Avx2(acc, lo, b + i), hi, b + i + 32);
  }
  return HSum(acc) + DotN4Range(w, lut, b, i, n);
}

TQF_AVX2 void DotN4Blocks(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n,
                          size_t block, int32_t* out) {
  if (block != 32 && block % 64 != 0) return DotN4BlocksScalar(w, lut, b, n, block, out);
  const __m256i vl = LoadLutAvx2(lut);
  const __m256i zero = _mm256_setzero_si256();
  size_t k = 0, i = 0;
  if (block == 32) {
    for (; i + 64 <= n; i += 64, k += 2) {
      __m256i lo, hi;
      ExpandChunkAvx2(w + i / 2, vl, &lo, &hi);
      out[k] = HSum(AccI8Avx2(zero, lo, b + i));
      out[k + 1] = HSum(AccI8Avx2(zero, hi, b + i + 32));
    }
  } else {
    for (; i + block <= n; i += block, ++k) {
      __m256i acc = zero;
      for (size_t j = i; j < i + block; j += 64) {
        __m256i lo, hi;
        ExpandChunkAvx2(w + j / 2, vl, &lo, &hi);
        acc = AccI8Avx2(AccI8Avx2(acc, lo, b + j), hi, b + j + 32);
      }
      out[k] = HSum(acc);
    }
  }
  for (; i < n; i += block, ++k) out[k] = DotN4Range(w, lut, b, i, n - i < block ? n : i + block);
}

// ---- nibble-held weights in groups of 16 rows (NibbleLayout::kGroups16) ----

// abs(code) (as u8) times x with code's sign, pairs summed (at most
// 2 * 128 * 127: no saturation), then 4-code sums a lane: row r's partial
// dot in lane r (of the 8 rows in `codes`).
TQF_AVX2_INLINE __m256i QuadDots(__m256i codes, __m256i abs_codes, const int8_t* x) {
  int32_t v;
  std::memcpy(&v, x, 4);
  const __m256i p16 =
      _mm256_maddubs_epi16(abs_codes, _mm256_sign_epi8(_mm256_set1_epi32(v), codes));
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

// NT (1 or 2) tokens against one group, as the AVX-512 kernel but in two
// halves of 8 rows (the 32 bytes of rows 0-7, then of rows 8-15, in each
// 64-byte step) and with exact signed products (no offset to correct).
template <int NT>
TQF_AVX2_INLINE void Group16TokensAvx2(const uint8_t* w, __m256i vl, const float* ws, size_t cols,
                                       size_t block, const int8_t* const* x,
                                       const float* const* xs, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const bool per_row = block == 0;  // kChannel: one block, its product not summed
  const size_t span = per_row ? cols : block;
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (size_t k = 0, c0 = 0; c0 < cols; ++k, c0 += span) {
    __m256i d[NT][2];
    for (int t = 0; t < NT; ++t) d[t][0] = d[t][1] = _mm256_setzero_si256();
    for (size_t c = c0; c < c0 + span; c += 8) {
      for (int h = 0; h < 2; ++h) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c * 8 + 32 * h));
        const __m256i lo = _mm256_shuffle_epi8(vl, _mm256_and_si256(v, m4));
        const __m256i hi = _mm256_shuffle_epi8(vl, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        const __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
        for (int t = 0; t < NT; ++t) {
          d[t][h] = _mm256_add_epi32(d[t][h], _mm256_add_epi32(QuadDots(lo, alo, x[t] + c),
                                                               QuadDots(hi, ahi, x[t] + c + 4)));
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 wk = _mm256_loadu_ps(ws + 16 * k + 8 * h);
      for (int t = 0; t < NT; ++t) {
        const __m256 scale = _mm256_mul_ps(wk, _mm256_set1_ps(xs[t][k]));
        const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(d[t][h]), scale);
        acc[t][h] = per_row ? v : _mm256_add_ps(acc[t][h], v);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    _mm256_storeu_ps(out + 16 * t, acc[t][0]);
    _mm256_storeu_ps(out + 16 * t + 8, acc[t][1]);
  }
}

// Tokens two at a time (16 ymm registers hold no more).
TQF_AVX2 void MatMulN4Group16Avx2(const uint8_t* w, const int8_t* lut, const float* wscale,
                                  size_t cols, size_t block, const int8_t* const* x,
                                  const int32_t* const* bsums, const float* const* xscale,
                                  size_t nt, float* out) {
  (void)bsums;  // exact signed products: no offset to correct
  const __m256i vl = LoadLutAvx2(lut);
  for (size_t t = 0; t < nt; t += 2) {
    if (nt - t >= 2) {
      Group16TokensAvx2<2>(w, vl, wscale, cols, block, x + t, xscale + t, out + 16 * t);
    } else {
      Group16TokensAvx2<1>(w, vl, wscale, cols, block, x + t, xscale + t, out + 16 * t);
    }
  }
}

TQF_AVX2 void ExpandN4(const uint8_t* w, const int8_t* lut, size_t n, int8_t* out) {
  const __m256i vl = LoadLutAvx2(lut);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m256i lo, hi;
    ExpandChunkAvx2(w + i / 2, vl, &lo, &hi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i + 32), hi);
  }
  for (; i < n; ++i) out[i] = lut[NibbleAt(w, i)];
}

}  // namespace

const KernelOps& Avx2KernelOps() {
  // No tile kernels: without dpbusd a 4 x 4 tile measured only 4% faster
  // than the one-token loop (maddubs saturates on offset bytes, so every
  // pair still needs the sign trick).
  static const KernelOps ops = {KernelPath::kAvx2, DotI8,   DotI8Blocks, DotF32,   DotF16,
                                DotBF16,           nullptr, nullptr,     nullptr,  WeightedSumF32,
                                ScoresF32,         DotN4,   DotN4Blocks, ExpandN4, nullptr,
                                nullptr,           nullptr, MatMulN4Group16Avx2};
  return ops;
}

// AVX-VNNI has dpbusd, so the AVX-512 tiles would carry over in 256-bit
// form; none of the machines this is tested on has AVX-VNNI, so it keeps
// the one-token loop rather than ship a kernel no test has run.
const KernelOps& AvxVnniKernelOps() {
  static const KernelOps ops = {KernelPath::kAvxVnni,
                                DotI8Vnni,
                                DotI8BlocksVnni,
                                DotF32,
                                DotF16,
                                DotBF16,
                                nullptr,
                                nullptr,
                                nullptr,
                                WeightedSumF32,
                                ScoresF32,
                                DotN4,  // the AVX2 ones: no AVX-VNNI machine here to test others on
                                DotN4Blocks,
                                ExpandN4,
                                nullptr,
                                nullptr,
                                nullptr,
                                MatMulN4Group16Avx2};
  return ops;
}

#else  // not x86: never selected (KernelPathSupported says no)

const KernelOps& Avx2KernelOps() { return ScalarKernelOps(); }
const KernelOps& AvxVnniKernelOps() { return ScalarKernelOps(); }

#endif

}  // namespace tqf::rt
