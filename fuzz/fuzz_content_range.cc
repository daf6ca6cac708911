// Invariant: a server's Content-Range and URL text never crash the remote
// reader's parsers; a range that parses is one a reader may use (first <=
// last < total < 2^63), and redaction never leaves the text's userinfo.
#include <string>

#include "fuzz_helpers.h"
#include "io/url.h"
#include "tqf/source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  tqf::ContentRange r;
  const tqf::Status s = tqf::ParseContentRange(text, &r);
  if (s.ok()) {
    FUZZ_ASSERT(r.first <= r.last && r.last < r.total && r.total < (uint64_t{1} << 63));
  } else {
    FUZZ_ASSERT(s.IsCorruption() && !s.message().empty());
  }
  const std::string redacted = tqf::RedactUrl(text);
  const size_t scheme = text.find("://");
  if (scheme != std::string::npos && redacted != text) {
    FUZZ_ASSERT(redacted.compare(scheme + 3, 4, "***@") == 0);
  }
  return 0;
}
