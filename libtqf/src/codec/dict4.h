// Internal pieces of the `dict4` codec (the paper's fixed 4-byte-group
// dictionary code, format-spec/codec-dict4.md): its tables, dictionary
// serialization, and the statistics builder.
#ifndef TQF_SRC_CODEC_DICT4_H_
#define TQF_SRC_CODEC_DICT4_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tqf/codec.h"

namespace tqf::codec_internal {

// At most this many dictionary entries (codewords 0..65534).
inline constexpr uint32_t kDict4MaxEntries = 65535;
// The escape codeword: 4 raw bytes follow.
inline constexpr uint16_t kDict4Escape = 0xFFFF;

// A loaded dictionary. `entries[i]` is the group (4 bytes as they appear in
// the data, read as a little-endian u32) of codeword i. The encoder looks
// groups up in an open-addressing hash table.
class Dict4Tables final : public CodecTables {
 public:
  explicit Dict4Tables(std::vector<uint32_t> entries);

  const std::vector<uint32_t>& entries() const { return entries_; }
  // The codeword of `group`, or kDict4Escape when it is not in the dictionary.
  uint16_t Lookup(uint32_t group) const {
    uint32_t h = Hash(group);
    while (true) {
      uint16_t v = slot_codes_[h];
      if (v == kDict4Escape || slot_groups_[h] == group) return v;
      h = (h + 1) & kSlotMask;
    }
  }

 private:
  static constexpr int kSlotBits = 17;  // 2x the largest dictionary: load <= 0.5
  static constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
  static uint32_t Hash(uint32_t g) { return (g * 0x9E3779B1u) >> (32 - kSlotBits); }

  std::vector<uint32_t> entries_;
  std::vector<uint32_t> slot_groups_;
  std::vector<uint16_t> slot_codes_;  // kDict4Escape = empty slot
};

// The stored form: u32 entry count, then each entry's 4 bytes.
std::vector<uint8_t> SerializeDict4(const std::vector<uint32_t>& entries);

// Builder counting aligned 4-byte groups over all tensors; Add is
// thread-safe. Counting is exact for every tensor with at most 2^18
// distinct groups; a tensor with more contributes its 2^18 most frequent
// groups only (bounded memory, order-independent, so packs are
// reproducible whatever order or threads Add is called from).
std::unique_ptr<DictionaryBuilder> NewDict4Builder();

}  // namespace tqf::codec_internal

#endif  // TQF_SRC_CODEC_DICT4_H_
