// Reader: a memory-mapped .tqf, with tensors decoded on demand.
//
// Open() maps the file and does the cheap structural checks: footer and
// preamble, the FlatBuffers verifier over the header, every extent inside
// its section and the file (without overflow), sections not overlapping,
// seek indices consistent with their tensors, dictionaries parseable.
// Checksums are checked as blocks are decoded when
// ReadOptions::verify_checksums is set, and all of them by Verify().
//
// `path` may be an http:// or https:// URL (tqf/source.h): the Reader then
// fetches what Open checks (in 3 round trips), and each block's
// bytes, verified against its checksum, just before they are decoded;
// checksums are always checked for a remote file, whatever ReadOptions says.
//
// Ownership: the Reader owns the mapping (its Source). TensorInfo references and
// `params` pointers stay valid for the Reader's lifetime (but read the
// mapping: Reader::CopyParams gives a private copy, decoded to f32).
// Thread-safety: all const methods may be called concurrently (decoding
// different or the same tensors from many threads is safe).
#ifndef TQF_READER_H_
#define TQF_READER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tqf/codec.h"
#include "tqf/mapped_file.h"
#include "tqf/result.h"
#include "tqf/source.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

struct ReadOptions {
  bool verify_checksums = true;  // check block checksums while decoding
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> shape;
  DType source_dtype = DType::kF32;
  DType dtype = DType::kF32;
  QuantKind quant = QuantKind::kNone;
  uint32_t quant_block = 0;
  CodecKind codec = CodecKind::kRaw;
  int dictionary = -1;
  uint64_t raw_size = 0;     // decoded bytes
  uint64_t stored_size = 0;  // codeword stream bytes
  uint64_t data_offset = 0;  // absolute offset of the stream
  uint32_t block_size = 0;
  uint32_t block_count = 0;
  // The quantization parameters: `num_params` floats once decoded
  // (Reader::CopyParams), stored in `params_format` as `params_bytes` bytes.
  // `params` points at them in the mapping when they are stored as f32
  // (kF32), and is nullptr otherwise.
  const float* params = nullptr;
  size_t num_params = 0;
  ParamsFormat params_format = ParamsFormat::kF32;
  uint64_t params_bytes = 0;
  uint64_t params_offset = 0;  // absolute offset of the stored params (0 if none)
  int codebook = -1;           // index into Reader::codebooks() (codec rans-alias-vq), or -1
  // The scheme the writer says made it ("q4a-g32"; empty if not recorded).
  // Informational and untrusted: never used to decode.
  std::string quantizer;

  uint64_t num_elements() const;
  uint64_t rows() const;  // product of all dims but the last (1 for 1-D)
  uint64_t cols() const;  // last dim
};

struct DictionaryInfo {
  CodecKind codec = CodecKind::kRaw;
  uint64_t offset = 0;
  uint64_t size = 0;
};

// A vector-quantization codebook (format 1.2): `entries` vectors of `dim`
// signed bytes at [offset, offset + entries * dim) of the file.
struct CodebookInfo {
  uint32_t dim = 0;
  uint32_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

struct SectionInfo {
  std::string kind;  // "dictionary", "streams", "plain", "seek_index"
  uint64_t offset = 0;
  uint64_t size = 0;
};

struct FileInfo {
  uint16_t format_major = 0;
  uint16_t format_minor = 0;
  uint64_t compat_flags = 0;
  uint64_t incompat_flags = 0;
  uint64_t file_size = 0;
  uint64_t header_offset = 0;
  uint64_t header_size = 0;
  std::string writer;
};

// One failed check found by Verify.
struct VerifyProblem {
  std::string where;  // "tensor 'x' block 3", "header", "dictionary 0" ...
  Status status;
};

struct VerifyReport {
  uint64_t tensors_checked = 0;
  uint64_t blocks_checked = 0;
  uint64_t bytes_decoded = 0;
  std::vector<VerifyProblem> problems;  // empty = file is good
};

// A block of a tensor and where its decoded bytes go, for Reader::DecodeBlocks.
struct BlockRef {
  size_t tensor = 0;
  size_t block = 0;
  uint8_t* out = nullptr;
};

class TQF_EXPORT Reader {
 public:
  // Maps and checks `path`. kNotFound / kIOError from the OS; kCorruption,
  // kNotSupported (newer major, unknown required feature, unknown codec) or
  // kChecksumMismatch (header checksum) for bad files.
  static Result<std::unique_ptr<Reader>> Open(const std::string& path,
                                              const ReadOptions& options = {});
  // The same over a Source (OpenSource); the Reader shares its ownership.
  static Result<std::unique_ptr<Reader>> Open(std::shared_ptr<Source> source,
                                              const ReadOptions& options = {});
  // The same over an image in memory; `data` must outlive the Reader.
  static Result<std::unique_ptr<Reader>> OpenMemory(const uint8_t* data, size_t size,
                                                    const ReadOptions& options = {});
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const FileInfo& file_info() const;
  const ModelInfo& model() const;
  const std::vector<TensorInfo>& tensors() const;
  const std::vector<DictionaryInfo>& dictionaries() const;
  const std::vector<CodebookInfo>& codebooks() const;
  const std::vector<SectionInfo>& sections() const;
  // Index of the tensor named `name`; kNotFound otherwise.
  Result<size_t> FindTensor(const std::string& name) const;

  // Decodes tensor `index` into out[0..out_size); out_size must equal its
  // raw_size (kInvalidArgument otherwise). Blocks decode in parallel on
  // `threads` threads (0: all cores, 1: the calling thread only).
  // kCorruption / kChecksumMismatch name the tensor and block.
  Status DecodeTensor(size_t index, uint8_t* out, size_t out_size, int threads = 0) const;
  // Decodes block `block` of tensor `index`; out_size must equal the
  // block's decoded size (block_size, or less for the last block).
  Status DecodeBlock(size_t index, size_t block, uint8_t* out, size_t out_size) const;
  // Decodes the listed blocks, of any tensors, in parallel on `threads`
  // threads (0: all cores). Each refs[i].out must hold that block's decoded
  // size (the tensor's block_size, less for its last block), without
  // overlap. Consecutive entries decode as pairs, which codecs that
  // interleave two blocks (rans-alias) decode faster: list a layer's
  // tensors' blocks together rather than one tensor at a time. Returns the
  // first failing entry's error (kInvalidArgument for a bad ref, before
  // decoding anything).
  Status DecodeBlocks(const BlockRef* refs, size_t n, int threads = 0) const;
  // Copies tensor `index`'s quantization parameters (num_params floats)
  // to out[0..count); count must equal num_params (kInvalidArgument). Their
  // checksum is checked when ReadOptions::verify_checksums is set
  // (kChecksumMismatch). Reading TensorInfo::params directly reads the
  // mapping; this copy is what to keep while the file may change (kIOError
  // if it changed under the mapping, see tqf/signals.h).
  Status CopyParams(size_t index, float* out, size_t count) const;
  // Decodes and dequantizes tensor `index` to fp32 (num_elements floats).
  Status DecodeTensorF32(size_t index, float* out, size_t count, int threads = 0) const;

  // Page-cache hints over a tensor's stream (and its seek index). For a
  // remote file WillNeed starts fetching the tensor's blocks in the
  // background, and DontNeed gives their memory back (they are fetched
  // again, or read from the block cache, when next decoded).
  void WillNeed(size_t index) const;
  void DontNeed(size_t index) const;
  // Releases from the process (they stay in the page cache) the pages of
  // the stored bytes of refs[0..n) that lie wholly inside those bytes: a
  // page shared with a block not listed stays mapped, so releasing what one
  // thread decoded never drops pages another thread is decoding from or is
  // about to. For callers that decode streams piecewise and want the
  // file-backed part of the resident set to stay small. Refs out of range
  // are skipped (hints are advisory). Safe from any thread.
  void ReleaseBlocks(const BlockRef* refs, size_t n) const;
  // Decodes refs[0..n) on the calling thread, like DecodeBlocks(refs, n, 1)
  // (same checks, checksums and errors, same bytes), without the file's
  // pages entering the process: for a local file each pair of blocks'
  // stored bytes is read (Source::Read, pread) into *scratch and decoded
  // from there, so there is no page fault to take and nothing to release;
  // otherwise (a URL, OpenMemory) it decodes from the Source as
  // DecodeBlocks does, then ReleaseBlocks(refs, n). For callers that
  // decode every block once per use under a memory budget. `scratch` is
  // grown as needed (to about two blocks' stored bytes): keep one per
  // thread and pass it to every call. A file that now ends before a
  // block's bytes (truncated) gives kIOError naming the file, tensor and
  // block.
  Status DecodeBlocksTransient(const BlockRef* refs, size_t n, std::vector<uint8_t>* scratch) const;

  // Walks everything and checks every checksum, decoding every block.
  // `progress` (optional) is called with (tensors done, tensors total).
  VerifyReport Verify(int threads = 0,
                      const std::function<void(size_t, size_t)>& progress = nullptr) const;

  // Makes tensor `index`'s blocks readable at data() (fetched and verified
  // for a remote file; nothing to do for a local one). Decoding does this
  // itself; tools that read a stream's bytes directly call it first.
  Status Fetch(size_t index) const;
  // Every range of the file a checksum covers, with it: the header, each
  // dictionary, codebook, params, seek index and stream block, in file
  // order. The bytes between them (preamble, footer, padding) have no
  // checksum of their own. For mirroring and resuming downloads (FetchFile).
  std::vector<SourceExtent> ChecksummedExtents() const;
  // The Source read from (nullptr for OpenMemory).
  const Source* source() const;

  // The underlying bytes (for tools that measure or re-encode). For a
  // remote file only what Open or Fetch made readable may be read.
  const uint8_t* data() const;
  size_t size() const;

  struct Impl;  // opaque: defined inside libtqf

 private:
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What a file spends on its weight matrices (tensors of 2+ dimensions):
// the bits per weight `tqf pack --bits` aims at and `tqf inspect` reports.
// Seek indices, the header and 1-D tensors are not counted; a dictionary or
// codebook is counted once if any weight matrix uses it.
struct WeightBits {
  uint64_t weights = 0;           // elements of the 2-D tensors
  uint64_t stream_bytes = 0;      // their codeword streams
  uint64_t params_bytes = 0;      // their stored quantization parameters
  uint64_t dictionary_bytes = 0;  // dictionaries they use
  uint64_t codebook_bytes = 0;    // codebooks they use
  uint64_t total_bytes() const {
    return stream_bytes + params_bytes + dictionary_bytes + codebook_bytes;
  }
  double bits_per_weight() const { return weights ? 8.0 * total_bytes() / weights : 0.0; }
};
TQF_EXPORT WeightBits MeasureWeightBits(const Reader& reader);

}  // namespace tqf

#endif  // TQF_READER_H_
