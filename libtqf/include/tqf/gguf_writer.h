// GgufWriter: writes a GGUF v3 file (the llama.cpp format) with metadata
// and F32 / F16 / BF16 / Q8_0 tensors, streaming the tensor data so a
// multi-gigabyte model never has to be in memory at once. Used by
// `tqf synth` and for exporting back to GGUF.
//
// Order of calls: Create -> Set* and AddTensor (any order) -> WriteData
// (tensor bytes, in the order the tensors were added, in chunks of any size)
// -> Finish. The header is written by the first WriteData (or by Finish when
// there are no tensors); metadata and tensors cannot be added after that.
// Each tensor's data is padded to the alignment automatically.
//
// The file is written to "<path>.tmp.<random>" (created exclusively, never
// through a symlink) and renamed onto `path` by Finish after an fsync; a
// writer destroyed before Finish removes it. An existing `path` that is not
// a regular file is refused with kInvalidArgument.
//
// Thread-safety: one thread drives a GgufWriter.
#ifndef TQF_GGUF_WRITER_H_
#define TQF_GGUF_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tqf/result.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

class TQF_EXPORT GgufWriter {
 public:
  // Opens the temporary file beside `path`. `alignment` (a power of two,
  // default GGUF's 32) is recorded as general.alignment when not 32.
  // kIOError if the file cannot be created; kInvalidArgument for a bad
  // alignment.
  static Result<std::unique_ptr<GgufWriter>> Create(const std::string& path,
                                                    uint32_t alignment = 32);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata. Keys must be unique and non-empty; kInvalidArgument for a
  // repeated key or a call after the header was written.
  Status SetString(const std::string& key, const std::string& value);
  Status SetU32(const std::string& key, uint32_t value);
  Status SetI32(const std::string& key, int32_t value);
  Status SetF32(const std::string& key, float value);
  Status SetBool(const std::string& key, bool value);
  Status SetStringArray(const std::string& key, const std::vector<std::string>& values);
  Status SetI32Array(const std::string& key, const std::vector<int32_t>& values);
  Status SetF32Array(const std::string& key, const std::vector<float>& values);

  // Declares a tensor. `shape` is row-major, outermost first, as everywhere
  // in tqf (GGUF's ne[] is written reversed: ne[0] = shape.back()).
  // `dtype` is kF32, kF16, kBF16 or kQ8_0 (Q8_0 needs shape.back() % 32 ==
  // 0). kInvalidArgument for a repeated or empty name, an empty shape or
  // zero dimension, an unsupported dtype, or a call after the header.
  Status AddTensor(const std::string& name, const std::vector<uint64_t>& shape, DType dtype);

  // Appends `size` bytes of tensor data: the current tensor's next bytes,
  // crossing into the following tensors as they fill. kInvalidArgument if
  // the data runs past the last declared tensor; kIOError on write errors.
  Status WriteData(const void* data, size_t size);

  // Checks that every tensor got all its bytes (kInvalidArgument
  // otherwise), syncs and renames the file onto `path`.
  Status Finish();

  // Bytes of tensor data the declared tensors need, and the file's final
  // size (valid once all tensors are declared).
  uint64_t data_bytes() const;
  uint64_t file_bytes() const;

 private:
  struct Impl;
  explicit GgufWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tqf

#endif  // TQF_GGUF_WRITER_H_
