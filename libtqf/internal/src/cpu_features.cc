// CPUID + XGETBV feature detection (see cpu_features.h).
#include "tqf/internal/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <string>

namespace tqf {
namespace {

bool Bit(unsigned reg, int bit) { return (reg >> bit) & 1u; }

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.popcnt = Bit(c, 23);
  const bool fma = Bit(c, 12), osxsave = Bit(c, 27), avx = Bit(c, 28), f16c = Bit(c, 29);
  if (!osxsave || !avx) return f;
  unsigned xlo, xhi;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm_os = (xlo & 0x6) == 0x6;              // SSE + AVX state
  const bool zmm_os = ymm_os && (xlo & 0xE0) == 0xE0;  // opmask + ZMM state
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = Bit(b, 5);
  f.avx2 = ymm_os && avx2 && fma && f16c;
  if (zmm_os) {
    f.avx512f = Bit(b, 16);
    f.avx512bw = Bit(b, 30);
    f.avx512vl = Bit(b, 31);
    f.avx512vbmi = Bit(c, 1);
    f.avx512vbmi2 = Bit(c, 6);
    f.avx512vnni = Bit(c, 11);
  }
  __cpuid_count(7, 1, a, b, c, d);
  f.avx_vnni = f.avx2 && Bit(a, 4);
#endif
  return f;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

const char* KernelOverride(const char* family) {
  const std::string var = std::string("TQF_") + family + "_KERNEL";
  const char* value = std::getenv(var.c_str());
  return value != nullptr && value[0] != '\0' ? value : nullptr;
}

}  // namespace tqf
