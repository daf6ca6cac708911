// Reader::Verify: decodes every block of every tensor and checks every
// checksum (dictionaries, params, seek indices, stored and decoded bytes of
// each block, and each tensor's whole decoded bytes), collecting all
// problems rather than stopping at the first.

#include <algorithm>
#include <mutex>

#include "reader/reader_impl.h"
#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {

VerifyReport Reader::Verify(int threads,
                            const std::function<void(size_t, size_t)>& progress) const {
  const Impl& r = *impl_;
  VerifyReport report;
  // Every problem's Status message names its place itself.
  auto problem = [&](std::string where, Status s) {
    report.problems.push_back({where, s.WithContext(where)});
  };
  for (size_t i = 0; i < r.dict_info.size(); ++i) {
    const DictionaryInfo& d = r.dict_info[i];
    uint64_t got = Checksum64(r.data + d.offset, d.size);
    if (got != r.dicts[i].checksum) {
      problem("dictionary " + std::to_string(i),
              Status::ChecksumMismatch("checksum " + Hex(got) + ", expected " +
                                       Hex(r.dicts[i].checksum)));
    }
  }
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < r.tensors.size(); ++i) {
    const TensorInfo& t = r.tensors[i];
    const std::string where = "tensor '" + t.name + "'";
    if (t.num_params > 0) {
      uint64_t got = Checksum64(t.params, t.num_params * sizeof(float));
      if (got != r.records[i].params_checksum) {
        problem(where + " params", Status::ChecksumMismatch("checksum " + Hex(got) + ", expected " +
                                                            Hex(r.records[i].params_checksum)));
      }
    }
    uint64_t got = Checksum64(r.data + r.records[i].index_offset,
                              uint64_t(t.block_count) * format::kIndexEntrySize);
    if (got != r.records[i].index_checksum) {
      problem(where + " seek index",
              Status::ChecksumMismatch("checksum " + Hex(got) + ", expected " +
                                       Hex(r.records[i].index_checksum)));
    }
    try {
      buf.resize(t.raw_size);
    } catch (const std::bad_alloc&) {
      problem(where, Status::ResourceExhausted("cannot allocate " + std::to_string(t.raw_size) +
                                               " bytes"));
      continue;
    }
    const long n = t.block_count;
    std::vector<Status> errors;
    r.DecodeBlocks(i, buf.data(), threads, true, &errors);
    bool blocks_ok = true;
    for (long b = 0; b < n; ++b) {
      if (!errors[b].ok()) {
        blocks_ok = false;
        // DecodeBlock's message already names the tensor and block.
        report.problems.push_back({where + " block " + std::to_string(b), errors[b]});
      }
    }
    if (blocks_ok) {
      uint64_t whole = Checksum64(buf.data(), t.raw_size);
      if (whole != r.records[i].raw_checksum) {
        problem(where, Status::ChecksumMismatch("decoded tensor checksum " + Hex(whole) +
                                                ", expected " + Hex(r.records[i].raw_checksum)));
      }
    }
    report.tensors_checked++;
    report.blocks_checked += n;
    report.bytes_decoded += t.raw_size;
    if (progress) progress(i + 1, r.tensors.size());
  }
  return report;
}

}  // namespace tqf
