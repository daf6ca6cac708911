// Helpers for the fuzz targets: an invariant check that aborts loudly
// (the fuzzer and the replay driver both report it), and aligned copies of
// the input for APIs that need 8-byte alignment.
#ifndef TQF_FUZZ_FUZZ_HELPERS_H_
#define TQF_FUZZ_FUZZ_HELPERS_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "import/import_internal.h"
#include "tqf/import.h"

#define FUZZ_ASSERT(cond)                                                                    \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace tqf::fuzz {

// The input copied into 8-byte aligned storage.
class AlignedCopy {
 public:
  AlignedCopy(const uint8_t* data, size_t size) : words_(size / 8 + 1), size_(size) {
    if (size) std::memcpy(words_.data(), data, size);
  }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words_.data()); }
  size_t size() const { return size_; }

 private:
  std::vector<uint64_t> words_;
  size_t size_;
};

// Consumes bytes from the front of the input.
class Producer {
 public:
  Producer(const uint8_t* data, size_t size) : p_(data), left_(size) {}
  uint32_t U32() {
    uint32_t v = 0;
    size_t n = left_ < 4 ? left_ : 4;
    if (n == 0) return 0;  // p_ may be null for empty input
    std::memcpy(&v, p_, n);
    p_ += n;
    left_ -= n;
    return v;
  }
  uint8_t U8() { return left_ ? (--left_, *p_++) : 0; }
  const uint8_t* rest() const { return p_; }
  size_t left() const { return left_; }
  // Takes up to n bytes.
  std::vector<uint8_t> Take(size_t n) {
    n = n < left_ ? n : left_;
    if (n == 0) return {};
    std::vector<uint8_t> v(p_, p_ + n);
    p_ += n;
    left_ -= n;
    return v;
  }

 private:
  const uint8_t* p_;
  size_t left_;
};

// The invariant of every importer target: a parsed model's tensors lie
// inside the input and convert to f32 without crashing.
inline void CheckImported(const tqf::Result<tqf::SourceModel>& m, const AlignedCopy& in) {
  if (!m.ok()) {
    FUZZ_ASSERT(!m.status().message().empty());
    return;
  }
  for (const tqf::SourceTensor& t : m->tensors) {
    FUZZ_ASSERT(t.data >= in.data() && t.size <= in.size() &&
                size_t(t.data - in.data()) <= in.size() - t.size);
    if (t.num_elements() > (16u << 20)) continue;
    std::vector<float> f(t.num_elements());
    (void)t.ToF32(f.data());
  }
}

}  // namespace tqf::fuzz

#endif  // TQF_FUZZ_FUZZ_HELPERS_H_
