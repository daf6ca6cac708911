// Internal pieces of the rANS codecs (format-spec/codec-rans.md): a static
// order-0 rANS over bytes, 64 interleaved 32-bit states, 16-bit
// renormalisation words, 12-bit frequencies, one frequency table per
// dictionary (per tensor, or shared by tensors whose statistics agree).
// Two codecs share everything but the slot layout of a table:
//   `rans` (CodecKind 2): symbol s owns the contiguous slots [cum[s], cum[s+1]);
//   `rans-alias` (CodecKind 3): 2^8 buckets of 2^(p-8) slots, each shared by at
//     most two symbols (Walker's alias method), so a decoder finds a slot's
//     symbol with 256-entry byte tables held in registers instead of gathers.
//
// Decoding runs one of several kernels that produce identical results
// (scalar, AVX2, AVX-512 gathers, AVX-512 VBMI byte tables), picked once
// from the CPU's features.
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

enum class RansLayout { kContiguous, kAlias };

// The alias layout of a table (format-spec/codec-rans.md, "Alias layout"):
// bucket b holds slots [b*B, (b+1)*B), B = 2^(p-8). Slot offset o < split[b]
// belongs to symbol b with rank o; o >= split[b] to symbol alias[b] with
// rank (adj[b] + o) mod 2^16.
struct RansAlias {
  std::array<uint16_t, 256> split{};
  std::array<uint8_t, 256> alias{};
  std::array<uint16_t, 256> adj{};
};
RansAlias BuildRansAlias(const RansFreqs& f);

// The alias layout at p = 12 as eight 256-entry byte tables indexed by
// bucket, laid out for the AVX-512 VBMI kernel (each table is four 64-byte
// vectors).
struct alignas(64) RansByteTables {
  uint8_t split[256], alias[256], adj_lo[256], adj_hi[256], freq_lo[256], freq_hi[256];
  uint8_t alias_freq_lo[256], alias_freq_hi[256];  // freq[alias[b]]
};

// Decode- and encode-ready form of one table.
class RansTables final : public CodecTables {
 public:
  RansTables(const RansFreqs& f, RansLayout layout);
  int precision() const { return precision_; }
  RansLayout layout() const { return layout_; }
  // slot -> sym | rank << 8 | freq[sym] << 20, 2^precision entries, where
  // rank is the slot's index among sym's slots (slot - cum[sym] when
  // contiguous).
  const uint32_t* decode_table() const { return decode_.data(); }
  // The byte tables (alias layout at precision 12 only; nullptr otherwise).
  const RansByteTables* byte_tables() const { return bytes_.get(); }
  uint32_t freq(uint8_t s) const { return freq_[s]; }
  // The slot of symbol s's rank r (r < freq[s]).
  uint32_t slot(uint8_t s, uint32_t r) const { return slots_[cum_[s] + r]; }

 private:
  int precision_;
  RansLayout layout_;
  std::vector<uint32_t> decode_;
  std::vector<uint16_t> slots_;  // cum[s] + rank -> slot
  std::unique_ptr<RansByteTables> bytes_;
  std::array<uint32_t, 256> freq_;
  std::array<uint32_t, 256> cum_;
};

std::unique_ptr<DictionaryBuilder> NewRansBuilder();

// Decode kernels. Each runs up to `steps` full steps (one symbol per lane,
// kRansLanes bytes of output) while at least 2 * kRansLanes stream bytes
// remain before `end`,
// updating `states`, `*p`, and returns the number of steps done.
// kAvx512Vbmi decodes alias tables at precision 12 with byte tables (and
// two blocks at once, see RansStepsAliasVbmiPair); other tables fall back
// to kAvx512.
enum class RansKernel { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Vbmi = 3 };
using RansStepsFn = size_t (*)(const uint32_t* table, int precision, uint32_t* states,
                               const uint8_t** p, const uint8_t* end, uint8_t* out, size_t steps);
size_t RansStepsScalar(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                       const uint8_t* end, uint8_t* out, size_t steps);
size_t RansStepsAvx2(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                     const uint8_t* end, uint8_t* out, size_t steps);
size_t RansStepsAvx512(const uint32_t* table, int precision, uint32_t* states, const uint8_t** p,
                       const uint8_t* end, uint8_t* out, size_t steps);

// The byte-table kernels: one block, or two blocks interleaved (independent dependency chains keep
// the core busy); the pair runs while both blocks have 2 * kRansLanes stream bytes left.
struct RansLaneRun {
  const RansByteTables* tables;
  uint32_t* states;  // kRansLanes states, updated
  const uint8_t** p;
  const uint8_t* end;
  uint8_t* out;  // step k writes out[k * kRansLanes ..]
};
size_t RansStepsAliasVbmi(const RansLaneRun& a, size_t steps);
size_t RansStepsAliasVbmiPair(const RansLaneRun& a, const RansLaneRun& b, size_t steps);

// The best kernel this CPU supports (or the one TQF_RANS_KERNEL = scalar |
// avx2 | avx512 | avx512vbmi names, if supported). SetRansKernel overrides it (tests and
// benchmarks); it returns false if the CPU lacks the kernel's features.
RansKernel ActiveRansKernel();
bool SetRansKernel(RansKernel k);
bool RansKernelSupported(RansKernel k);

}  // namespace tqf::codec_internal

#endif  // TQF_SRC_CODEC_RANS_H_
