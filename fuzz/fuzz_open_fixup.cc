// Invariant: as fuzz_open_verify, but the input's preamble, footer and
// header checksums (and the footer's file size) are recomputed first, so
// mutations get past the checksums into the FlatBuffers verifier and the
// structural checks of every section, tensor and seek index.
#include <cstring>
#include <vector>

#include "format/layout.h"
#include "fuzz_helpers.h"
#include "tqf/reader.h"
#include "util/checksum.h"

namespace {

void FixUp(std::vector<uint8_t>* f) {
  using namespace tqf::format;
  if (f->size() < kPreambleSize + kFooterSize) return;
  uint8_t* foot = f->data() + f->size() - kFooterSize;
  uint64_t size = f->size(), off, len;
  std::memcpy(foot + 24, &size, 8);
  std::memcpy(&off, foot + 0, 8);
  std::memcpy(&len, foot + 8, 8);
  if (off <= f->size() && len <= f->size() - off) {
    uint64_t sum = tqf::Checksum64(f->data() + off, len);
    std::memcpy(foot + 16, &sum, 8);
  }
  uint64_t fsum = tqf::Checksum64(foot, 48);
  std::memcpy(foot + 48, &fsum, 8);
  uint8_t* pre = f->data();
  std::memcpy(pre + 32, foot + 0, 16);  // preamble agrees with the footer
  uint64_t psum = tqf::Checksum64(pre, 56);
  std::memcpy(pre + 56, &psum, 8);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  FixUp(&bytes);
  tqf::fuzz::AlignedCopy in(bytes.data(), bytes.size());
  tqf::ReadOptions opt;
  opt.verify_checksums = false;  // let damaged streams reach the codecs too
  auto r = tqf::Reader::OpenMemory(in.data(), in.size(), opt);
  if (!r.ok()) {
    FUZZ_ASSERT(!r.status().message().empty());
    return 0;
  }
  (void)(*r)->Verify(1);
  for (size_t i = 0; i < (*r)->tensors().size(); ++i) {
    const tqf::TensorInfo& t = (*r)->tensors()[i];
    if (t.raw_size > (64u << 20)) continue;
    std::vector<uint8_t> out(t.raw_size);
    (void)(*r)->DecodeTensor(i, out.data(), out.size(), 1);
    std::vector<float> f(t.num_elements());
    (void)(*r)->DecodeTensorF32(i, f.data(), f.size(), 1);
  }
  return 0;
}
