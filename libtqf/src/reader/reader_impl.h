// Reader internals shared by reader.cc (decoding), reader_open.cc (Open's
// structural checks) and reader_verify.cc (the full walk).
#ifndef TQF_READER_IMPL_H_
#define TQF_READER_IMPL_H_

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "format/layout.h"
#include "tqf/codec.h"
#include "tqf/reader.h"

namespace tqf {

struct Reader::Impl {
  std::shared_ptr<const MappedFile> mapping;  // null for OpenMemory
  const uint8_t* data = nullptr;
  size_t size = 0;
  ReadOptions options;

  FileInfo file_info;
  ModelInfo model;
  std::vector<TensorInfo> tensors;
  std::vector<const Codec*> codecs;       // per tensor
  std::vector<uint64_t> index_offset;     // per tensor, absolute
  std::vector<uint64_t> index_checksum;   // per tensor
  std::vector<uint64_t> raw_checksum;     // per tensor
  std::vector<uint64_t> params_offset;    // per tensor, absolute
  std::vector<uint64_t> params_checksum;  // per tensor
  std::vector<DictionaryInfo> dict_info;
  std::vector<uint64_t> dict_checksum;
  std::vector<std::shared_ptr<const CodecTables>> dict_tables;
  std::vector<SectionInfo> section_info;
  std::unordered_map<std::string, size_t> by_name;

  // Parses and checks everything Open promises.
  Status Load();
  Status DecodeBlock(size_t index, size_t block, uint8_t* out, size_t out_size, bool verify) const;
  // Decodes refs[0..n), n <= kRunBlocks, on the calling thread, together
  // through Codec::DecodeMany when they share a codec (rans-alias
  // interleaves a pair); refs[i]'s Status goes to errors[i]. The caller
  // checks the refs.
  void DecodeRefs(const BlockRef* refs, size_t n, bool verify, Status* errors) const;
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
