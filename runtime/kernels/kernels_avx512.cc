// AVX-512 (F, BW, VL) + VNNI kernels. Functions carry `target` attributes,
// so this file builds with the baseline flags and is only called after the
// CPU check in kernels.cc.
#if defined(__x86_64__)
// GCC 12's avx512fintrin.h trips -Wuninitialized on _mm512_undefined_*.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

#include <cstring>

#include "kernels_internal.h"
#include "tqf/rt/kernels.h"

namespace tqf::rt {

#if defined(__x86_64__)
namespace {

#define TQF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))
// Helpers are always inlined into the kernels the op tables list: GCC ends
// a function with vzeroupper only if it takes and returns no vectors, so a
// helper left out of line (a template, or one called as a tail call) would
// return to the caller with the upper halves of the registers dirty, and
// every legacy-SSE instruction after it (the runtime's scalar code:
// SwiGlu, RmsNorm, libm calls) would pay a transition penalty on each use
// (measured: SwiGlu and expf ~36% of a prompt on the Intel VM).
#define TQF_AVX512_INLINE TQF_AVX512 inline __attribute__((always_inline))

// How far ahead the one-token loops ask for the weights they stream: 8192
// weights (8 KiB as int8, 4 KiB as nibbles). On the Intel Xeon VM these
// kernels were last measured on, the hardware prefetchers alone left a
// core at ~6-8 GB/s of its ~11 (memory-bound matrices of 98304 x 2048,
// `matmul_bench --benchmark_filter=Held`, 2 threads, 2 rounds: int8 rows
// 12.8-12.9 -> 8.5-8.9 ms, nibble rows 5.2-6.4 -> 3.1-3.2, nibble blocks
// of 32 8.7-9.5 -> 5.6-6.2; held generation of a 1B model 1.17-1.29x
// for int8 and nibble rows, 1.02-1.12x for nibble blocks of 32).
constexpr size_t kPrefetchWeights = 8192;

// A prefetch never faults, so asking past the end of a matrix is harmless;
// the address is formed as an integer (a pointer past its object is not).
// Same target and always inlined as the kernels: as a plain inline
// function GCC dropped it from the always-inlined helpers altogether.
TQF_AVX512_INLINE void PrefetchAhead(const void* p, size_t bytes) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + bytes),
               _MM_HINT_T0);
}

// sum a*b: |a| as u8 times b with a's sign, into dpbusd (no saturation).
// b must be in [-127, 127].
TQF_AVX512_INLINE int32_t DotI8Avx512(const int8_t* a, const int8_t* b, size_t n) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    PrefetchAhead(a + i, kPrefetchWeights);
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
TQF_AVX512_INLINE int32_t DotI8Block32(const int8_t* a, const int8_t* b) {
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

// The first two steps of a transposed reduction of N vectors (N a multiple
// of 4): chunk j (128 bits) of c[i] holds, in lane m, the sum of
// a[4i + m]'s lanes in chunk j.
template <int N = 16>
TQF_AVX512_INLINE void ReduceWithinChunks(const __m512i* a, __m512i* c) {
  static_assert(N % 4 == 0, "whole groups of four vectors");
  __m512i b[N / 2];
  for (int i = 0; i < N / 2; ++i) {
    b[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                            _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
  }
  for (int i = 0; i < N / 4; ++i) {
    c[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(b[2 * i], b[2 * i + 1]),
                            _mm512_unpackhi_epi64(b[2 * i], b[2 * i + 1]));
  }
}

// Sums 16 vectors: lane i of the result is the sum of a[i]'s lanes (a
// transposed reduction: 15 adds instead of 16 full horizontal sums).
TQF_AVX512_INLINE __m512i Reduce16(const __m512i* a) {
  __m512i c[4];
  ReduceWithinChunks(a, c);
  const __m512i d0 = _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], 0x88),
                                      _mm512_shuffle_i32x4(c[0], c[1], 0xdd));
  const __m512i d1 = _mm512_add_epi32(_mm512_shuffle_i32x4(c[2], c[3], 0x88),
                                      _mm512_shuffle_i32x4(c[2], c[3], 0xdd));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(d0, d1, 0x88), _mm512_shuffle_i32x4(d0, d1, 0xdd));
}

// dpbusd of one 64-byte step (masked to `len` bytes) into fresh or running
// accumulators.
TQF_AVX512_INLINE void StepTile(const int8_t* const* w, const uint8_t* const* x, size_t i,
                                size_t len, __m512i* acc) {
  const __mmask64 m = len >= 64 ? ~uint64_t{0} : ~uint64_t{0} >> (64 - len);
  __m512i wv[4];
  for (int r = 0; r < 4; ++r) wv[r] = _mm512_maskz_loadu_epi8(m, w[r] + i);
  for (int t = 0; t < 4; ++t) {
    const __m512i xv = _mm512_maskz_loadu_epi8(m, x[t] + i);
    for (int r = 0; r < 4; ++r) acc[t * 4 + r] = _mm512_dpbusd_epi32(acc[t * 4 + r], xv, wv[r]);
  }
}

// 4 weight rows x 4 unsigned-offset activation rows (see KernelOps): each
// 64-byte step loads 8 vectors for 16 dpbusd, and the 16 sums are reduced
// together once at the end.
TQF_AVX512 void DotI8Tile(const int8_t* const* w, const uint8_t* const* x, size_t n, int32_t* out) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {  // unmasked: StepTile's masked loads measured 1.8x slower here
    __m512i wv[4];
    for (int r = 0; r < 4; ++r) wv[r] = _mm512_loadu_si512(w[r] + i);
    for (int t = 0; t < 4; ++t) {
      const __m512i xv = _mm512_loadu_si512(x[t] + i);
      for (int r = 0; r < 4; ++r) acc[t * 4 + r] = _mm512_dpbusd_epi32(acc[t * 4 + r], xv, wv[r]);
    }
  }
  if (i < n) StepTile(w, x, i, n - i, acc);
  _mm512_storeu_si512(out, Reduce16(acc));
}

// The 16 accumulators' sums over each 16-byte quarter of a 64-byte step:
// q[j] lane i = sum of a[i]'s lanes 4j..4j+3.
TQF_AVX512_INLINE void ReduceQuarters(const __m512i* a, __m512i* q) {
  __m512i c[4];
  ReduceWithinChunks(a, c);
  const __m512i e0 = _mm512_shuffle_i32x4(c[0], c[1], 0x44);  // c0.0 c0.1 c1.0 c1.1
  const __m512i e1 = _mm512_shuffle_i32x4(c[2], c[3], 0x44);
  const __m512i e2 = _mm512_shuffle_i32x4(c[0], c[1], 0xee);  // c0.2 c0.3 c1.2 c1.3
  const __m512i e3 = _mm512_shuffle_i32x4(c[2], c[3], 0xee);
  q[0] = _mm512_shuffle_i32x4(e0, e1, 0x88);
  q[1] = _mm512_shuffle_i32x4(e0, e1, 0xdd);
  q[2] = _mm512_shuffle_i32x4(e2, e3, 0x88);
  q[3] = _mm512_shuffle_i32x4(e2, e3, 0xdd);
}

// Adds block k's term to the 16 (token, row) accumulators in the order of
// the one-token loop: acc + float(dot) * (weight scale * activation scale).
// `dot` still holds sum (q + 128) * w; 128 * sum(w) comes off here.
struct BlockTileArgs {
  const float* wscale;  // nb x 4: block k of row r at [4k + r]
  const int32_t* wsum;  // nb x 4, the same layout
  const float* xscale;  // nb x 16: lane t*4 + r holds token t's scale
};

TQF_AVX512_INLINE __m512 AddBlock(__m512 acc, __m512i dot, const BlockTileArgs& a, size_t k) {
  const __m512i wsum =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.wsum + 4 * k)));
  dot = _mm512_sub_epi32(dot, _mm512_slli_epi32(wsum, 7));
  const __m512 prod = _mm512_mul_ps(_mm512_broadcast_f32x4(_mm_loadu_ps(a.wscale + 4 * k)),
                                    _mm512_loadu_ps(a.xscale + 16 * k));
  return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(dot), prod));
}

// The block-quantized tile (see KernelOps::matmul_i8_block_tile): blocks of
// 16 or 32 take the quarters of each step; blocks of 64 or more
// accumulate their steps and reduce once.
TQF_AVX512 void MatMulI8BlockTile(const int8_t* const* w, const uint8_t* const* x, size_t n,
                                  size_t block, const float* wscale, const int32_t* wsum,
                                  const float* xscale, float* out) {
  const BlockTileArgs args{wscale, wsum, xscale};
  __m512 acc = _mm512_setzero_ps();
  __m512i a[16];
  size_t k = 0;
  if (block < 64) {
    const size_t per = block / 16;  // quarters per block
    for (size_t i = 0; i < n; i += 64) {
      for (int j = 0; j < 16; ++j) a[j] = _mm512_setzero_si512();
      StepTile(w, x, i, n - i, a);
      __m512i q[4];
      ReduceQuarters(a, q);
      for (size_t j = 0; j < 4 && i + 16 * j < n; j += per, ++k) {
        const __m512i dot = per == 1 ? q[j] : _mm512_add_epi32(q[j], q[j + 1]);
        acc = AddBlock(acc, dot, args, k);
      }
    }
  } else {
    for (size_t b = 0; b < n; b += block, ++k) {
      for (int j = 0; j < 16; ++j) a[j] = _mm512_setzero_si512();
      const size_t end = b + block < n ? b + block : n;
      for (size_t i = b; i < end; i += 64) StepTile(w, x, i, end - i, a);
      acc = AddBlock(acc, Reduce16(a), args, k);
    }
  }
  _mm512_storeu_ps(out, acc);
}

// ---- nibble-held weights (layout: NibbleRowBytes) ----

TQF_AVX512_INLINE __m512i LoadLut(const int8_t* lut) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lut)));
}

// The 64 codes of the chunk at `w` (32 bytes: low nibbles then high ones).
TQF_AVX512_INLINE __m512i ExpandChunk(const uint8_t* w, __m512i lut) {
  const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(p), _mm256_srli_epi16(p, 4), 1);
  return _mm512_shuffle_epi8(lut, _mm512_and_si512(both, _mm512_set1_epi8(0x0f)));
}

// acc + products of codes `va` with b's `len` (<= 64) values, as DotI8Avx512.
TQF_AVX512_INLINE __m512i AccChunk(__m512i acc, __m512i va, const int8_t* b, size_t len) {
  const __m512i vb =
      len >= 64 ? _mm512_loadu_si512(b) : _mm512_maskz_loadu_epi8(~uint64_t{0} >> (64 - len), b);
  const __mmask64 neg = _mm512_movepi8_mask(va);
  return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(va),
                             _mm512_mask_sub_epi8(vb, neg, _mm512_setzero_si512(), vb));
}

TQF_AVX512_INLINE int32_t HSum256(__m256i acc) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

TQF_AVX512 int32_t DotN4(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n) {
  const __m512i vl = LoadLut(lut);
  __m512i acc = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += 64) acc = AccChunk(acc, ExpandChunk(w + i / 2, vl), b + i, n - i);
  return _mm512_reduce_add_epi32(acc);
}

// Blocks of 32 take the halves of each chunk; multiples of 64 whole chunks.
TQF_AVX512 void DotN4Blocks(const uint8_t* w, const int8_t* lut, const int8_t* b, size_t n,
                            size_t block, int32_t* out) {
  if (block != 32 && block % 64 != 0) return DotN4BlocksScalar(w, lut, b, n, block, out);
  const __m512i vl = LoadLut(lut);
  const __m512i zero = _mm512_setzero_si512();
  size_t k = 0;
  if (block == 32) {
    size_t i = 0;
    // 8 chunks (16 blocks) at a time: their halves' sums in one transposed
    // reduction instead of 16 horizontal sums.
    for (; i + 512 <= n; i += 512, k += 16) {
      __m512i h[16];
      for (int j = 0; j < 8; ++j) {
        const __m512i a = AccChunk(zero, ExpandChunk(w + (i + 64 * j) / 2, vl), b + i + 64 * j, 64);
        h[2 * j] = _mm512_maskz_mov_epi32(0x00ff, a);
        h[2 * j + 1] = _mm512_maskz_mov_epi32(0xff00, a);
      }
      _mm512_storeu_si512(out + k, Reduce16(h));
    }
    for (; i < n; i += 64, k += 2) {
      const __m512i a = AccChunk(zero, ExpandChunk(w + i / 2, vl), b + i, n - i);
      out[k] = HSum256(_mm512_castsi512_si256(a));
      if (i + 32 < n) out[k + 1] = HSum256(_mm512_extracti64x4_epi64(a, 1));
    }
    return;
  }
  for (size_t i = 0; i < n; i += block, ++k) {
    const size_t end = n - i < block ? n : i + block;
    __m512i acc = zero;
    for (size_t j = i; j < end; j += 64)
      acc = AccChunk(acc, ExpandChunk(w + j / 2, vl), b + j, end - j);
    out[k] = _mm512_reduce_add_epi32(acc);
  }
}

// The table offset to unsigned (code + 128, i.e. code ^ 0x80), so that
// expanded codes are dpbusd's u8 operand and a token's values its s8 one as
// loaded: no per-row sign fix-up (see DotN4Rows4).
TQF_AVX512_INLINE __m512i LoadOffsetLut(const int8_t* lut) {
  return _mm512_xor_si512(LoadLut(lut), _mm512_set1_epi8(static_cast<char>(0x80)));
}

// One row, table offset to unsigned (see DotN4Rows4), two sums so that
// consecutive dpbusd do not wait for each other.
TQF_AVX512_INLINE uint32_t DotN4Offset(const uint8_t* w, __m512i vl, const int8_t* b, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    PrefetchAhead(w + i / 2, kPrefetchWeights / 2);
    acc0 = _mm512_dpbusd_epi32(acc0, ExpandChunk(w + i / 2, vl), _mm512_loadu_si512(b + i));
    acc1 =
        _mm512_dpbusd_epi32(acc1, ExpandChunk(w + i / 2 + 32, vl), _mm512_loadu_si512(b + i + 64));
  }
  for (; i < n; i += 64) {
    // Past n the token's lanes are zero, so the padding codes add nothing.
    const __m512i vb = n - i >= 64 ? _mm512_loadu_si512(b + i)
                                   : _mm512_maskz_loadu_epi8(~uint64_t{0} >> (64 - (n - i)), b + i);
    acc0 = _mm512_dpbusd_epi32(acc0, ExpandChunk(w + i / 2, vl), vb);
  }
  return static_cast<uint32_t>(_mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1)));
}

// Four rows times one token. The table is offset to unsigned (code + 128,
// i.e. code ^ 0x80) so that the expanded codes are dpbusd's u8 operand and
// b its s8 one as loaded: no per-row sign fix-up. Each sum is then
// sum (code + 128) * b, and 128 * bsum comes off at the end; the sums wrap
// modulo 2^32 (dpbusd does not saturate), so the result is exact whenever
// the true dot fits int32, as KernelOps requires. Rows are taken one after
// the other: interleaving them measured 1.8x slower (four streams within
// one 4 KiB page defeat the prefetcher).
TQF_AVX512 void DotN4Rows4(const uint8_t* w, size_t stride, const int8_t* lut, const int8_t* b,
                           size_t n, int32_t bsum, int32_t* out) {
  const __m512i vl = LoadOffsetLut(lut);
  const uint32_t offset = static_cast<uint32_t>(bsum) << 7;
  for (int r = 0; r < 4; ++r) {
    out[r] = static_cast<int32_t>(DotN4Offset(w + r * stride, vl, b, n) - offset);
  }
}

// The 16 block sums of 8 chunks' dpbusd results (chunk j: lanes 0-7 block
// 2j, lanes 8-15 block 2j + 1), in block order.
TQF_AVX512_INLINE __m512i ReduceBlockPairs8(const __m512i* a) {
  // 128-bit part p of c[i], lane m: the sum of part p of a[4i + m].
  __m512i c[2];
  ReduceWithinChunks<8>(a, c);
  // Parts 0 + 1 are a chunk's first block, 2 + 3 its second: d holds
  // [first blocks of chunks 0-3 | second of 0-3 | first of 4-7 | second of 4-7].
  const __m512i d = _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], 0x88),
                                     _mm512_shuffle_i32x4(c[0], c[1], 0xdd));
  return _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15), d);
}

// One row's blocks with the unsigned-offset table (see DotN4Rows4):
// out[k] = the exact dot of block k, 128 * bsums[k] taken off.
TQF_AVX512_INLINE void DotN4BlocksOffset(const uint8_t* w, __m512i vl, const int8_t* b,
                                         const int32_t* bsums, size_t n, size_t block,
                                         int32_t* out) {
  const __m512i zero = _mm512_setzero_si512();
  size_t k = 0, i = 0;
  if (block == 32) {
    // 8 chunks (16 blocks) at a time, their halves summed in one transposed
    // reduction, the offsets taken off 16 at a time.
    for (; i + 512 <= n; i += 512, k += 16) {
      for (int j = 0; j < 4; ++j) PrefetchAhead(w + i / 2 + 64 * j, kPrefetchWeights / 2);
      __m512i a[8];
      for (int j = 0; j < 8; ++j) {
        a[j] = _mm512_dpbusd_epi32(zero, ExpandChunk(w + (i + 64 * j) / 2, vl),
                                   _mm512_loadu_si512(b + i + 64 * j));
      }
      const __m512i off = _mm512_slli_epi32(_mm512_loadu_si512(bsums + k), 7);
      _mm512_storeu_si512(out + k, _mm512_sub_epi32(ReduceBlockPairs8(a), off));
    }
    // A chunk holds two blocks (low nibbles the first, high the second).
    for (; i < n; i += 64, k += 2) {
      const size_t len = n - i < 64 ? n - i : 64;
      const __m512i vb = _mm512_maskz_loadu_epi8(~uint64_t{0} >> (64 - len), b + i);
      const __m512i a = _mm512_dpbusd_epi32(zero, ExpandChunk(w + i / 2, vl), vb);
      out[k] = static_cast<int32_t>(static_cast<uint32_t>(HSum256(_mm512_castsi512_si256(a))) -
                                    (static_cast<uint32_t>(bsums[k]) << 7));
      if (len > 32) {
        out[k + 1] =
            static_cast<int32_t>(static_cast<uint32_t>(HSum256(_mm512_extracti64x4_epi64(a, 1))) -
                                 (static_cast<uint32_t>(bsums[k + 1]) << 7));
      }
    }
    return;
  }
  for (; i < n; i += block, ++k) {
    const size_t end = n - i < block ? n : i + block;
    __m512i acc = zero;
    for (size_t j = i; j < end; j += 64) {
      // Past the block the token's lanes are zero (so are the padding codes').
      const size_t len = end - j < 64 ? end - j : 64;
      const __m512i vb = _mm512_maskz_loadu_epi8(~uint64_t{0} >> (64 - len), b + j);
      acc = _mm512_dpbusd_epi32(acc, ExpandChunk(w + j / 2, vl), vb);
    }
    out[k] = static_cast<int32_t>(static_cast<uint32_t>(_mm512_reduce_add_epi32(acc)) -
                                  (static_cast<uint32_t>(bsums[k]) << 7));
  }
}

TQF_AVX512 void DotN4BlocksRows4(const uint8_t* w, size_t stride, const int8_t* lut,
                                 const int8_t* b, const int32_t* bsums, size_t n, size_t block,
                                 int32_t* out) {
  const size_t nb = (n + block - 1) / block;
  if (block != 32 && block % 64 != 0) {
    for (int r = 0; r < 4; ++r) DotN4BlocksScalar(w + r * stride, lut, b, n, block, out + r * nb);
    return;
  }
  const __m512i vl = LoadOffsetLut(lut);
  for (int r = 0; r < 4; ++r)
    DotN4BlocksOffset(w + r * stride, vl, b, bsums, n, block, out + r * nb);
  // GCC emits no vzeroupper here by itself (measured: the caller's SSE
  // float loop then ran 3x slower, every instruction merging into dirty
  // upper halves).
  _mm256_zeroupper();
}

// 16 blocks (k0..k0+15) of four rows scaled as vectors (the scalar
// loop's roundings) and added to acc in block order: transposed so that one
// 4-lane add takes block k of every row.
TQF_AVX512_INLINE __m128 AddScaled16(__m128 acc, const int32_t* dots, size_t nb, const float* ws,
                                     __m512 ts, size_t k0) {
  __m512 p[4];
  for (size_t i = 0; i < 4; ++i) {
    const __m512 d = _mm512_cvtepi32_ps(_mm512_loadu_si512(dots + i * nb + k0));
    p[i] = _mm512_mul_ps(d, _mm512_mul_ps(_mm512_loadu_ps(ws + i * nb + k0), ts));
  }
  // 128-bit lane j of q[m] holds block 4j + m of rows 0..3.
  const __m512 t0 = _mm512_unpacklo_ps(p[0], p[1]), t1 = _mm512_unpackhi_ps(p[0], p[1]);
  const __m512 t2 = _mm512_unpacklo_ps(p[2], p[3]), t3 = _mm512_unpackhi_ps(p[2], p[3]);
  const __m512 q[4] = {
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2))),
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2))),
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3))),
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)))};
  for (int m = 0; m < 4; ++m) acc = _mm_add_ps(acc, _mm512_castps512_ps128(q[m]));
  for (int m = 0; m < 4; ++m) acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(q[m], 1));
  for (int m = 0; m < 4; ++m) acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(q[m], 2));
  for (int m = 0; m < 4; ++m) acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(q[m], 3));
  return acc;
}

// KernelOps::sum_scaled_blocks4.
TQF_AVX512 void SumScaledBlocks4(const int32_t* dots, size_t nb, const float* wscale,
                                 const float* xscale, float* out) {
  __m128 acc = _mm_setzero_ps();
  size_t k = 0;
  for (; k + 16 <= nb; k += 16)
    acc = AddScaled16(acc, dots, nb, wscale, _mm512_loadu_ps(xscale + k), k);
  alignas(16) float a[4];
  _mm_store_ps(a, acc);
  for (; k < nb; ++k) {
    for (size_t i = 0; i < 4; ++i) {
      a[i] += static_cast<float>(dots[i * nb + k]) * (wscale[i * nb + k] * xscale[k]);
    }
  }
  for (size_t i = 0; i < 4; ++i) out[i] = a[i];
}

// ---- nibble-held weights in groups of 16 rows (NibbleLayout::kGroups16) ----

// Four bytes of a token, broadcast to every lane (dpbusd's s8 operand).
TQF_AVX512_INLINE __m512i Broadcast4(const int8_t* x) {
  int32_t v;
  std::memcpy(&v, x, 4);
  return _mm512_set1_epi32(v);
}

// NT tokens against one group (see KernelOps::matmul_n4_group16). Each
// 64-byte step expands to the next four codes of all 16 rows twice (low
// and high nibbles), and dpbusd leaves row r's partial dot in lane r: a
// block's dots need no reduction across lanes, only the offset correction
// (expanded codes are code + 128) and one scaled add per lane, in the
// one-token loop's order.
template <int NT>
TQF_AVX512_INLINE void Group16Tokens(const uint8_t* w, __m512i vl, const float* ws, size_t cols,
                                     size_t block, const int8_t* const* x,
                                     const int32_t* const* bsums, const float* const* xs,
                                     float* out) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const bool per_row = block == 0;  // kChannel: one block, its product not summed
  const size_t span = per_row ? cols : block;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (size_t k = 0, c0 = 0; c0 < cols; ++k, c0 += span) {
    __m512i lo[NT], hi[NT];  // two chains a token: consecutive dpbusd need not wait
    for (int t = 0; t < NT; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
    for (size_t c = c0; c < c0 + span; c += 8) {
      const uint8_t* p = w + c * 8;
      PrefetchAhead(p, kPrefetchWeights / 2);
      const __m512i v = _mm512_loadu_si512(p);
      const __m512i a = _mm512_shuffle_epi8(vl, _mm512_and_si512(v, m4));
      const __m512i b = _mm512_shuffle_epi8(vl, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
      for (int t = 0; t < NT; ++t) {
        lo[t] = _mm512_dpbusd_epi32(lo[t], a, Broadcast4(x[t] + c));
        hi[t] = _mm512_dpbusd_epi32(hi[t], b, Broadcast4(x[t] + c + 4));
      }
    }
    const __m512 wk = _mm512_loadu_ps(ws + 16 * k);
    for (int t = 0; t < NT; ++t) {
      // 128 * the block's token sum comes off modulo 2^32: exact, as the
      // true dot fits int32.
      const __m512i off = _mm512_set1_epi32(
          static_cast<int32_t>(128u * static_cast<uint32_t>(bsums[t][k])));
      const __m512i dot = _mm512_sub_epi32(_mm512_add_epi32(lo[t], hi[t]), off);
      const __m512 scale = _mm512_mul_ps(wk, _mm512_set1_ps(xs[t][k]));
      const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), scale);
      acc[t] = per_row ? v : _mm512_add_ps(acc[t], v);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + 16 * t, acc[t]);
}

TQF_AVX512 void MatMulN4Group16(const uint8_t* w, const int8_t* lut, const float* wscale,
                                size_t cols, size_t block, const int8_t* const* x,
                                const int32_t* const* bsums, const float* const* xscale, size_t nt,
                                float* out) {
  const __m512i vl = LoadOffsetLut(lut);
  switch (nt) {
    case 1: return Group16Tokens<1>(w, vl, wscale, cols, block, x, bsums, xscale, out);
    case 2: return Group16Tokens<2>(w, vl, wscale, cols, block, x, bsums, xscale, out);
    case 3: return Group16Tokens<3>(w, vl, wscale, cols, block, x, bsums, xscale, out);
    default: return Group16Tokens<4>(w, vl, wscale, cols, block, x, bsums, xscale, out);
  }
}

TQF_AVX512 void ExpandN4(const uint8_t* w, const int8_t* lut, size_t n, int8_t* out) {
  const __m512i vl = LoadLut(lut);
  for (size_t i = 0; i < n; i += 64) {
    const __m512i v = ExpandChunk(w + i / 2, vl);
    if (n - i >= 64) {
      _mm512_storeu_si512(out + i, v);
    } else {
      _mm512_mask_storeu_epi8(out + i, ~uint64_t{0} >> (64 - (n - i)), v);
    }
  }
}

// QuantizeActivations for one row, vectorized with the same arithmetic:
// absmax (|x| by clearing the sign), scale = amax / 127, round(x * 127 /
// amax) to nearest even (lrintf's mode; cvtps uses MXCSR's, the same),
// clamped to [-127, 127]. Returns the row's sum of q.
TQF_AVX512 int32_t QuantizeRowI8(const float* x, size_t cols, size_t block, int8_t* q,
                                 float* scales) {
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  __m512i sum = _mm512_setzero_si512();
  for (size_t k = 0, begin = 0; begin < cols; begin += block, ++k) {
    const size_t end = begin + block < cols ? begin + block : cols;
    __m512 vmax = _mm512_setzero_ps();
    for (size_t i = begin; i < end; i += 16) {
      const __mmask16 m = end - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (end - i)) - 1);
      // |x| first: vmaxps returns its second operand when either is NaN, so a
      // NaN is ignored as std::max(amax, fabs(x)) ignores it.
      vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + i)), vmax);
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    for (size_t i = begin; i < end; i += 16) {
      const __mmask16 m = end - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (end - i)) - 1);
      __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
      r = _mm512_max_epi32(_mm512_min_epi32(r, hi), lo);
      sum = _mm512_add_epi32(sum, _mm512_maskz_mov_epi32(m, r));
      _mm512_mask_cvtepi32_storeu_epi8(q + i, m, r);
    }
    scales[k] = amax / 127.0f;
  }
  return _mm512_reduce_add_epi32(sum);
}

// The weighted sum with 64 outputs held in registers across the count
// (heads of up to 64; wider ones in slices of 64): mul then add, as the
// scalar loop rounds.
TQF_AVX512 void WeightedSumF32Avx512(const float* a, const float* v, size_t count, size_t stride,
                                     size_t dim, float* out) {
  for (size_t i0 = 0; i0 < dim; i0 += 64) {
    const size_t left = dim - i0;
    __mmask16 m[4];
    for (int j = 0; j < 4; ++j) {
      const size_t lo = 16 * static_cast<size_t>(j);
      m[j] = left >= lo + 16 ? 0xffff
             : left > lo     ? static_cast<__mmask16>((1u << (left - lo)) - 1)
                             : 0;
    }
    __m512 acc[4];
    for (int j = 0; j < 4; ++j) acc[j] = _mm512_setzero_ps();
    for (size_t p = 0; p < count; ++p) {
      const __m512 ap = _mm512_set1_ps(a[p]);
      const float* vp = v + p * stride + i0;
      for (int j = 0; j < 4; ++j) {
        acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(ap, _mm512_maskz_loadu_ps(m[j], vp + 16 * j)));
      }
    }
    for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(out + i0 + 16 * j, m[j], acc[j]);
  }
}

// DotF32's 16 partial sums of a . b, before the final reduction.
TQF_AVX512_INLINE __m512 DotF32Lanes(const float* a, const float* b, size_t n) {
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
  return _mm512_add_ps(acc0, acc1);
}

// The final reduction, spelled out (lanes 8 apart, then 4, 2, 1) so that
// ReduceF32x16 below can reproduce it exactly for 16 sums at once.
TQF_AVX512_INLINE float HSumF32(__m512 v) {
  const __m256 t8 = _mm256_add_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)),
                                  _mm512_castps512_ps256(v));
  const __m128 t4 = _mm_add_ps(_mm256_extractf128_ps(t8, 1), _mm256_castps256_ps128(t8));
  const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
  return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
}

TQF_AVX512 float DotF32(const float* a, const float* b, size_t n) {
  return HSumF32(DotF32Lanes(a, b, n));
}

// HSumF32 of 16 vectors at once: lane i of the result is HSumF32(v[i]),
// bit for bit (the same pairs added in the same order, transposed).
TQF_AVX512_INLINE __m512 ReduceF32x16(const __m512* v) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i) {  // lanes 8 apart: b[i] = v[2i] (chunks 0-1), v[2i+1] (2-3)
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xee),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44));
  }
  for (int i = 0; i < 4; ++i) {  // 4 apart: chunk j of c[i] is v[4i + j]
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xdd),
                         _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88));
  }
  for (int i = 0; i < 2; ++i) {  // 2 apart: chunk j of d[i] is v[4(2i) + j] x2, v[4(2i+1) + j] x2
    d[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0xee));
  }
  // 1 apart: chunk j holds v[j], v[4 + j], v[8 + j], v[12 + j]; the adds
  // pair lane 0 + lane 1 of each, as HSumF32's last step does.
  const __m512 e =
      _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xdd));
  const __m512i to_order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(to_order, e);
}

// DotF32Lanes for a fixed size (a multiple of 32) with `q` already in
// registers: the same fused multiply-adds in the same order, without the
// loop's bookkeeping, which dominates for one head (64 or 128 floats).
template <int kVecs>
TQF_AVX512_INLINE __m512 DotF32LanesFixed(const __m512* q, const float* k) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (int j = 0; j < kVecs; j += 2) {
    acc0 = _mm512_fmadd_ps(q[j], _mm512_loadu_ps(k + 16 * j), acc0);
    acc1 = _mm512_fmadd_ps(q[j + 1], _mm512_loadu_ps(k + 16 * j + 16), acc1);
  }
  return _mm512_add_ps(acc0, acc1);
}

// Scores of positions [p0, p0 + m), m <= 16, into out[p0..).
template <int kVecs>
TQF_AVX512_INLINE void ScoresBlock(const __m512* q, const float* k, size_t p0, size_t m,
                                   size_t stride, __m512 scale, float* out) {
  __m512 lanes[16];
  for (size_t j = 0; j < 16; ++j) {
    lanes[j] = j < m ? DotF32LanesFixed<kVecs>(q, k + (p0 + j) * stride) : _mm512_setzero_ps();
  }
  const __mmask16 mask = m == 16 ? 0xffff : static_cast<__mmask16>((1u << m) - 1);
  _mm512_mask_storeu_ps(out + p0, mask, _mm512_mul_ps(ReduceF32x16(lanes), scale));
}

template <int kVecs>
TQF_AVX512 void ScoresFixed(const float* q, const float* k, size_t count, size_t stride,
                            __m512 scale, float* out) {
  __m512 qv[kVecs];
  for (int j = 0; j < kVecs; ++j) qv[j] = _mm512_loadu_ps(q + 16 * j);
  for (size_t p0 = 0; p0 < count; p0 += 16) {
    ScoresBlock<kVecs>(qv, k, p0, count - p0 < 16 ? count - p0 : 16, stride, scale, out);
  }
}

// Attention scores 16 positions at a time (see KernelOps::scores_f32);
// heads of 64 and 128 (LLaMA's) take the fixed-size dot products.
TQF_AVX512 void ScoresF32(const float* q, const float* k, size_t count, size_t stride, size_t dim,
                          float scale, float* out) {
  const __m512 vscale = _mm512_set1_ps(scale);
  if (dim == 64) return ScoresFixed<4>(q, k, count, stride, vscale, out);
  if (dim == 128) return ScoresFixed<8>(q, k, count, stride, vscale, out);
  for (size_t p0 = 0; p0 < count; p0 += 16) {
    const size_t m = count - p0 < 16 ? count - p0 : 16;
    __m512 lanes[16];
    for (size_t j = 0; j < 16; ++j) {
      lanes[j] = j < m ? DotF32Lanes(q, k + (p0 + j) * stride, dim) : _mm512_setzero_ps();
    }
    const __mmask16 mask = m == 16 ? 0xffff : static_cast<__mmask16>((1u << m) - 1);
    _mm512_mask_storeu_ps(out + p0, mask, _mm512_mul_ps(ReduceF32x16(lanes), vscale));
  }
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
  static const KernelOps ops = {KernelPath::kAvx512Vnni,
                                DotI8,
                                DotI8Blocks,
                                DotF32,
                                DotF16,
                                DotBF16,
                                DotI8Tile,
                                MatMulI8BlockTile,
                                QuantizeRowI8,
                                WeightedSumF32Avx512,
                                ScoresF32,
                                DotN4,
                                DotN4Blocks,
                                ExpandN4,
                                DotN4Rows4,
                                DotN4BlocksRows4,
                                SumScaledBlocks4,
                                MatMulN4Group16};
  return ops;
}

#else

const KernelOps& Avx512VnniKernelOps() { return ScalarKernelOps(); }

#endif

}  // namespace tqf::rt
