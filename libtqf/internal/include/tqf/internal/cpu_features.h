// CPU feature detection, once per process, for every kernel family in tqf
// (the rANS decoders in libtqf, the matmul kernels in the runtime).
//
// Features come from CPUID and XGETBV directly: a vector extension counts
// only when the CPU has it *and* the OS saves its registers (YMM state for
// AVX/AVX2, ZMM and opmask state for AVX-512). __builtin_cpu_supports is
// not used: it does not know every feature in every compiler (clang 14
// lacks "avxvnni"), and it does not check OS support for each state.
//
// Overrides: one convention for every family, TQF_<FAMILY>_KERNEL=<name>
// (TQF_MATMUL_KERNEL=scalar|avx2|avxvnni|avx512vnni,
//  TQF_RANS_KERNEL=scalar|avx2|avx512|avx512vbmi). A family picks the named
// kernel if this CPU supports it and its best kernel otherwise; the names
// are listed in the README.
// Thread-safety: all functions may be called from any thread.
#ifndef TQF_INTERNAL_CPU_FEATURES_H_
#define TQF_INTERNAL_CPU_FEATURES_H_

namespace tqf {

struct CpuFeatures {
  bool popcnt = false;
  bool avx2 = false;      // with FMA and F16C and OS support for YMM state
  bool avx_vnni = false;  // AVX-VNNI (VEX-encoded), with avx2
  bool avx512f = false;   // with OS support for ZMM and opmask state
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512vbmi = false;
  bool avx512vbmi2 = false;
};

// This CPU's features (all false on non-x86 machines), detected on first use.
const CpuFeatures& GetCpuFeatures();

// The value of TQF_<family>_KERNEL (family in upper case, e.g. "MATMUL"),
// or nullptr when it is unset or empty.
const char* KernelOverride(const char* family);

}  // namespace tqf

#endif  // TQF_INTERNAL_CPU_FEATURES_H_
