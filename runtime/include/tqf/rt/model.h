// Model: a LLaMA-family transformer (Llama 2 / Llama 3.x) run from a .tqf.
//
// Architecture: token embedding; per layer RMSNorm -> Q/K/V projections ->
// RoPE (adjacent pairs (x[2i], x[2i+1]), GGUF layout, theta from the file,
// Llama 3 frequency scaling when rope_scaling_factor > 0, or llama.cpp's
// per-frequency divisors when the file has rope_freqs.weight) -> grouped-query
// attention over a KV cache -> output projection -> residual; RMSNorm ->
// SwiGLU feed-forward -> residual; final RMSNorm; output head (tied to the
// embedding when hparams.tied_embeddings is set or output.weight is absent).
//
// Open() validates the file before anything runs: every tensor present,
// with the shape the hyperparameters imply and a stored form the kernels
// support; any contradiction is kInvalidArgument (hyperparameters) or
// kCorruption (tensors), naming the tensor and expected vs actual.
//
// Memory: layer weights come from a LayerProvider within
// ModelOptions::mem_budget; the embedding, output head and norms are
// decoded once and held (resident_bytes()); the KV cache holds ctx_size
// positions of fp32 keys and values, touched only as positions are used.
//
// Determinism: logits are bit-identical whatever the budget and thread
// count (see kernels.h).
//
// Ownership: the Model shares ownership of its Reader.
// Thread-safety: one thread drives a Model (Forward is not reentrant); it
// parallelizes internally with OpenMP on `threads` threads.
#ifndef TQF_RUNTIME_MODEL_H_
#define TQF_RUNTIME_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tqf/reader.h"
#include "tqf/result.h"
#include "tqf/rt/kernels.h"
#include "tqf/rt/layer_provider.h"
#include "tqf/types.h"

namespace tqf::rt {

struct ModelOptions {
  int64_t mem_budget = -1;  // bytes of decoded layers; < 0 = keep all (see LayerProvider)
  // >= 0: the budget as a number of decoded layers instead (times the
  // largest layer's bytes; LayerProviderOptions::mem_budget_layers).
  int mem_budget_layers = -1;
  int threads = 0;  // 0: all cores (minus one for the prefetch thread when mem_budget > 0)
  // KV cache positions; 0: min(context_length, 4096). At most the model's
  // context_length when the file states one (kInvalidArgument otherwise);
  // kResourceExhausted, naming the bytes, if the cache cannot be allocated.
  uint32_t ctx_size = 0;
  bool prefetch = true;            // decode the next layer while this one computes
  size_t max_batch = 256;          // prompt tokens per prefill pass (bounds activations)
  const KernelOps* ops = nullptr;  // nullptr: DefaultKernelOps()
  // Decoded layers from elsewhere (e.g. a `tqf serve` client) instead of a
  // LayerProvider of our own; mem_budget and prefetch then do not apply.
  std::shared_ptr<LayerSource> layer_source;
  // Hold tensors whose codes take at most 16 values as nibbles: the output
  // head and embedding always, layers when mem_budget < 0 (held_nibbles.h;
  // TQF_HELD_FORM=int8 also turns it off). Results do not change.
  bool hold_nibbles = true;
  // Nibble-held tensors (per-block or per-row scales) in groups of 16 rows where they fit
  // and `ops` has matmul_n4_group16 (kernels.h NibbleLayout; TQF_HELD_FORM=
  // nibble-rows also turns it off). Results do not change.
  bool nibble_groups = true;
};

// Time spent in Forward, split by what the driving thread was doing.
struct ForwardStats {
  double total_seconds = 0;
  double wait_seconds = 0;  // blocked on a layer (decoding it or waiting for the prefetch)
  uint64_t tokens = 0;
  uint64_t passes = 0;
};

// The inputs the weight matrices multiply, for calibration (runtime/
// calibrate.h): x is n rows of `cols` floats, one per token.
enum class MatrixInput {
  kAttention,        // attn_q, attn_k, attn_v: the normed residual (dim)
  kAttentionOutput,  // attn_output: the attention heads' outputs (q_dim)
  kFeedForward,      // ffn_gate, ffn_up: the normed residual (dim)
  kFeedForwardDown,  // ffn_down: the SwiGLU activations (hidden_dim)
  kOutput,           // output (layer -1): the final-normed residual (dim)
};
class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // Called during Forward before each group of matrices runs, on the
  // driving thread.
  virtual void Observe(int layer, MatrixInput input, const float* x, size_t n, size_t cols) = 0;
};

class Model {
 public:
  // Opens and validates `path` (see Reader::Open for file errors).
  static Result<std::unique_ptr<Model>> Open(const std::string& path, const ModelOptions& options);
  // The same over an open reader.
  static Result<std::unique_ptr<Model>> Create(std::shared_ptr<const Reader> reader,
                                               const ModelOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Runs tokens[0..n) at positions pos..pos+n-1 (positions below pos must
  // already be in the KV cache, i.e. pos = tokens processed so far). Writes
  // vocab_size logits of the last token to *logits, or of every token
  // (n x vocab_size, row-major) when all_logits. kInvalidArgument if a
  // token id is out of range or pos + n > ctx_size(); reader errors as
  // they come (the KV cache is then undefined beyond pos).
  Status Forward(const int32_t* tokens, size_t n, size_t pos, bool all_logits,
                 std::vector<float>* logits);

  // Shows the matrices' inputs to `observer` during Forward (not owned;
  // nullptr stops). The output head's inputs are shown for every token.
  void set_observer(ActivationObserver* observer) { observer_ = observer; }

  const ModelInfo& info() const { return reader_->model(); }
  const Hyperparameters& hparams() const { return reader_->model().hparams; }
  const Reader& reader() const { return *reader_; }
  uint32_t ctx_size() const { return ctx_size_; }
  int threads() const { return threads_; }
  const KernelOps& ops() const { return *ops_; }
  bool tied_output() const { return tied_output_; }

  LayerProviderStats provider_stats() const { return provider_->stats(); }
  // The decoded-layer budget in bytes in force (ModelOptions::mem_budget,
  // or mem_budget_layers converted); -1 for none or a layer_source.
  int64_t mem_budget() const { return mem_budget_; }
  const ForwardStats& forward_stats() const { return fstats_; }
  size_t resident_bytes() const { return resident_bytes_; }  // embedding, head, norms
  size_t kv_cache_bytes() const;
  size_t layer_bytes() const { return provider_->layer_bytes(0); }
  // Bytes of activation buffers for a pass of max_batch tokens.
  size_t activation_bytes() const;

 private:
  // Layer tensor order in the provider.
  enum LayerTensor { kQ, kK, kV, kO, kGate, kUp, kDown, kNumLayerTensors };
  struct Buffers;

  struct ResolvedTensors;  // tensor indices Init found (model.cc)

  Model() = default;
  Status Init(std::shared_ptr<const Reader> reader, const ModelOptions& options);
  // Init() steps, in order.
  Status DeriveSizes();  // validates the hyperparameters, sets the derived sizes
  Status ApplyOptions(const ModelOptions& options);
  Status ResolveTensors(ResolvedTensors* t);  // finds and shape-checks every tensor
  Status ResolveLayerTensors(ResolvedTensors* t) const;
  // kCorruption naming `name` unless the kernels support the tensor's stored form.
  Status CheckKernelSupport(size_t tensor_index, const std::string& name) const;
  // Decodes the embedding, output head and norms once (or borrows them from `source`).
  Status HoldResidentWeights(const ResolvedTensors& t, const LayerSource* source);
  Status HoldTensor(size_t tensor_index, const LayerSource* source, WeightView* view);
  Status HoldNorm(size_t tensor_index, std::vector<float>* v);
  Status ComputeRopeFrequencies();
  Status ReadRopeDivisors(std::vector<float>* out);
  // Layer weights from options.layer_source, or from a LayerProvider of our own.
  Status ConnectLayers(const std::vector<std::vector<size_t>>& layers, const ModelOptions& options);
  WeightView View(size_t tensor_index, const uint8_t* data, const float* params,
                  const int8_t* lut = nullptr,
                  NibbleLayout layout = NibbleLayout::kRows) const;
  // *view's held int8 codes (at `bytes`) repacked as nibbles if they take
  // at most 16 values; keeps the int8 form otherwise.
  Status HoldAsNibbles(size_t tensor_index, const uint8_t* bytes, WeightView* view);
  Status ForwardPass(const int32_t* tokens, size_t n, size_t pos, bool all_logits, float* logits);
  void RunLayer(int l, const DecodedLayer& layer, size_t n, size_t pos);
  void NormTokens(const float* weight, size_t n);  // xb = RmsNorm(x) per token
  void AddResidual(size_t n);                      // x += xb2
  void RopeAndCache(int l, size_t n, size_t pos);  // rotate q, k; append k, v to the cache
  void Attention(int l, size_t n, size_t pos);
  // Rotates n_heads heads of v by the angles cs/sn (head_dim / 2 each).
  void Rope(float* v, size_t n_heads, const float* cs, const float* sn) const;

  std::shared_ptr<const Reader> reader_;
  ActivationObserver* observer_ = nullptr;
  const KernelOps* ops_ = nullptr;
  int threads_ = 1;
  uint32_t ctx_size_ = 0;
  size_t max_batch_ = 256;
  bool tied_output_ = false;
  bool hold_nibbles_ = true;  // ModelOptions::hold_nibbles and the environment
  bool nibble_groups_ = false;  // and ops_ has matmul_n4_group16 (held_nibbles.h)
  // Derived sizes.
  size_t dim_ = 0, hidden_ = 0, n_layers_ = 0, n_heads_ = 0, n_kv_ = 0, head_dim_ = 0;
  size_t q_dim_ = 0, kv_dim_ = 0, vocab_ = 0;
  float eps_ = 1e-5f;
  std::vector<float> rope_freq_;  // head_dim/2 inverse frequencies

  // Held weights.
  std::vector<std::unique_ptr<uint8_t, void (*)(void*)>> held_;  // aligned_alloc'd
  WeightView embedding_, output_;
  std::vector<float> output_norm_;
  std::vector<std::vector<float>> attn_norm_, ffn_norm_;
  std::vector<size_t> layer_tensor_index_;  // n_layers x kNumLayerTensors
  size_t resident_bytes_ = 0;

  std::shared_ptr<LayerSource> provider_;
  int64_t mem_budget_ = -1;
  std::unique_ptr<Buffers> buf_;
  ForwardStats fstats_;
};

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_MODEL_H_
