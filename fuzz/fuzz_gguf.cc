// Invariant: ParseGguf on any bytes returns a Status or a SourceModel whose
// tensors all lie inside the input and convert to f32 without crashing.
#include <vector>

#include "fuzz_helpers.h"
#include "tqf/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::AlignedCopy in(data, size);
  auto m = tqf::ParseGguf(in.data(), in.size());
  if (!m.ok()) return 0;
  for (const tqf::SourceTensor& t : m->tensors) {
    FUZZ_ASSERT(t.data >= in.data() && t.size <= in.size() &&
                size_t(t.data - in.data()) <= in.size() - t.size);
    if (t.num_elements() > (16u << 20)) continue;
    std::vector<float> f(t.num_elements());
    (void)t.ToF32(f.data());
  }
  return 0;
}
