// Invariant: for any bytes, Reader::OpenMemory either fails with a Status
// or yields a reader whose Verify, DecodeTensor, DecodeBlock and
// DecodeTensorF32 all return (OK or an error) without crashing, reading out
// of bounds or allocating without bound.
#include <vector>

#include "fuzz_helpers.h"
#include "tqf/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::AlignedCopy in(data, size);
  for (bool verify : {true, false}) {
    tqf::ReadOptions opt;
    opt.verify_checksums = verify;
    auto r = tqf::Reader::OpenMemory(in.data(), in.size(), opt);
    if (!r.ok()) {
      FUZZ_ASSERT(!r.status().message().empty());
      continue;
    }
    (void)(*r)->Verify(1);
    for (size_t i = 0; i < (*r)->tensors().size(); ++i) {
      const tqf::TensorInfo& t = (*r)->tensors()[i];
      if (t.raw_size > (64u << 20)) continue;  // a valid header may describe big tensors
      std::vector<uint8_t> out(t.raw_size);
      (void)(*r)->DecodeTensor(i, out.data(), out.size(), 1);
      if (t.block_count > 0) {
        std::vector<uint8_t> blk(std::min<uint64_t>(t.block_size, t.raw_size));
        (void)(*r)->DecodeBlock(i, 0, blk.data(), blk.size());
      }
      std::vector<float> f(t.num_elements());
      (void)(*r)->DecodeTensorF32(i, f.data(), f.size(), 1);
    }
  }
  return 0;
}
