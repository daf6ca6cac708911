// ExportGguf: writes the model in a .tqf back out as a GGUF v3 file that
// llama.cpp-family tools (and tqf pack) read, so a user can always leave.
//
// Tensors are dequantized to `dtype` (F32 default: exact for every stored
// form, since int8 x f32 scale products and f16/bf16 values are all exactly
// representable in f32; F16 halves the size at a small rounding cost; Q8_0
// quarters it: int8 tensors keep their codes with the scale rounded to f16,
// other blocks are rounded as llama-quantize rounds them, whichever is
// closer per block). 1-D tensors stay F32; a matrix whose rows are not
// whole Q8_0 blocks is written F16 (llama-quantize's fallback too).
// general.file_type says the type (0 F32, 1 F16, 7 Q8_0).
// Hyperparameters go to the `llama.*` keys, the tokenizer to
// `tokenizer.ggml.*`, and the free metadata (other than keys those cover)
// as strings.
//
// The output is written atomically (see GgufWriter). Thread-safety: one
// call per thread; decoding is parallel internally.
#ifndef TQF_EXPORT_GGUF_H_
#define TQF_EXPORT_GGUF_H_

#include <functional>
#include <string>

#include "tqf/gguf_writer.h"
#include "tqf/reader.h"
#include "tqf/status.h"

namespace tqf {

struct ExportOptions {
  DType dtype = DType::kF32;  // kF32, kF16 or kQ8_0
  int threads = 0;
  std::function<void(size_t done, size_t total)> progress;
};

// kInvalidArgument for an unsupported dtype; reader errors (corruption,
// checksum) and kIOError as they come; no partial output is left.
TQF_EXPORT Status ExportGguf(const Reader& reader, const std::string& path,
                             const ExportOptions& options = {});

struct GgufMetadataOptions {
  int file_type = -1;  // general.file_type (llama_ftype); < 0: not written
};

// Writes `info` as GGUF metadata: general.architecture (default "llama"),
// the hyperparameters as `<arch>.*` keys (zero fields omitted), the
// tokenizer as `tokenizer.ggml.*` (with `pre` when its split pattern is one
// tqf knows), and the free metadata as strings, except keys those cover.
// This is the one place tqf turns a model's description into GGUF keys
// (ExportGguf and `tqf synth` use it). Errors: GgufWriter's.
TQF_EXPORT Status WriteGgufMetadata(const ModelInfo& info, const GgufMetadataOptions& options,
                                    GgufWriter* writer);

}  // namespace tqf

#endif  // TQF_EXPORT_GGUF_H_
