// Pack: the whole import -> quantize -> build dictionaries -> encode ->
// write pipeline that `tqf pack` runs, as a library call.
//
// Memory: tensors are quantized twice (once to gather dictionary statistics,
// once to encode) so that at most one quantized tensor per thread is held at
// a time, whatever the model size.
//
// Thread-safety: one call per thread; internally parallel.
#ifndef TQF_PACK_H_
#define TQF_PACK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/quantize.h"
#include "tqf/writer.h"

namespace tqf {

struct PackOptions {
  QuantScheme quant = QuantScheme::kChannel;
  const Codec* codec = nullptr;  // nullptr: DefaultCodec()
  WriterOptions writer;
  // NaN/Inf source values are refused (kInvalidArgument naming the tensor
  // and element) unless this is set; even then only unquantized tensors
  // can hold them (quantizers refuse non-finite values).
  bool allow_nonfinite = false;
  // Called as tensors are processed: (phase "analyse"/"encode", done, total).
  std::function<void(const char* phase, size_t done, size_t total)> progress;
  // Checked before each tensor of either pass: once it is set, PackModel
  // stops with kCancelled and leaves no output. May be set from any thread
  // (or from `progress`).
  const std::atomic<bool>* cancel = nullptr;
};

struct PackedTensorReport {
  std::string name;
  uint64_t elements = 0;
  uint64_t source_bytes = 0;
  uint64_t raw_bytes = 0;     // stored element bytes before the codec
  uint64_t stored_bytes = 0;  // after the codec
  DType dtype = DType::kF32;
  CodecKind codec = CodecKind::kRaw;
};

struct PackReport {
  uint64_t source_file_bytes = 0;
  uint64_t source_tensor_bytes = 0;  // tensor bytes in the source's own dtype
  uint64_t elements = 0;
  uint64_t raw_bytes = 0;     // after quantization, before the codec
  uint64_t stored_bytes = 0;  // codeword streams
  uint64_t dictionary_bytes = 0;
  uint64_t file_bytes = 0;  // the .tqf
  double seconds = 0;
  std::vector<PackedTensorReport> tensors;
};

// Packs `model` into `out_path` (atomically, see Writer). Errors: the
// quantizers', codecs' and Writer's; kCancelled (see PackOptions::cancel).
TQF_EXPORT Result<PackReport> PackModel(const SourceModel& model, const std::string& out_path,
                                        const PackOptions& options = {});

}  // namespace tqf

#endif  // TQF_PACK_H_
