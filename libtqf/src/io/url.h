// Small parsers for remote access: URL redaction and the HTTP headers a
// range reader trusts only after checking (Content-Range). Pure functions,
// unit-tested and fuzzed (fuzz/fuzz_content_range.cc): a server is hostile
// input.
#ifndef TQF_IO_URL_H_
#define TQF_IO_URL_H_

#include <cstdint>
#include <string>

#include "tqf/status.h"

namespace tqf {

// A parsed "Content-Range: bytes FIRST-LAST/TOTAL" (LAST inclusive).
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t total = 0;
};

// Parses the header's value. kCorruption unless it is exactly
// "bytes F-L/T" with decimal numbers fitting 63 bits, F <= L < T (an
// unknown total "*" is refused: a reader needs the file's size).
Status ParseContentRange(const std::string& value, ContentRange* out);

}  // namespace tqf

#endif  // TQF_IO_URL_H_
