// Reader::Verify: decodes every block of every tensor and checks every
// checksum (dictionaries, params, seek indices, stored and decoded bytes of
// each block, and each tensor's whole decoded bytes), and that every stored
// number is finite, collecting all problems rather than stopping at the
// first.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "io/fault_guard.h"
#include "reader/reader_impl.h"
#include "tqf/internal/half.h"
#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {
namespace {

// Index of the first non-finite element of a decoded float tensor, or -1.
// Int8 tensors have no non-finite elements (their scales are checked as
// params).
int64_t FirstNonFinite(DType dtype, const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    float v;
    if (dtype == DType::kF32) {
      std::memcpy(&v, p + 4 * i, 4);
    } else if (dtype == DType::kF16 || dtype == DType::kBF16) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      v = dtype == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
    } else {
      return -1;
    }
    if (!std::isfinite(v)) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t FirstNonFiniteParam(const float* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, p + i, 4);  // params may be read from the mapping: no aliasing tricks
    if (!std::isfinite(v)) return static_cast<int64_t>(i);
  }
  return -1;
}

class Verifier {
 public:
  Verifier(const Reader& reader, const Reader::Impl& r, int threads, VerifyReport* report)
      : reader_(reader), r_(r), threads_(threads), report_(report) {}

  void Dictionaries() {
    for (size_t i = 0; i < r_.dict_info.size(); ++i) {
      const DictionaryInfo& d = r_.dict_info[i];
      ExpectChecksum("dictionary " + std::to_string(i), r_.data + d.offset, d.size,
                     r_.dicts[i].checksum, "checksum ");
    }
    for (size_t i = 0; i < r_.codebook_info.size(); ++i) {
      const CodebookInfo& c = r_.codebook_info[i];
      ExpectChecksum("codebook " + std::to_string(i), r_.data + c.offset, c.size,
                     r_.codebooks[i].checksum, "checksum ");
    }
  }

  // Params, seek index, every block, then the whole tensor.
  void Tensor(size_t i, std::vector<uint8_t>* buf) {
    const TensorInfo& t = r_.tensors[i];
    const reader_internal::TensorRecord& rec = r_.records[i];
    const std::string where = "tensor '" + t.name + "'";
    if (t.num_params > 0) {
      ExpectChecksum(where + " params", r_.data + t.params_offset, t.params_bytes,
                     rec.params_checksum, "checksum ");
      Params(i, where);
    }
    ExpectChecksum(where + " seek index", r_.data + rec.index_offset,
                   uint64_t(t.block_count) * format::kIndexEntrySize, rec.index_checksum,
                   "checksum ");
    const Status fetched = r_.EnsureTensor(i);  // one error for a tensor that cannot be fetched
    if (!fetched.ok()) {
      Problem(where, fetched);
      if (fetched.IsIOError()) changed_ = true;  // the server or the file went away: stop
      return;
    }
    try {
      buf->resize(t.raw_size);
    } catch (const std::exception&) {  // bad_alloc, length_error
      Problem(where, Status::ResourceExhausted("cannot allocate " + std::to_string(t.raw_size) +
                                               " bytes"));
      return;
    }
    if (Blocks(i, buf->data())) {
      const uint64_t whole = Checksum64(buf->data(), t.raw_size);
      if (whole != rec.raw_checksum) {
        Problem(where, Status::ChecksumMismatch("decoded tensor checksum " + Hex(whole) +
                                                ", expected " + Hex(rec.raw_checksum)));
      }
      const int64_t bad = FirstNonFinite(t.dtype, buf->data(), t.num_elements());
      if (bad >= 0) {
        Problem(where, Status::Corruption("element " + std::to_string(bad) + " is not finite"));
      }
    }
    report_->tensors_checked++;
    report_->blocks_checked += t.block_count;
    report_->bytes_decoded += t.raw_size;
  }

  // The params decoded (from a private copy) and every one finite.
  void Params(size_t i, const std::string& where) {
    std::vector<float> p;
    try {
      p.resize(r_.tensors[i].num_params);
    } catch (const std::exception&) {
      Problem(where + " params", Status::ResourceExhausted("cannot allocate the params"));
      return;
    }
    Status st = reader_.CopyParams(i, p.data(), p.size());
    if (st.IsIOError()) changed_ = true;
    if (!st.ok()) {
      if (!st.IsChecksumMismatch()) Problem(where + " params", st);  // checksums: reported above
      return;
    }
    const int64_t bad = FirstNonFiniteParam(p.data(), p.size());
    if (bad >= 0) {
      Problem(where + " params", Status::Corruption("quantization parameter " +
                                                    std::to_string(bad) + " is not finite"));
    }
  }

  // Whether the file's mapping faulted (it shrank or was rewritten): no
  // point reading further.
  bool changed() const { return changed_; }

 private:
  // Decodes every block of tensor `i` into `out`; false if any failed.
  bool Blocks(size_t i, uint8_t* out) {
    std::vector<Status> errors;
    r_.DecodeBlocks(i, out, threads_, true, &errors);
    bool ok = true;
    for (size_t b = 0; b < errors.size(); ++b) {
      if (errors[b].ok()) continue;
      ok = false;
      if (errors[b].IsIOError()) {  // the mapping faulted: report it once
        if (changed_) continue;
        changed_ = true;
      }
      // The block's message already names the tensor and block.
      report_->problems.push_back(
          {"tensor '" + r_.tensors[i].name + "' block " + std::to_string(b), errors[b]});
    }
    return ok;
  }

  void ExpectChecksum(const std::string& where, const uint8_t* p, uint64_t size, uint64_t want,
                      const char* what) {
    uint64_t got = 0;
    if (!Guard([&] { got = Checksum64(p, size); })) return;
    if (got != want) {
      Problem(where, Status::ChecksumMismatch(what + Hex(got) + ", expected " + Hex(want)));
    }
  }

  template <class Fn>
  bool Guard(Fn&& fn) {
    if (RunGuarded(fn)) return true;
    if (!changed_) report_->problems.push_back({"file", MappedFileChangedError(r_.path())});
    changed_ = true;
    return false;
  }

  // Every problem's Status message names its place itself.
  void Problem(const std::string& where, const Status& s) {
    report_->problems.push_back({where, s.WithContext(where)});
  }

  const Reader& reader_;
  const Reader::Impl& r_;
  const int threads_;
  VerifyReport* report_;
  bool changed_ = false;
};

}  // namespace

VerifyReport Reader::Verify(int threads,
                            const std::function<void(size_t, size_t)>& progress) const {
  VerifyReport report;
  Verifier v(*this, *impl_, threads, &report);
  v.Dictionaries();
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < impl_->tensors.size() && !v.changed(); ++i) {
    v.Tensor(i, &buf);
    if (impl_->remote()) DontNeed(i);  // a remote file's verify holds one tensor at a time
    if (progress) progress(i + 1, impl_->tensors.size());
  }
  return report;
}

}  // namespace tqf
