// Pack: the whole import -> quantize -> build dictionaries -> encode ->
// write pipeline that `tqf pack` runs, as a library call.
//
// Memory: 8-bit schemes quantize every tensor twice (once to gather
// dictionary statistics, once to encode) so that at most one quantized
// tensor is held at a time, whatever the model size. Low-bit schemes
// (QuantSpec::low_bit) are slow enough (GPTQ) to quantize once: their codes
// are held until written, one byte per weight.
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
#include "tqf/reader.h"
#include "tqf/writer.h"

namespace tqf {

// Second moments of the inputs each weight matrix multiplies, gathered by
// running the model on calibration text (runtime/calibrate.h makes one).
// PackModel asks for tensors in file order and drops each answer once the
// tensor is quantized, so an implementation may compute them a layer at a
// time. Errors abort the pack.
class TQF_EXPORT InputStatistics {
 public:
  virtual ~InputStatistics();
  // X^T X (cols x cols, row-major) of the inputs of the 2-D tensor `name`,
  // summed over the calibration tokens; an empty vector if it has none
  // (embeddings, tensors the model does not multiply by).
  virtual Result<std::vector<float>> SecondMoment(const std::string& name, size_t cols) = 0;
  // Just its diagonal (cols values; empty if none): what codebook training
  // weighs vectors by, asked for every tensor before any SecondMoment.
  virtual Result<std::vector<float>> Diagonal(const std::string& name, size_t cols) = 0;
  // What the pack made of low-bit tensor `name` (dequantized, row-major),
  // told as soon as it is quantized, before the next tensor's
  // SecondMoment: a provider that calibrates sequentially runs the later
  // layers on it. With statistics, PackModel quantizes in the order the
  // model computes (embedding, blk.0, blk.1, ..., output). Default: ignored.
  virtual Status Quantized(const std::string& name, const std::vector<float>& values);
};

// A tensor as PackModel quantized it, offered to PackOptions::refine: every
// low-bit tensor, and every 1-D tensor stored as f32 (dtype kF32: norms).
struct RefinableTensor {
  const SourceTensor* source = nullptr;
  // Its codes (`data`, and `vq_indices` for kVq) and the values of its
  // params (finite; on the log8 grid of its base when stored so) may be
  // changed, as may an f32 tensor's values (`data`, finite); its dtype,
  // params format and base, and sizes may not (checked after the hook:
  // kInvalidArgument).
  QuantizedTensor* quantized = nullptr;
  // kVq: what its indices point into, shared by every tensor quantized
  // with it. Its vectors may be changed (within -127..127, its entries and
  // dim may not), so long as every such tensor's codes are then its
  // vectors at its indices (checked after the hook: kInvalidArgument).
  VqCodebook* codebook = nullptr;
};

struct PackOptions {
  // The scheme of every tensor of 2+ dimensions (1-D tensors stay f32).
  QuantSpec quant = QuantScheme::kChannel;
  // When set, chooses each 2-D tensor's scheme instead (mixed precision).
  std::function<QuantSpec(const SourceTensor&)> tensor_quant;
  const Codec* codec = nullptr;  // nullptr: DefaultCodec()
  WriterOptions writer;
  // NaN/Inf source values are refused (kInvalidArgument naming the tensor
  // and element) unless this is set; even then only unquantized tensors
  // can hold them (quantizers refuse non-finite values).
  bool allow_nonfinite = false;
  // Calibration (optional, not owned; must outlive the call): low-bit
  // schemes then compensate their errors (GPTQ) with this damping (times
  // the Hessian's mean diagonal) and, for scalar schemes, act order.
  InputStatistics* statistics = nullptr;
  double damping = 0.01;
  bool act_order = true;
  // Vector quantization: codebooks are trained on at most this many sample
  // vectors per codebook, for this many Lloyd iterations, from this seed.
  size_t vq_samples = size_t{1} << 18;
  int vq_iterations = 30;
  uint64_t seed = 1;
  // Called once every low-bit tensor is quantized, before dictionaries are
  // built or anything is encoded: may replace the codes and scales of the
  // low-bit tensors, their VQ codebooks' vectors, and the values of 1-D f32
  // ones (quantization-aware fine-tuning, runtime/finetune.h), as
  // RefinableTensor says. Its errors abort the pack.
  std::function<Status(const SourceModel&, std::vector<RefinableTensor>*)> refine;
  // Called as tensors are processed: (phase "codebooks"/"analyse"/"encode",
  // done, total).
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
  uint64_t params_bytes = 0;  // stored quantization parameters
  DType dtype = DType::kF32;
  CodecKind codec = CodecKind::kRaw;
  QuantSpec quant;      // the scheme it was stored with (raw for 1-D tensors)
  bool matrix = false;  // 2+ dimensions: counted in WeightBits
  int dictionary = -1;  // file indices, as Reader numbers them
  int codebook = -1;
};

struct PackReport {
  uint64_t source_file_bytes = 0;
  uint64_t source_tensor_bytes = 0;  // tensor bytes in the source's own dtype
  uint64_t elements = 0;
  uint64_t raw_bytes = 0;     // after quantization, before the codec
  uint64_t stored_bytes = 0;  // codeword streams
  uint64_t dictionary_bytes = 0;
  uint64_t params_bytes = 0;
  uint64_t codebook_bytes = 0;
  uint64_t file_bytes = 0;  // the .tqf
  // The 2-D tensors' share: what MeasureWeightBits (and `tqf inspect`)
  // reports for the written file.
  WeightBits weight_bits;
  double seconds = 0;
  std::vector<PackedTensorReport> tensors;
};

// Packs `model` into `out_path` (atomically, see Writer). Errors: the
// quantizers', codecs' and Writer's; kCancelled (see PackOptions::cancel).
TQF_EXPORT Result<PackReport> PackModel(const SourceModel& model, const std::string& out_path,
                                        const PackOptions& options = {});

}  // namespace tqf

#endif  // TQF_PACK_H_
