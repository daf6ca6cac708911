// JSON and terminal escaping of untrusted strings (see text.h).
#include "tqf/internal/text.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "tqf/internal/utf8.h"

namespace tqf {
namespace {

void AppendHexByte(const char* prefix, unsigned char c, std::string* out) {
  char buf[12];
  std::snprintf(buf, sizeof(buf), "%s%02x", prefix, c);
  *out += buf;
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (size_t pos = 0; pos < s.size();) {
    size_t len;
    const uint32_t cp = DecodeUtf8(s, pos, &len);
    const auto c = static_cast<unsigned char>(s[pos]);
    if (cp >= kInvalidCodepointBase) {
      AppendHexByte("\\\\x", c, &out);
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      AppendHexByte("\\u00", static_cast<unsigned char>(cp), &out);
    } else {
      out.append(s.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

template <class T>
std::string ShortestNumber(T v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string JsonNumber(double v) { return ShortestNumber(v); }
std::string JsonNumber(float v) { return ShortestNumber(v); }

std::string TerminalSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    size_t len;
    const uint32_t cp = DecodeUtf8(s, pos, &len);
    if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
               cp >= kInvalidCodepointBase) {
      for (size_t i = 0; i < len; ++i) {
        AppendHexByte("\\x", static_cast<unsigned char>(s[pos + i]), &out);
      }
    } else {
      out.append(s.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace tqf
