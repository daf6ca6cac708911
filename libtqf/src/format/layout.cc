// Preamble, footer and seek-index entry codecs (format-spec/tqf-format.md).
#include "format/layout.h"

#include <cstring>
#include <string>

#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf::format {

namespace {

std::string MagicHex(const uint8_t* p) {
  std::string s;
  char buf[4];
  for (int i = 0; i < 8; ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", p[i]);
    s += buf;
  }
  return s;
}

}  // namespace

void EncodePreamble(const Preamble& p, uint8_t out[kPreambleSize]) {
  std::memset(out, 0, kPreambleSize);
  std::memcpy(out, kMagic, 8);
  StoreLE16(out + 8, p.format_major);
  StoreLE16(out + 10, p.format_minor);
  StoreLE32(out + 12, kPreambleSize);
  StoreLE64(out + 16, p.incompat_flags);
  StoreLE64(out + 24, p.compat_flags);
  StoreLE64(out + 32, p.header_offset);
  StoreLE64(out + 40, p.header_size);
  // 48..56 reserved, zero
  StoreLE64(out + 56, Checksum64(out, 56));
}

Status DecodePreamble(const uint8_t* in, size_t size, Preamble* p) {
  if (size < 8 || std::memcmp(in, kMagic, 8) != 0) {
    return Status::Corruption("not a .tqf file: bad magic at offset 0 (got " +
                              (size >= 8 ? MagicHex(in) : std::string("fewer than 8 bytes")) +
                              ", expected 89545146"
                              "0d0a1a0a)");
  }
  if (size < kPreambleSize) {
    return Status::Corruption("preamble truncated: file has " + std::to_string(size) +
                              " bytes, preamble needs 64");
  }
  p->format_major = LoadLE16(in + 8);
  p->format_minor = LoadLE16(in + 10);
  // Check the version before anything whose meaning a newer major may change.
  TQF_RETURN_IF_ERROR(CheckVersion(p->format_major, p->format_minor, 0));
  uint64_t stored = LoadLE64(in + 56);
  uint64_t actual = Checksum64(in, 56);
  if (stored != actual) {
    return Status::ChecksumMismatch("preamble (bytes 0..56): stored checksum " + Hex(stored) +
                                    " != computed " + Hex(actual));
  }
  uint32_t psize = LoadLE32(in + 12);
  if (psize != kPreambleSize) {
    return Status::Corruption("preamble: size field " + std::to_string(psize) + " != 64");
  }
  p->incompat_flags = LoadLE64(in + 16);
  p->compat_flags = LoadLE64(in + 24);
  p->header_offset = LoadLE64(in + 32);
  p->header_size = LoadLE64(in + 40);
  if (LoadLE64(in + 48) != 0) {
    return Status::Corruption("preamble: reserved field at offset 48 is not zero");
  }
  return CheckVersion(p->format_major, p->format_minor, p->incompat_flags);
}

void EncodeFooter(const Footer& f, uint8_t out[kFooterSize]) {
  std::memset(out, 0, kFooterSize);
  StoreLE64(out + 0, f.header_offset);
  StoreLE64(out + 8, f.header_size);
  StoreLE64(out + 16, f.header_checksum);
  StoreLE64(out + 24, f.file_size);
  StoreLE16(out + 32, f.format_major);
  StoreLE16(out + 34, f.format_minor);
  StoreLE32(out + 36, kFooterSize);
  StoreLE64(out + 40, f.incompat_flags);
  StoreLE64(out + 48, Checksum64(out, 48));
  std::memcpy(out + 56, kMagic, 8);
}

Status DecodeFooter(const uint8_t* in, size_t size, Footer* f) {
  if (size < kFooterSize) {
    return Status::Corruption("footer truncated: " + std::to_string(size) + " bytes, need 64");
  }
  if (std::memcmp(in + 56, kMagic, 8) != 0) {
    return Status::Corruption("footer: bad magic in the last 8 bytes (got " + MagicHex(in + 56) +
                              "): the file is truncated or not a .tqf");
  }
  f->format_major = LoadLE16(in + 32);
  f->format_minor = LoadLE16(in + 34);
  TQF_RETURN_IF_ERROR(CheckVersion(f->format_major, f->format_minor, 0));
  uint64_t stored = LoadLE64(in + 48);
  uint64_t actual = Checksum64(in, 48);
  if (stored != actual) {
    return Status::ChecksumMismatch("footer (last 64 bytes, checksum over its first 48): stored " +
                                    Hex(stored) + " != computed " + Hex(actual));
  }
  uint32_t fsize = LoadLE32(in + 36);
  if (fsize != kFooterSize) {
    return Status::Corruption("footer: size field " + std::to_string(fsize) + " != 64");
  }
  f->header_offset = LoadLE64(in + 0);
  f->header_size = LoadLE64(in + 8);
  f->header_checksum = LoadLE64(in + 16);
  f->file_size = LoadLE64(in + 24);
  f->incompat_flags = LoadLE64(in + 40);
  return CheckVersion(f->format_major, f->format_minor, f->incompat_flags);
}

void EncodeIndexEntry(const IndexEntry& e, uint8_t out[kIndexEntrySize]) {
  StoreLE64(out + 0, e.stored_offset);
  StoreLE32(out + 8, e.stored_size);
  StoreLE32(out + 12, e.raw_size);
  StoreLE64(out + 16, e.stored_checksum);
  StoreLE64(out + 24, e.raw_checksum);
}

IndexEntry DecodeIndexEntry(const uint8_t* in) {
  IndexEntry e;
  e.stored_offset = LoadLE64(in + 0);
  e.stored_size = LoadLE32(in + 8);
  e.raw_size = LoadLE32(in + 12);
  e.stored_checksum = LoadLE64(in + 16);
  e.raw_checksum = LoadLE64(in + 24);
  return e;
}

Status CheckVersion(uint16_t major, uint16_t minor, uint64_t incompat_flags) {
  if (major == 0 || major > kFormatMajor) {
    return Status::NotSupported("this file is .tqf format " + std::to_string(major) + "." +
                                std::to_string(minor) + " but this reader supports format " +
                                std::to_string(kFormatMajor) + ".x: use a newer tqf");
  }
  uint64_t unknown = incompat_flags & ~kKnownIncompatFlags;
  if (unknown != 0) {
    return Status::NotSupported(
        "file requires features this reader does not know (incompat flags " + Hex(unknown) +
        "): use a newer tqf");
  }
  return Status::OK();
}

}  // namespace tqf::format
