// URL helpers and the Content-Range parser.
#include "io/url.h"

#include <cctype>

#include "tqf/source.h"

namespace tqf {

namespace {

bool StartsWithNoCase(const std::string& s, const char* prefix) {
  size_t i = 0;
  for (; prefix[i] != '\0'; ++i) {
    if (i >= s.size() || std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Reads decimal digits at s[*pos...] into *v; false if none or >= 2^63.
bool ParseDecimal(const std::string& s, size_t* pos, uint64_t* v) {
  constexpr uint64_t kMax = (uint64_t{1} << 63) - 1;
  const size_t begin = *pos;
  uint64_t x = 0;
  while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
    const uint64_t d = uint64_t(s[*pos] - '0');
    if (x > (kMax - d) / 10) return false;
    x = x * 10 + d;
    ++*pos;
  }
  *v = x;
  return *pos > begin;
}

}  // namespace

bool IsRemoteUrl(const std::string& s) {
  return StartsWithNoCase(s, "http://") || StartsWithNoCase(s, "https://");
}

std::string RedactUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t start = scheme + 3;
  // The authority ends at the first '/', '?' or '#'; userinfo is what
  // precedes its last '@' (a password may itself contain '@' unescaped).
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string::npos) end = url.size();
  const size_t at = url.rfind('@', end - 1);
  if (at == std::string::npos || at < start || end == start) return url;
  return url.substr(0, start) + "***@" + url.substr(at + 1);
}

Status ParseContentRange(const std::string& value, ContentRange* out) {
  const std::string bad = "malformed Content-Range '" + value.substr(0, 80) + "'";
  size_t pos = 0;
  while (pos < value.size() && value[pos] == ' ') ++pos;
  if (value.compare(pos, 6, "bytes ") != 0) return Status::Corruption(bad);
  pos += 6;
  ContentRange r;
  if (!ParseDecimal(value, &pos, &r.first) || pos >= value.size() || value[pos++] != '-' ||
      !ParseDecimal(value, &pos, &r.last) || pos >= value.size() || value[pos++] != '/') {
    return Status::Corruption(bad);
  }
  if (!ParseDecimal(value, &pos, &r.total)) {
    return Status::Corruption(bad + " (the total size must be known)");
  }
  while (pos < value.size() && (value[pos] == ' ' || value[pos] == '\r' || value[pos] == '\n')) {
    ++pos;
  }
  if (pos != value.size()) return Status::Corruption(bad);
  if (r.first > r.last || r.last >= r.total) {
    return Status::Corruption(bad + ": range outside the total size");
  }
  *out = r;
  return Status::OK();
}

}  // namespace tqf
