// Invariant: the JSON parser returns a value or a Status for any bytes,
// within its depth limit (no stack overflow on deeply nested input).
#include <string_view>

#include "fuzz_helpers.h"
#include "tqf/internal/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto v = tqf::json::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!v.ok()) FUZZ_ASSERT(!v.status().message().empty());
  return 0;
}
