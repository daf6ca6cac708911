// Helpers shared by the kernel files (not part of the runtime's API).
// Thread-safety: pure functions.
#ifndef TQF_RUNTIME_KERNELS_INTERNAL_H_
#define TQF_RUNTIME_KERNELS_INTERNAL_H_

#include <cstdint>
#include <cstring>

namespace tqf::rt {

// IEEE half -> float, exact for every input (subnormals, inf, NaN).
inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float BFloat16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_KERNELS_INTERNAL_H_
