// JSON and terminal escaping of untrusted strings (see text.h).
#include "tqf/internal/text.h"

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

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

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
