// Invariant: ParseGguf on any bytes returns a Status or a SourceModel whose
// tensors all lie inside the input and convert to f32 without crashing.
#include "fuzz_helpers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::AlignedCopy in(data, size);
  tqf::fuzz::CheckImported(tqf::ParseGguf(in.data(), in.size()), in);
  return 0;
}
