// The `dict4` codec, the paper's code exactly (format-spec/codec-dict4.md):
// a block's bytes are read as aligned 4-byte groups; a group in the shared
// dictionary becomes its 16-bit codeword, any other group the escape
// codeword 0xFFFF followed by its 4 bytes; the last (size % 4) bytes follow
// verbatim. Codewords are little-endian.
#include <algorithm>
#include <string>

#include "codec/codec_internal.h"
#include "codec/dict4.h"

namespace tqf::codec_internal {

Dict4Tables::Dict4Tables(std::vector<uint32_t> entries)
    : entries_(std::move(entries)),
      slot_groups_(size_t{1} << kSlotBits, 0),
      slot_codes_(size_t{1} << kSlotBits, kDict4Escape) {
  for (size_t i = 0; i < entries_.size(); ++i) {
    uint32_t h = Hash(entries_[i]);
    while (slot_codes_[h] != kDict4Escape) h = (h + 1) & kSlotMask;
    slot_groups_[h] = entries_[i];
    slot_codes_[h] = static_cast<uint16_t>(i);
  }
}

std::vector<uint8_t> SerializeDict4(const std::vector<uint32_t>& entries) {
  std::vector<uint8_t> out(4 + 4 * entries.size());
  StoreLE32(out.data(), static_cast<uint32_t>(entries.size()));
  for (size_t i = 0; i < entries.size(); ++i) StoreLE32(out.data() + 4 + 4 * i, entries[i]);
  return out;
}

namespace {

Status Corrupt(const std::string& what) { return Status::Corruption("dict4 block: " + what); }

class Dict4CodecImpl final : public Codec {
 public:
  CodecKind kind() const override { return CodecKind::kDict4; }
  const char* name() const override { return "dict4"; }
  bool uses_dictionary() const override { return true; }

  std::unique_ptr<DictionaryBuilder> NewDictionaryBuilder() const override {
    return NewDict4Builder();
  }

  Result<std::shared_ptr<const CodecTables>> LoadDictionary(const uint8_t* data,
                                                            size_t size) const override {
    if (size < 4) {
      return Status::Corruption("dict4 dictionary: " + std::to_string(size) +
                                " bytes, shorter than its 4-byte entry count");
    }
    uint32_t n = LoadLE32(data);
    if (n > kDict4MaxEntries) {
      return Status::Corruption("dict4 dictionary: entry count " + std::to_string(n) +
                                " exceeds 65535");
    }
    if (size != 4 + 4 * size_t{n}) {
      return Status::Corruption("dict4 dictionary: " + std::to_string(n) + " entries need " +
                                std::to_string(4 + 4 * size_t{n}) + " bytes, have " +
                                std::to_string(size));
    }
    std::vector<uint32_t> entries(n);
    for (uint32_t i = 0; i < n; ++i) entries[i] = LoadLE32(data + 4 + 4 * size_t{i});
    std::vector<uint32_t> sorted = entries;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      return Status::Corruption("dict4 dictionary: duplicate entry");
    }
    return std::shared_ptr<const CodecTables>(std::make_shared<Dict4Tables>(std::move(entries)));
  }

  Status Encode(const CodecTables* tables, const uint8_t* in, size_t size,
                std::vector<uint8_t>* out) const override {
    const auto* t = dynamic_cast<const Dict4Tables*>(tables);
    if (t == nullptr) return Status::InvalidArgument("dict4: Encode needs dict4 tables");
    const size_t groups = size / 4, tail = size % 4;
    size_t pos = out->size();
    out->resize(pos + 6 * groups + tail);  // worst case, shrunk below
    uint8_t* o = out->data() + pos;
    for (size_t g = 0; g < groups; ++g) {
      uint32_t group = LoadLE32(in + 4 * g);
      uint16_t cw = t->Lookup(group);
      StoreLE16(o, cw);
      o += 2;
      if (cw == kDict4Escape) {
        StoreLE32(o, group);
        o += 4;
      }
    }
    for (size_t i = 0; i < tail; ++i) *o++ = in[4 * groups + i];
    out->resize(o - out->data());
    return Status::OK();
  }

  Status Decode(const CodecTables* tables, const uint8_t* in, size_t in_size, uint8_t* out,
                size_t out_size) const override {
    const auto* t = dynamic_cast<const Dict4Tables*>(tables);
    if (t == nullptr) return Status::InvalidArgument("dict4: Decode needs dict4 tables");
    const uint32_t* entries = t->entries().data();
    const uint32_t n = static_cast<uint32_t>(t->entries().size());
    const size_t groups = out_size / 4, tail = out_size % 4;
    const uint8_t* p = in;
    const uint8_t* const end = in + in_size;
    for (size_t g = 0; g < groups; ++g) {
      if (end - p < 2) return Corrupt("stream ends inside group " + std::to_string(g));
      uint16_t cw = LoadLE16(p);
      p += 2;
      if (cw < n) {
        StoreLE32(out + 4 * g, entries[cw]);
      } else if (cw == kDict4Escape) {
        if (end - p < 4) return Corrupt("stream ends inside escaped group " + std::to_string(g));
        std::memcpy(out + 4 * g, p, 4);
        p += 4;
      } else {
        return Corrupt("codeword " + std::to_string(cw) + " of group " + std::to_string(g) +
                       " is not in the " + std::to_string(n) + "-entry dictionary");
      }
    }
    if (static_cast<size_t>(end - p) != tail) {
      return Corrupt(std::to_string(end - p) + " bytes after the last codeword, expected a " +
                     std::to_string(tail) + "-byte tail");
    }
    if (tail != 0) std::memcpy(out + 4 * groups, p, tail);
    return Status::OK();
  }
};

}  // namespace

const Codec* Dict4Codec() {
  static const Dict4CodecImpl kCodec;
  return &kCodec;
}

}  // namespace tqf::codec_internal
