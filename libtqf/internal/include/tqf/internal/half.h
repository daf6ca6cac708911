// IEEE binary16 (half) and bfloat16 <-> float conversions, the one copy used by
// the importers, quantizers, exporters and the runtime's kernels.
//
// Exact: F16ToF32/BF16ToF32 are exact for every input (subnormals, infinities
// and NaN payloads); F32ToF16 rounds to nearest even, overflows to infinity
// and keeps NaN a NaN. Inline because the kernels call them per element.
// Thread-safety: pure functions.
#ifndef TQF_INTERNAL_HALF_H_
#define TQF_INTERNAL_HALF_H_

#include <cstdint>
#include <cstring>

namespace tqf {

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    exp = 127 - 15 + 1;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t F32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // inf or NaN (NaN keeps the top payload bits, stays NaN)
    if (abs == 0x7F800000u) return sign | 0x7C00u;
    const uint16_t m = static_cast<uint16_t>((abs >> 13) & 0x3FFu);
    return sign | 0x7C00u | (m ? m : 0x200u);
  }
  if (abs >= 0x477FF000u) return sign | 0x7C00u;  // rounds to >= 65536: inf
  const int32_t exp = static_cast<int32_t>(abs >> 23) - 127;
  if (exp < -14) {               // half subnormal (or zero): value = m * 2^-24
    if (exp < -25) return sign;  // below half of the smallest subnormal
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const int drop = -exp - 1;  // value = mant * 2^(exp-23) = (mant >> drop) * 2^-24
    uint32_t m = mant >> drop;
    const uint32_t rem = mant & ((1u << drop) - 1);
    const uint32_t half = 1u << (drop - 1);
    if (rem > half || (rem == half && (m & 1u))) ++m;
    return sign | static_cast<uint16_t>(m);  // m == 0x400 carries into the exponent correctly
  }
  // Normal: rebias, round the 13 dropped mantissa bits to nearest even.
  uint32_t h = (static_cast<uint32_t>(exp + 15) << 10) | ((abs >> 13) & 0x3FFu);
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into exponent (ok)
  return sign | static_cast<uint16_t>(h);
}

inline float BF16ToF32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace tqf

#endif  // TQF_INTERNAL_HALF_H_
