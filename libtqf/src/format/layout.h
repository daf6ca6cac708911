// The fixed-size structures of a .tqf (preamble, footer, seek index entry)
// and their encoders/decoders. Normative description: format-spec/tqf-format.md.
#ifndef TQF_FORMAT_LAYOUT_H_
#define TQF_FORMAT_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "tqf/status.h"

namespace tqf::format {

// "\x89TQF\r\n\x1a\n": the high-bit first byte is not ASCII and not a UTF-8
// lead byte (so text files never match and 7-bit channels are detected);
// CR LF and LF catch newline translation; 0x1a stops DOS `type` (the PNG
// signature's reasoning).
inline constexpr uint8_t kMagic[8] = {0x89, 'T', 'Q', 'F', '\r', '\n', 0x1a, '\n'};

inline constexpr uint16_t kFormatMajor = 1;
// 1.1: codec rans-alias; 1.2: compact params, codebooks, codec rans-alias-vq.
// Writers record the oldest minor a file needs (1.1 without 1.2 features).
inline constexpr uint16_t kFormatMinor = 2;

inline constexpr size_t kPreambleSize = 64;
inline constexpr size_t kFooterSize = 64;
inline constexpr size_t kIndexEntrySize = 32;
inline constexpr uint64_t kSectionAlignment = 4096;  // first section starts on a page
inline constexpr uint64_t kPayloadAlignment = 64;    // every stream/dict/params/index
inline constexpr uint64_t kHeaderAlignment = 8;

// Feature bits. Unknown incompat bits make a reader refuse the file;
// unknown compat bits are ignored.
// Bit 0 (1.2): some tensor's params are stored in a format other than f32
// (Tensor.params_format), which a 1.1 reader would misread as f32.
inline constexpr uint64_t kIncompatParamsFormats = 1;
inline constexpr uint64_t kKnownIncompatFlags = kIncompatParamsFormats;
inline constexpr uint64_t kKnownCompatFlags = 0;

struct Preamble {
  uint16_t format_major = kFormatMajor;
  uint16_t format_minor = kFormatMinor;
  uint64_t incompat_flags = 0;
  uint64_t compat_flags = 0;
  uint64_t header_offset = 0;
  uint64_t header_size = 0;
};

struct Footer {
  uint64_t header_offset = 0;
  uint64_t header_size = 0;
  uint64_t header_checksum = 0;
  uint64_t file_size = 0;
  uint16_t format_major = kFormatMajor;
  uint16_t format_minor = kFormatMinor;
  uint64_t incompat_flags = 0;
};

struct IndexEntry {
  uint64_t stored_offset = 0;  // from the tensor's data extent start
  uint32_t stored_size = 0;
  uint32_t raw_size = 0;
  uint64_t stored_checksum = 0;
  uint64_t raw_checksum = 0;
};

void EncodePreamble(const Preamble& p, uint8_t out[kPreambleSize]);
void EncodeFooter(const Footer& f, uint8_t out[kFooterSize]);
void EncodeIndexEntry(const IndexEntry& e, uint8_t out[kIndexEntrySize]);

// Decoders check magic, sizes, reserved fields and the structure's own
// checksum; version/flag policy is checked by CheckVersion.
Status DecodePreamble(const uint8_t* in, size_t size, Preamble* p);
Status DecodeFooter(const uint8_t* in, size_t size, Footer* f);
IndexEntry DecodeIndexEntry(const uint8_t* in);

// kNotSupported for a newer major / unknown incompat bits.
Status CheckVersion(uint16_t major, uint16_t minor, uint64_t incompat_flags);

}  // namespace tqf::format

#endif  // TQF_FORMAT_LAYOUT_H_
