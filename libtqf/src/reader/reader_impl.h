// Reader internals shared by reader.cc (decoding), reader_open.cc (Open's
// structural checks) and reader_verify.cc (the full walk).
#ifndef TQF_READER_IMPL_H_
#define TQF_READER_IMPL_H_

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/layout.h"
#include "tqf/codec.h"
#include "tqf/reader.h"
#include "tqf_header_generated.h"

namespace tqf {

namespace reader_internal {

// A byte range [begin, end) of the file.
struct Range {
  uint64_t begin = 0, end = 0;
};

// The four sections every file has, as Open found them.
struct Sections {
  Range dictionary, streams, plain, seek_index;
};

// Extents of one kind, each with the place that owns it, checked for
// overlap once every tensor is loaded.
using LabelledExtents = std::vector<std::pair<Range, std::string>>;
struct TensorExtents {
  LabelledExtents streams, indices, params;
};

// What the reader keeps of a tensor beyond its public TensorInfo: how to
// decode it and the checksums Verify checks again. The seek index entries
// are copied at Open, after they were validated: decoding never reads them
// from the mapping again, so a file rewritten under a running reader cannot
// point a decode outside its stream.
struct TensorRecord {
  const Codec* codec = nullptr;
  // What the codec decodes with: the dictionary's tables, or for
  // rans-alias-vq those combined with the codebook (owned here).
  const CodecTables* tables = nullptr;
  std::shared_ptr<const CodecTables> own_tables;
  std::vector<format::IndexEntry> blocks;
  uint64_t index_offset = 0;  // absolute
  uint64_t index_checksum = 0;
  uint64_t raw_checksum = 0;  // of the whole decoded tensor
  uint64_t params_checksum = 0;
};

// A dictionary's decoded tables and its checksum (its place is in the
// public DictionaryInfo).
struct DictionaryRecord {
  std::shared_ptr<const CodecTables> tables;
  uint64_t checksum = 0;
};

// A codebook's tables and checksum (its place is in CodebookInfo).
using CodebookRecord = DictionaryRecord;

}  // namespace reader_internal

struct Reader::Impl {
  std::shared_ptr<Source> source;  // null for OpenMemory
  const uint8_t* data = nullptr;
  size_t size = 0;
  ReadOptions options;

  FileInfo file_info;
  ModelInfo model;
  std::vector<TensorInfo> tensors;                         // the public view (Reader::tensors())
  std::vector<reader_internal::TensorRecord> records;      // records[i] is tensors[i]'s
  std::vector<DictionaryInfo> dict_info;                   // the public view
  std::vector<reader_internal::DictionaryRecord> dicts;    // dicts[i] is dict_info[i]'s
  std::vector<CodebookInfo> codebook_info;                 // the public view
  std::vector<reader_internal::CodebookRecord> codebooks;  // codebooks[i] is codebook_info[i]'s
  std::vector<SectionInfo> section_info;
  std::unordered_map<std::string, size_t> by_name;

  // Parses and checks everything Open promises, in the order a hostile
  // file is cheapest to reject (reader_open.cc).
  Status Load();
  // Load's steps.
  Status LoadEnvelope(const fb::Header** header);
  Status FetchEnvelope();  // remote only: preamble and header in one round trip
  // A header this large is refused before a remote reader fetches it (the
  // Llama 3 tokenizer makes a 2.3 MB one): a hostile footer costs no download.
  static constexpr uint64_t kMaxRemoteHeader =
      256ull << 20;  // footer, preamble, header checksum, verifier
  Status LoadSections(const fb::Header& header, reader_internal::Sections* sections);
  Status LoadDictionaries(const fb::Header& header, const reader_internal::Range& section);
  Status LoadCodebooks(const fb::Header& header, const reader_internal::Range& section);
  Status LoadTensor(size_t index, const fb::Tensor& ft, const reader_internal::Sections& sections,
                    reader_internal::TensorExtents* extents);
  Status LoadTensorType(const fb::Tensor& ft, const std::string& where, TensorInfo* t) const;
  Status LoadTensorParams(const fb::Tensor& ft, const std::string& where,
                          const reader_internal::Range& plain, TensorInfo* t,
                          reader_internal::LabelledExtents* params) const;
  Status LoadTensorCodec(const fb::Tensor& ft, const std::string& where, TensorInfo* t,
                         reader_internal::TensorRecord* rec) const;
  Status LoadTensorStream(const fb::Tensor& ft, const std::string& where,
                          const reader_internal::Sections& sections, TensorInfo* t,
                          reader_internal::TensorRecord* rec,
                          reader_internal::TensorExtents* extents) const;
  Status DecodeBlock(size_t index, size_t block, uint8_t* out, size_t out_size, bool verify) const;
  // Decodes refs[0..n), n <= kRunBlocks, on the calling thread, together
  // through Codec::DecodeMany when they share a codec (rans-alias
  // interleaves a pair); refs[i]'s Status goes to errors[i]. The caller
  // checks the refs.
  void DecodeRefs(const BlockRef* refs, size_t n, bool verify, Status* errors) const;
  // inputs[i], when given, holds refs[i]'s stored bytes (read by
  // ReadStored) instead of the mapping.
  void DecodeRefsUnguarded(const BlockRef* refs, size_t n, bool verify, Status* errors,
                           const uint8_t* const* inputs = nullptr) const;
  // kInvalidArgument naming the first bad entry of refs[0..n).
  Status CheckRefs(const BlockRef* refs, size_t n) const;
  // Reads the stored bytes of refs[0..n) (source->can_read()) into
  // *scratch, grown as needed, consecutive ones in one call; inputs[i]
  // points at refs[i]'s. Source::Read's error, naming the block.
  Status ReadStored(const BlockRef* refs, size_t n, std::vector<uint8_t>* scratch,
                    const uint8_t** inputs) const;
  uint64_t StoredOffset(const BlockRef& ref) const;  // absolute
  // The file's path for messages ("" for OpenMemory).
  const std::string& path() const {
    static const std::string kNone;
    return source ? source->name() : kNone;
  }
  bool remote() const { return source && source->remote(); }
  // Makes bytes readable before they are read (a no-op unless remote()):
  // a range of the file; the stored bytes of refs[0..n), with their
  // checksums; every block of tensor `index`.
  Status EnsureRange(uint64_t offset, uint64_t size) const;
  Status EnsureRefs(const BlockRef* refs, size_t n) const;
  Status EnsureTensor(size_t index) const;
  std::vector<SourceExtent> BlockExtents(size_t index) const;
  // Remote only: after tensor `last` was needed, asks the Source to fetch
  // the tensors after it (in table order, which is file order for the
  // reference writer) up to kReadAhead stored bytes, so that the network
  // overlaps decoding and computing instead of alternating with them.
  void ReadAhead(size_t last) const;
  static constexpr uint64_t kReadAhead = 64 << 20;
  mutable std::mutex readahead_mu;
  mutable size_t readahead_begin = 0, readahead_end = 0;  // tensors already hinted
  // The same on up to `threads` threads (0: all cores), pairs as the unit.
  void DecodeRefsParallel(const BlockRef* refs, size_t n, int threads, bool verify,
                          Status* errors) const;
  // Blocks per unit of work in the parallel loops.
  static constexpr size_t kRunBlocks = 2;
  // Decodes every block of tensor `index` on up to `threads` threads (0:
  // all cores; never more than blocks), each block's Status in (*errors)[b].
  void DecodeBlocks(size_t index, uint8_t* out, int threads, bool verify,
                    std::vector<Status>* errors) const;
  // DecodeBlocks, returning the lowest failing block's Status.
  Status DecodeAll(size_t index, uint8_t* out, int threads, bool verify) const;
};

}  // namespace tqf

#endif  // TQF_READER_IMPL_H_
