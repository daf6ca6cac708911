// Writer: streams a .tqf file out, tensor by tensor.
//
// Order of calls: Create -> AddDictionary* -> AddTensor* -> Finish.
// The file is written to "<path>.tmp.<random>" (created exclusively, never
// through a symlink) and renamed onto `path` by Finish after an fsync, so a
// failed or interrupted write never leaves a half-written .tqf at `path`.
// Destroying a Writer that was not finished removes the temporary file. An
// existing `path` that is not a regular file (FIFO, device, symlink,
// directory) is refused with kInvalidArgument.
//
// Thread-safety: one thread drives a Writer; AddTensor encodes blocks in
// parallel internally (OpenMP, WriterOptions::threads).
#ifndef TQF_WRITER_H_
#define TQF_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tqf/codec.h"
#include "tqf/result.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

struct WriterOptions {
  uint32_t block_size = 64 * 1024;  // decoded bytes per independently coded block
  int threads = 0;                  // 0: all cores
  // Recorded in the header's `writer` field; empty: "tqf <version>".
  // Golden test vectors set a fixed name so they do not change with releases.
  std::string writer_name;
};

// Describes one tensor to AddTensor.
struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;  // row-major, outermost first
  DType source_dtype = DType::kF32;
  DType dtype = DType::kF32;  // stored element type
  QuantKind quant = QuantKind::kNone;
  uint32_t quant_block = 0;
  CodecKind codec = CodecKind::kRaw;
  int dictionary = -1;  // index returned by AddDictionary, or -1
  // Format 1.2. How the params are stored; for kLog8 every param must be
  // Log8Scale(log8_base, c) for some code c (quantize.h).
  ParamsFormat params_format = ParamsFormat::kF32;
  float log8_base = 0.0f;
  int codebook = -1;  // index returned by AddCodebook (codec rans-alias-vq), or -1
  // Informational: the scheme that made the tensor (QuantSpecName), shown
  // by `tqf inspect`; empty: not recorded (8-bit schemes, whose stored form
  // names them).
  std::string quantizer;
};

// What AddTensor wrote, for progress reports.
struct TensorWriteStats {
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;  // codeword stream (without index and params)
  uint32_t blocks = 0;
};

class TQF_EXPORT Writer {
 public:
  // Opens the temporary file beside `path`. kIOError if it cannot be
  // created; kInvalidArgument for a bad block size, or stop ids that are
  // not token ids or leave out eos_id.
  static Result<std::unique_ptr<Writer>> Create(const std::string& path, const ModelInfo& model,
                                                const WriterOptions& options = {});
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Stores a dictionary for `codec`; returns its index. Every dictionary
  // must be added before the first tensor (kInvalidArgument otherwise).
  Result<int> AddDictionary(CodecKind codec, const std::vector<uint8_t>& bytes);
  // Stores a vector-quantization codebook (format 1.2): `entries` (1..256)
  // vectors of `dim` (1..8) signed bytes; returns its index. Like
  // dictionaries, before the first tensor.
  Result<int> AddCodebook(uint32_t dim, uint32_t entries, const std::vector<int8_t>& vectors);

  // Encodes and appends one tensor. `data` holds the stored element bytes
  // (raw_size = elements * DTypeSize(dtype)); `params` the f32
  // quantization parameters (NumQuantParams many), stored in
  // spec.params_format. For codec rans-alias-vq, `data` is the expanded
  // int8 codes: every `dim` consecutive bytes must be a vector of the
  // spec's codebook, and block_size a multiple of `dim`. Both need only live
  // during the call. kInvalidArgument for inconsistent specs (sizes,
  // duplicate names, unknown dictionary).
  Result<TensorWriteStats> AddTensor(const TensorSpec& spec, const uint8_t* data, size_t size,
                                     const float* params, size_t num_params);

  // Writes header and footer, syncs, and renames the file into place.
  Status Finish();

  // Bytes written so far.
  uint64_t bytes_written() const;

 private:
  struct Impl;
  explicit Writer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tqf

#endif  // TQF_WRITER_H_
