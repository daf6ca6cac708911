// Invariant: ParseSafetensors on any bytes returns a Status or a
// SourceModel whose tensors lie inside the input and convert to f32.
#include "fuzz_helpers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::AlignedCopy in(data, size);
  tqf::fuzz::CheckImported(tqf::ParseSafetensors(in.data(), in.size()), in);
  return 0;
}
