// Internal pieces of the `rans` codec (format-spec/codec-rans.md): a static
// order-0 rANS over bytes, 64 interleaved 32-bit states, 16-bit
// renormalisation words, 12-bit frequencies, one frequency table per
// dictionary (per tensor, or shared by tensors whose statistics agree).
//
// Decoding runs one of several kernels that produce identical results
// (scalar, AVX2, AVX-512), picked once from the CPU's features.
#ifndef TQF_SRC_CODEC_RANS_H_
#define TQF_SRC_CODEC_RANS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tqf/codec.h"

namespace tqf::codec_internal {

inline constexpr int kRansLanes = 64;           // interleaved states per block
inline constexpr uint32_t kRansLow = 1u << 16;  // L: states live in [L, 2^32)
inline constexpr int kRansMinPrecision = 8;     // accepted table precisions
inline constexpr int kRansMaxPrecision = 15;
inline constexpr int kRansDefaultPrecision = 12;  // what writers use
// Every frequency is below 2^12 whatever the precision, so that a decode
// entry packs symbol (8 bits), slot offset (12) and frequency (12) in 32.
inline constexpr uint32_t kRansMaxFreq = 4095;

// A frequency table: freq[s] slots of 2^precision for byte s.
struct RansFreqs {
  int precision = kRansDefaultPrecision;
  std::array<uint32_t, 256> freq{};
};

// Scales a histogram to frequencies summing to exactly 2^precision, every
// byte that occurs getting at least 1 and none more than
// min(kRansMaxFreq, 2^precision - 1), greedily minimising the coded size. An
// empty histogram gives a flat table.
RansFreqs NormalizeFreqs(const uint64_t* counts, int precision);

// Serialized size (bytes) of a table, and its encoding (see the spec).
std::vector<uint8_t> SerializeRansFreqs(const RansFreqs& f);
// Parses and validates stored bytes (kCorruption on any violation).
Status ParseRansFreqs(const uint8_t* data, size_t size, RansFreqs* out);

// Coded size in bits of data with histogram `counts` under table `f`;
// returns a negative value when some byte that occurs has frequency 0.
double RansCostBits(const uint64_t* counts, const RansFreqs& f);

// Decode- and encode-ready form of one table.
class RansTables final : public CodecTables {
 public:
  explicit RansTables(const RansFreqs& f);
  int precision() const { return precision_; }
  // slot -> sym | (slot - cum[sym]) << 8 | freq[sym] << 20; 2^precision entries.
  const uint32_t* decode_table() const { return decode_.data(); }
  uint32_t freq(uint8_t s) const { return freq_[s]; }
  uint32_t cum(uint8_t s) const { return cum_[s]; }

 private:
  int precision_;
  std::vector<uint32_t> decode_;
  std::array<uint32_t, 256> freq_;
  std::array<uint32_t, 256> cum_;
};

std::unique_ptr<DictionaryBuilder> NewRansBuilder();

// Decode kernels. Each runs up to `steps` full steps (one symbol per lane,
// kRansLanes bytes of output) while at least 2 * kRansLanes stream bytes
// remain before `end`,
// updating `states`, `*p`, and returns the number of steps done.
enum class RansKernel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
using RansStepsFn = size_t (*)(const uint32_t* table, int precision, uint32_t* states,
                               const uint8_t** p, const uint8_t* end, uint8_t* out, size_t steps);
size_t RansStepsScalar(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                       const uint8_t* end, uint8_t* out, size_t steps);
size_t RansStepsAvx2(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                     const uint8_t* end, uint8_t* out, size_t steps);
size_t RansStepsAvx512(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                       const uint8_t* end, uint8_t* out, size_t steps);

// The best kernel this CPU supports (or the one TQF_RANS_KERNEL = scalar |
// avx2 | avx512 names, if supported). SetRansKernel overrides it (tests and
// benchmarks); it returns false if the CPU lacks the kernel's features.
RansKernel ActiveRansKernel();
bool SetRansKernel(RansKernel k);
bool RansKernelSupported(RansKernel k);

}  // namespace tqf::codec_internal

#endif  // TQF_SRC_CODEC_RANS_H_
