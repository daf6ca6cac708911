// UTF-8 helpers shared by the JSON parser, the tokenizers and the tools:
// decoding that never fails (an invalid byte becomes its own
// pseudo-codepoint), encoding, and GPT-2's byte <-> printable-codepoint map
// that byte-level BPE vocabularies are written in.
// Thread-safety: pure functions over constant tables.
#ifndef TQF_INTERNAL_UTF8_H_
#define TQF_INTERNAL_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tqf {

// Marks a pseudo-codepoint made from one invalid UTF-8 byte: kInvalidBase + byte.
// It lies above U+10FFFF, so it is in no Unicode class.
inline constexpr uint32_t kInvalidCodepointBase = 0x110000;

// Decodes the UTF-8 sequence at text[pos]. Sets *len to the bytes consumed
// (1..4) and returns the codepoint. A malformed, overlong, surrogate or
// truncated sequence consumes one byte and returns kInvalidCodepointBase + byte.
// REQUIRES: pos < text.size().
uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t* len);

// Appends the UTF-8 encoding of `cp` to *out. REQUIRES: cp <= 0x10FFFF.
void AppendUtf8(uint32_t cp, std::string* out);

// GPT-2's reversible byte <-> printable-codepoint map: printable Latin-1
// bytes map to themselves, the other 68 bytes to U+0100.. in byte order
// (so ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
uint32_t ByteToCodepoint(uint8_t byte);
// The inverse; returns -1 for a codepoint that is not in the map.
int CodepointToByte(uint32_t cp);

}  // namespace tqf

#endif  // TQF_INTERNAL_UTF8_H_
