// Codec rans-alias-vq (CodecKind 4, format 1.2): vector quantization
// indices, one byte per `dim` consecutive elements, coded with rans-alias
// and expanded through the tensor's codebook on decode.
//
// The tensor's decoded bytes are the expanded int8 codes (so blocks, the
// seek index and checksums are in decoded bytes as for every codec); its
// dictionary is an ordinary rans-alias frequency table over the index bytes;
// the codebook comes from the header (Reader/Writer combine the two with
// CombineVqTables). Blocks hold a whole number of vectors except a tensor's
// last, whose last vector may be cut short (only its first bytes are kept).
#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "codec/codec_internal.h"
#include "codec/rans.h"
#include "tqf/codec.h"

namespace tqf {
namespace codec_internal {
namespace {

constexpr uint32_t kMaxDim = 8;
constexpr uint32_t kMaxEntries = 256;

uint64_t Key(const uint8_t* v, uint32_t n) {
  uint64_t k = 0;
  for (uint32_t i = 0; i < n; ++i) k |= uint64_t{v[i]} << (8 * i);
  return k;
}

class CodebookTables final : public CodecTables {
 public:
  CodebookTables(uint32_t dim, uint32_t entries, const int8_t* vectors)
      : dim_(dim), entries_(entries), vectors_(vectors, vectors + size_t{dim} * entries) {
    for (uint32_t e = 0; e < entries; ++e) {
      index_.emplace(Key(reinterpret_cast<const uint8_t*>(&vectors_[size_t{e} * dim]), dim), e);
    }
  }
  uint32_t dim() const { return dim_; }
  uint32_t entries() const { return entries_; }
  const int8_t* vector(uint32_t e) const { return &vectors_[size_t{e} * dim_]; }
  // The index of the vector whose first `n` bytes are v[0..n) (n = dim: an
  // exact match, the first such entry), or -1.
  int Find(const uint8_t* v, uint32_t n) const {
    if (n == dim_) {
      auto it = index_.find(Key(v, n));
      return it == index_.end() ? -1 : static_cast<int>(it->second);
    }
    for (uint32_t e = 0; e < entries_; ++e) {
      if (std::memcmp(vector(e), v, n) == 0) return static_cast<int>(e);
    }
    return -1;
  }

 private:
  uint32_t dim_, entries_;
  std::vector<int8_t> vectors_;
  std::unordered_map<uint64_t, uint32_t> index_;  // first index of each vector
};

class VqTables final : public CodecTables {
 public:
  VqTables(std::shared_ptr<const CodecTables> rans, std::shared_ptr<const CodecTables> codebook)
      : rans_(std::move(rans)), codebook_(std::move(codebook)) {}
  const CodecTables* rans() const { return rans_.get(); }
  const CodebookTables* codebook() const {
    return dynamic_cast<const CodebookTables*>(codebook_.get());
  }

 private:
  std::shared_ptr<const CodecTables> rans_, codebook_;
};

Status Bad(const std::string& what) { return Status::Corruption("rans-alias-vq block: " + what); }

class VqCodec final : public Codec {
 public:
  CodecKind kind() const override { return CodecKind::kRansAliasVq; }
  const char* name() const override { return "rans-alias-vq"; }
  bool uses_dictionary() const override { return true; }
  bool uses_codebook() const override { return true; }

  // The dictionary is a rans-alias table over the index bytes.
  std::unique_ptr<DictionaryBuilder> NewDictionaryBuilder() const override {
    return RansAliasCodec()->NewDictionaryBuilder();
  }
  Result<std::shared_ptr<const CodecTables>> LoadDictionary(const uint8_t* data,
                                                            size_t size) const override {
    return RansAliasCodec()->LoadDictionary(data, size);
  }

  Status Encode(const CodecTables* tables, const uint8_t* in, size_t size,
                std::vector<uint8_t>* out) const override {
    const auto* t = dynamic_cast<const VqTables*>(tables);
    if (t == nullptr || t->codebook() == nullptr) {
      return Status::InvalidArgument("rans-alias-vq: Encode needs a codebook (CombineVqTables)");
    }
    const CodebookTables& cb = *t->codebook();
    std::vector<uint8_t> indices((size + cb.dim() - 1) / cb.dim());
    for (size_t v = 0; v < indices.size(); ++v) {
      const uint32_t n = static_cast<uint32_t>(std::min<size_t>(cb.dim(), size - v * cb.dim()));
      const int e = cb.Find(in + v * cb.dim(), n);
      if (e < 0) {
        return Status::InvalidArgument("rans-alias-vq: elements " + std::to_string(v * cb.dim()) +
                                       ".. are no codebook vector");
      }
      indices[v] = static_cast<uint8_t>(e);
    }
    return RansAliasCodec()->Encode(t->rans(), indices.data(), indices.size(), out);
  }

  Status Decode(const CodecTables* tables, const uint8_t* in, size_t in_size, uint8_t* out,
                size_t out_size) const override {
    DecodeJob job;
    job.tables = tables;
    job.in = in;
    job.in_size = in_size;
    job.out = out;
    job.out_size = out_size;
    DecodeMany(&job, 1);
    return job.status;
  }

  // Indices of every job into a scratch buffer (through rans-alias, which
  // interleaves pairs), then each expanded through its codebook.
  void DecodeMany(DecodeJob* jobs, size_t n) const override {
    thread_local std::vector<uint8_t> scratch;
    std::vector<DecodeJob> index_jobs(n);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto* t = dynamic_cast<const VqTables*>(jobs[i].tables);
      if (t == nullptr || t->codebook() == nullptr) {
        jobs[i].status = Status::InvalidArgument("rans-alias-vq: Decode needs a codebook");
        continue;
      }
      total += (jobs[i].out_size + t->codebook()->dim() - 1) / t->codebook()->dim();
    }
    if (scratch.size() < total) scratch.resize(total);
    size_t at = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto* t = dynamic_cast<const VqTables*>(jobs[i].tables);
      index_jobs[i] = jobs[i];
      if (t == nullptr || t->codebook() == nullptr) {
        index_jobs[i].out_size = 0;  // already failed
        continue;
      }
      index_jobs[i].tables = t->rans();
      index_jobs[i].out = scratch.data() + at;
      index_jobs[i].out_size = (jobs[i].out_size + t->codebook()->dim() - 1) / t->codebook()->dim();
      at += index_jobs[i].out_size;
    }
    RansAliasCodec()->DecodeMany(index_jobs.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const auto* t = dynamic_cast<const VqTables*>(jobs[i].tables);
      if (t == nullptr || t->codebook() == nullptr) continue;
      if (!index_jobs[i].status.ok()) {
        jobs[i].status = index_jobs[i].status;
        continue;
      }
      jobs[i].status = Expand(*t->codebook(), index_jobs[i].out, index_jobs[i].out_size,
                              jobs[i].out, jobs[i].out_size);
    }
  }

 private:
  // Checks every index first (one branch-free pass), then copies whole
  // vectors with a copy of constant size for the common lengths: a
  // variable-length memcpy per 2-8 bytes costs a library call each.
  static Status Expand(const CodebookTables& cb, const uint8_t* idx, size_t n, uint8_t* out,
                       size_t out_size) {
    uint8_t top = 0;
    for (size_t v = 0; v < n; ++v) top = std::max(top, idx[v]);
    if (n > 0 && top >= cb.entries()) {
      return Bad("index " + std::to_string(top) + " beyond the codebook's " +
                 std::to_string(cb.entries()) + " vectors");
    }
    const uint32_t dim = cb.dim();
    const size_t whole = std::min(n, out_size / dim);
    switch (dim) {
      case 2: CopyVectors<2>(cb, idx, whole, out); break;
      case 4: CopyVectors<4>(cb, idx, whole, out); break;
      case 8: CopyVectors<8>(cb, idx, whole, out); break;
      default:
        for (size_t v = 0; v < whole; ++v) std::memcpy(out + v * dim, cb.vector(idx[v]), dim);
    }
    if (whole < n) {  // a last, partial vector
      std::memcpy(out + whole * dim, cb.vector(idx[whole]), out_size - whole * dim);
    }
    return Status::OK();
  }

  template <size_t kDim>
  static void CopyVectors(const CodebookTables& cb, const uint8_t* idx, size_t n, uint8_t* out) {
    const int8_t* base = cb.vector(0);
    for (size_t v = 0; v < n; ++v) std::memcpy(out + v * kDim, base + size_t{idx[v]} * kDim, kDim);
  }
};

}  // namespace

const Codec* RansAliasVqCodec() {
  static const VqCodec codec;
  return &codec;
}

}  // namespace codec_internal

Result<std::shared_ptr<const CodecTables>> MakeCodebookTables(uint32_t dim, uint32_t entries,
                                                              const int8_t* vectors) {
  if (dim == 0 || dim > codec_internal::kMaxDim || entries == 0 ||
      entries > codec_internal::kMaxEntries) {
    return Status::Corruption("codebook of " + std::to_string(entries) + " vectors of " +
                              std::to_string(dim) + " bytes: dim must be 1..8, entries 1..256");
  }
  return std::shared_ptr<const CodecTables>(
      std::make_shared<codec_internal::CodebookTables>(dim, entries, vectors));
}

std::shared_ptr<const CodecTables> CombineVqTables(std::shared_ptr<const CodecTables> index_tables,
                                                   std::shared_ptr<const CodecTables> codebook) {
  return std::make_shared<codec_internal::VqTables>(std::move(index_tables), std::move(codebook));
}

}  // namespace tqf
