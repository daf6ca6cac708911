// SIMD rANS decode kernels (AVX2: 8 vectors of 8 lanes; AVX-512: 4 of 16,
// gathering from the packed slot table; AVX-512 VBMI: byte tables in
// registers for alias-layout tables) and the runtime choice between them. Each gives exactly the
// scalar kernel's results: lanes renormalise in lane order, taking consecutive 16-bit words.
// Compiled with per-function target attributes, so the library needs no
// global -mavx flags and runs on any x86-64 (or other) CPU.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "codec/rans.h"
#include "tqf/internal/cpu_features.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TQF_RANS_X86 1
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns about the intrinsics' internal _mm*_undefined() operands.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace tqf::codec_internal {

#ifdef TQF_RANS_X86
namespace {

// Stream bytes prefetched ahead of the decoder (prefetches never fault, so
// running past the end of the stream is harmless).
constexpr int kPrefetchAhead = 512;

// pshufb controls that move the first popcount(m) words of a 16-byte load
// into the 16-bit lanes whose bit is set in m (others zero).
struct ExpandLut {
  alignas(16) uint8_t ctl[256][16];
  ExpandLut() {
    for (int m = 0; m < 256; ++m) {
      int k = 0;
      for (int j = 0; j < 8; ++j) {
        bool take = (m >> j) & 1;
        ctl[m][2 * j] = take ? static_cast<uint8_t>(2 * k) : 0x80;
        ctl[m][2 * j + 1] = take ? static_cast<uint8_t>(2 * k + 1) : 0x80;
        k += take;
      }
    }
  }
};
const ExpandLut kExpandLut;

// Gathers merge into their destination register, so hardware makes each wait
// for whatever last wrote that register (often the previous gather's chain).
// The kernels therefore gather into a zeroed register under a mask `all` that
// the compiler cannot prove full (it would drop the zeroing otherwise).
__attribute__((target("avx2,popcnt"), always_inline)) inline __m256i Avx2Lane8(__m256i x, const uint32_t* table,
                                                                __m256i slot_mask, __m128i shift,
                                                                __m256i mask12, __m256i all,
                                                                const uint8_t** p, __m256i* sym) {
  __m256i e =
      _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(table),
                                  _mm256_and_si256(x, slot_mask), all, 4);
  *sym = e;
  __m256i f = _mm256_srli_epi32(e, 20);
  __m256i b = _mm256_and_si256(_mm256_srli_epi32(e, 8), mask12);
  x = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srl_epi32(x, shift)), b);
  __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(x, 16), _mm256_setzero_si256());
  int m = _mm256_movemask_ps(_mm256_castsi256_ps(need));
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(*p));
  __m128i ctl = _mm_load_si128(reinterpret_cast<const __m128i*>(kExpandLut.ctl[m]));
  __m256i w = _mm256_cvtepu16_epi32(_mm_shuffle_epi8(raw, ctl));
  *p += 2 * _mm_popcnt_u32(static_cast<unsigned>(m));
  return _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), w), need);
}

}  // namespace

__attribute__((target("avx2,popcnt"))) size_t RansStepsAvx2(const uint32_t* table, int precision,
                                                            uint32_t* states, const uint8_t** pp,
                                                            const uint8_t* end, uint8_t* out,
                                                            size_t steps) {
  constexpr int kVecs = kRansLanes / 8;
  const uint8_t* p = *pp;
  __m256i x[kVecs];
  for (int v = 0; v < kVecs; ++v) {
    x[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states + 8 * v));
  }
  const __m256i slot_mask = _mm256_set1_epi32((1 << precision) - 1);
  const __m128i shift = _mm_cvtsi32_si128(precision);
  const __m256i mask12 = _mm256_set1_epi32(0xFFF);
  const __m256i byte_mask = _mm256_set1_epi32(0xFF);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i all = _mm256_set1_epi32(-1);
  __asm__("" : "+x"(all));  // opaque to the optimiser
  size_t k = 0;
  for (; k < steps && end - p >= 2 * kRansLanes; ++k) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchAhead), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; v += 4) {
      __m256i s0, s1, s2, s3;
      x[v] = Avx2Lane8(x[v], table, slot_mask, shift, mask12, all, &p, &s0);
      x[v + 1] = Avx2Lane8(x[v + 1], table, slot_mask, shift, mask12, all, &p, &s1);
      x[v + 2] = Avx2Lane8(x[v + 2], table, slot_mask, shift, mask12, all, &p, &s2);
      x[v + 3] = Avx2Lane8(x[v + 3], table, slot_mask, shift, mask12, all, &p, &s3);
      __m256i a =
          _mm256_packus_epi32(_mm256_and_si256(s0, byte_mask), _mm256_and_si256(s1, byte_mask));
      __m256i b =
          _mm256_packus_epi32(_mm256_and_si256(s2, byte_mask), _mm256_and_si256(s3, byte_mask));
      __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + kRansLanes * k + 8 * v), bytes);
    }
  }
  for (int v = 0; v < kVecs; ++v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(states + 8 * v), x[v]);
  }
  *pp = p;
  return k;
}

#define TQF_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,popcnt")))

TQF_AVX512_TARGET size_t RansStepsAvx512(const uint32_t* table, int precision, uint32_t* states,
                                         const uint8_t** pp, const uint8_t* end, uint8_t* out,
                                         size_t steps) {
  constexpr int kVecs = kRansLanes / 16;
  const uint8_t* p = *pp;
  __m512i x[kVecs];
  for (int v = 0; v < kVecs; ++v) x[v] = _mm512_loadu_si512(states + 16 * v);
  const __m512i slot_mask = _mm512_set1_epi32((1 << precision) - 1);
  const __m128i shift = _mm_cvtsi32_si128(precision);
  const __m512i mask12 = _mm512_set1_epi32(0xFFF);
  const __m512i low = _mm512_set1_epi32(static_cast<int>(kRansLow));
  __mmask16 all = 0xFFFF;
  __asm__("" : "+k"(all));  // opaque to the optimiser
  size_t k = 0;
  // Four independent 16-lane chains; all gathers issue first, then the
  // arithmetic, then the renormalisations (an expanding load of exactly the
  // words the lanes below L need, in lane order).
  for (; k < steps && end - p >= 2 * kRansLanes; ++k) {
    // The words feed the state chain directly: keep the stream in L1 ahead
    // of the decoder (hardware prefetch alone loses ~1/3 of the speed on
    // data not already in cache).
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchAhead), _MM_HINT_T0);
    __m512i e[kVecs];
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) {
      e[v] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), all,
                                         _mm512_and_si512(x[v], slot_mask), table, 4);
    }
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + kRansLanes * k + 16 * v),
                       _mm512_cvtepi32_epi8(e[v]));
      __m512i f = _mm512_srli_epi32(e[v], 20);
      __m512i b = _mm512_and_si512(_mm512_srli_epi32(e[v], 8), mask12);
      x[v] = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srl_epi32(x[v], shift)), b);
    }
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) {
      __mmask16 need = _mm512_cmplt_epu32_mask(x[v], low);
      __m256i w = _mm256_maskz_expandloadu_epi16(need, p);
      p += 2 * _mm_popcnt_u32(need);
      x[v] =
          _mm512_mask_or_epi32(x[v], need, _mm512_slli_epi32(x[v], 16), _mm512_cvtepu16_epi32(w));
    }
  }
  for (int v = 0; v < kVecs; ++v) _mm512_storeu_si512(states + 16 * v, x[v]);
  *pp = p;
  return k;
}

// ---- AVX-512 VBMI: alias-layout tables (p = 12) without gathers.
//
// A step of 64 lanes: the 64 slots t = x & 0xFFF are packed to bytes
// b = t >> 4 (bucket) and o = t & 15 (offset); eight 256-entry byte tables
// (four 64-byte vectors each, looked up with two vpermi2b and a blend on
// bit 7) give split[b], alias[b], adj[b] and the frequencies of b and of
// alias[b] (2 bytes each) for all 64 lanes at once; the 16-bit ranks and frequencies are
// unpacked back to the lanes' dword order. Packing with packus and
// unpacking with unpacklo/hi are exact inverses (both work within 128-bit
// lanes), so only the output bytes need one permutation. Each block's step
// is one long dependency chain, so two blocks (RansStepsAliasVbmiPair) are
// interleaved to keep the core busy.
namespace {

#define TQF_VBMI_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,popcnt")))

// table[idx] for 64 byte indices, table a 256-byte array; `hi` = bit 7 of
// each index (which half of the table).
TQF_VBMI_TARGET inline __attribute__((always_inline)) __m512i LookupBytes(const uint8_t* table, __m512i idx, __mmask64 hi) {
  const __m512i lo_half =
      _mm512_permutex2var_epi8(_mm512_load_si512(table), idx, _mm512_load_si512(table + 64));
  const __m512i hi_half =
      _mm512_permutex2var_epi8(_mm512_load_si512(table + 128), idx, _mm512_load_si512(table + 192));
  return _mm512_mask_blend_epi8(hi, lo_half, hi_half);
}

// The tables stay in memory (L1): the 24 vectors they would take as
// registers leave too few for the states, which GCC then spills onto the
// dependency chain (measured 1.25x slower). For the same reason a block's
// four state vectors are named variables, not an array.
struct AliasLanes {
  __m512i x0, x1, x2, x3;
  const uint8_t* p;
};

#define TQF_VBMI_INLINE TQF_VBMI_TARGET inline __attribute__((always_inline))

TQF_VBMI_INLINE AliasLanes LoadLanes(const RansLaneRun& r) {
  return {_mm512_loadu_si512(r.states), _mm512_loadu_si512(r.states + 16),
          _mm512_loadu_si512(r.states + 32), _mm512_loadu_si512(r.states + 48), *r.p};
}

TQF_VBMI_INLINE void StoreLanes(const AliasLanes& l, const RansLaneRun& r) {
  _mm512_storeu_si512(r.states, l.x0);
  _mm512_storeu_si512(r.states + 16, l.x1);
  _mm512_storeu_si512(r.states + 32, l.x2);
  _mm512_storeu_si512(r.states + 48, l.x3);
  *r.p = l.p;
}

// x = freq * (x >> 12) + rank, for 16 lanes.
TQF_VBMI_INLINE __m512i Advance(__m512i x, __m512i freq, __m512i rank) {
  return _mm512_add_epi32(_mm512_mullo_epi32(freq, _mm512_srli_epi32(x, 12)), rank);
}

// One step's symbols and state updates (no renormalisation).
TQF_VBMI_INLINE void AliasDecode(const RansByteTables* tb, AliasLanes* l, uint8_t* out) {
  const __m512i m12 = _mm512_set1_epi32(0xFFF), w15 = _mm512_set1_epi16(15);
  const __m512i zero = _mm512_setzero_si512();
  // Packed byte 16L + 4v + j is lane 4L + j of vector v: output byte
  // 16v + 4L + j. As dwords: output dword 4v + L takes packed dword 4L + v.
  const __m512i out_order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  _mm_prefetch(reinterpret_cast<const char*>(l->p + kPrefetchAhead), _MM_HINT_T0);
  const __m512i w0 =
      _mm512_packus_epi32(_mm512_and_si512(l->x0, m12), _mm512_and_si512(l->x1, m12));
  const __m512i w1 =
      _mm512_packus_epi32(_mm512_and_si512(l->x2, m12), _mm512_and_si512(l->x3, m12));
  const __m512i bucket = _mm512_packus_epi16(_mm512_srli_epi16(w0, 4), _mm512_srli_epi16(w1, 4));
  const __m512i o0 = _mm512_and_si512(w0, w15), o1 = _mm512_and_si512(w1, w15);
  const __m512i off = _mm512_packus_epi16(o0, o1);
  const __mmask64 hi = _mm512_movepi8_mask(bucket);
  const __mmask64 side = _mm512_cmpge_epu8_mask(off, LookupBytes(tb->split, bucket, hi));
  const __m512i sym = _mm512_mask_blend_epi8(side, bucket, LookupBytes(tb->alias, bucket, hi));
  const __m512i adj_lo = _mm512_maskz_mov_epi8(side, LookupBytes(tb->adj_lo, bucket, hi));
  const __m512i adj_hi = _mm512_maskz_mov_epi8(side, LookupBytes(tb->adj_hi, bucket, hi));
  const __m512i f_lo = _mm512_mask_blend_epi8(side, LookupBytes(tb->freq_lo, bucket, hi),
                                              LookupBytes(tb->alias_freq_lo, bucket, hi));
  const __m512i f_hi = _mm512_mask_blend_epi8(side, LookupBytes(tb->freq_hi, bucket, hi),
                                              LookupBytes(tb->alias_freq_hi, bucket, hi));
  _mm512_storeu_si512(out, _mm512_permutexvar_epi32(out_order, sym));
  // rank = o + adj (adj = 0 in a symbol's own bucket), mod 2^16.
  const __m512i r01 = _mm512_add_epi16(_mm512_unpacklo_epi8(adj_lo, adj_hi), o0);
  const __m512i r23 = _mm512_add_epi16(_mm512_unpackhi_epi8(adj_lo, adj_hi), o1);
  const __m512i f01 = _mm512_unpacklo_epi8(f_lo, f_hi), f23 = _mm512_unpackhi_epi8(f_lo, f_hi);
  l->x0 = Advance(l->x0, _mm512_unpacklo_epi16(f01, zero), _mm512_unpacklo_epi16(r01, zero));
  l->x1 = Advance(l->x1, _mm512_unpackhi_epi16(f01, zero), _mm512_unpackhi_epi16(r01, zero));
  l->x2 = Advance(l->x2, _mm512_unpacklo_epi16(f23, zero), _mm512_unpacklo_epi16(r23, zero));
  l->x3 = Advance(l->x3, _mm512_unpackhi_epi16(f23, zero), _mm512_unpackhi_epi16(r23, zero));
}

// Renormalisation of two vectors: lanes in order take consecutive words,
// exactly the words the lanes below L need, with one 32-word expanding load
// (vpexpandw from memory; the masked load touches no other bytes). One load
// per vector measured 1.08x slower, and two 8-lane pshufb expansions per
// vector, as in the AVX2 kernel, 1.08x slower again.
TQF_VBMI_INLINE void Renorm2(__m512i* x, __m512i* y, const uint8_t** p) {
  const __m512i low = _mm512_set1_epi32(static_cast<int>(kRansLow));
  const __mmask16 nx = _mm512_cmplt_epu32_mask(*x, low), ny = _mm512_cmplt_epu32_mask(*y, low);
  const __mmask32 need = _mm512_kunpackw(ny, nx);
  const __m512i w = _mm512_maskz_expandloadu_epi16(need, *p);
  *p += 2 * _mm_popcnt_u32(need);
  *x = _mm512_mask_or_epi32(*x, nx, _mm512_slli_epi32(*x, 16),
                            _mm512_cvtepu16_epi32(_mm512_castsi512_si256(w)));
  *y = _mm512_mask_or_epi32(*y, ny, _mm512_slli_epi32(*y, 16),
                            _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(w, 1)));
}

TQF_VBMI_INLINE void AliasRenorm(AliasLanes* l) {
  Renorm2(&l->x0, &l->x1, &l->p);
  Renorm2(&l->x2, &l->x3, &l->p);
}

}  // namespace

TQF_VBMI_TARGET size_t RansStepsAliasVbmi(const RansLaneRun& a, size_t steps) {
  AliasLanes la = LoadLanes(a);
  size_t k = 0;
  for (; k < steps && a.end - la.p >= 2 * kRansLanes; ++k) {
    AliasDecode(a.tables, &la, a.out + kRansLanes * k);
    AliasRenorm(&la);
  }
  StoreLanes(la, a);
  return k;
}

// Each block's step is one long dependency chain; two independent blocks
// let the core overlap them (1.7x the throughput of one).
TQF_VBMI_TARGET size_t RansStepsAliasVbmiPair(const RansLaneRun& a, const RansLaneRun& b,
                                              size_t steps) {
  AliasLanes la = LoadLanes(a), lb = LoadLanes(b);
  size_t k = 0;
  for (; k < steps && a.end - la.p >= 2 * kRansLanes && b.end - lb.p >= 2 * kRansLanes; ++k) {
    AliasDecode(a.tables, &la, a.out + kRansLanes * k);
    AliasDecode(b.tables, &lb, b.out + kRansLanes * k);
    AliasRenorm(&la);
    AliasRenorm(&lb);
  }
  StoreLanes(la, a);
  StoreLanes(lb, b);
  return k;
}

#undef TQF_VBMI_INLINE

#else  // !TQF_RANS_X86: the SIMD entry points fall back to scalar.

size_t RansStepsAvx2(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                     const uint8_t* end, uint8_t* out, size_t steps) {
  return RansStepsScalar(table, precision, states, p, end, out, steps);
}
size_t RansStepsAvx512(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                       const uint8_t* end, uint8_t* out, size_t steps) {
  return RansStepsScalar(table, precision, states, p, end, out, steps);
}
// Never selected: RansKernelSupported(kAvx512Vbmi) is false here.
size_t RansStepsAliasVbmi(const RansLaneRun&, size_t) { return 0; }
size_t RansStepsAliasVbmiPair(const RansLaneRun&, const RansLaneRun&, size_t) { return 0; }

#endif

namespace {

RansKernel BestKernel() {
  RansKernel best = RansKernel::kScalar;
  if (RansKernelSupported(RansKernel::kAvx512Vbmi)) {
    best = RansKernel::kAvx512Vbmi;
  } else if (RansKernelSupported(RansKernel::kAvx512)) {
    best = RansKernel::kAvx512;
  } else if (RansKernelSupported(RansKernel::kAvx2)) {
    best = RansKernel::kAvx2;
  }
  const char* env = KernelOverride("RANS");
  if (env != nullptr) {
    RansKernel want = best;
    if (std::strcmp(env, "scalar") == 0) want = RansKernel::kScalar;
    if (std::strcmp(env, "avx2") == 0) want = RansKernel::kAvx2;
    if (std::strcmp(env, "avx512") == 0) want = RansKernel::kAvx512;
    if (std::strcmp(env, "avx512vbmi") == 0) want = RansKernel::kAvx512Vbmi;
    if (RansKernelSupported(want)) best = want;
  }
  return best;
}

std::atomic<int>& KernelSlot() {
  static std::atomic<int> slot{static_cast<int>(BestKernel())};
  return slot;
}

}  // namespace

bool RansKernelSupported(RansKernel k) {
  switch (k) {
    case RansKernel::kScalar: return true;
#ifdef TQF_RANS_X86
    case RansKernel::kAvx2: return GetCpuFeatures().avx2 && GetCpuFeatures().popcnt;
    case RansKernel::kAvx512: {
      const CpuFeatures& f = GetCpuFeatures();
      return f.avx512f && f.avx512bw && f.avx512vl && f.avx512vbmi2 && f.popcnt;
    }
    case RansKernel::kAvx512Vbmi:
      return RansKernelSupported(RansKernel::kAvx512) && GetCpuFeatures().avx512vbmi;
#else
    default: return false;
#endif
  }
  return false;
}

RansKernel ActiveRansKernel() {
  return static_cast<RansKernel>(KernelSlot().load(std::memory_order_relaxed));
}

bool SetRansKernel(RansKernel k) {
  if (!RansKernelSupported(k)) return false;
  KernelSlot().store(static_cast<int>(k), std::memory_order_relaxed);
  return true;
}

}  // namespace tqf::codec_internal
