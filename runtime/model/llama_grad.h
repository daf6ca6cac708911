// A LLaMA forward pass that keeps its activations, and the backward pass
// that turns a gradient of the logits into gradients of every weight: what
// quantization-aware distillation (finetune.cc) trains with.
//
// fp32 throughout, one sequence from position 0, the runtime's arithmetic
// (RmsNorm, rotary pairs (2i, 2i+1), grouped-query attention, SwiGLU) but
// with fp32 activations where the runtime's int8 matrix products round them.
// Plain loops: the models distillation is for (a few million weights) train
// in seconds to minutes, and the code stays checkable against finite
// differences (tests/runtime/finetune_test.cc).
//
// Thread-safety: a Tape is used by one thread; Weights may be shared
// read-only by many tapes.
#ifndef TQF_RUNTIME_LLAMA_GRAD_H_
#define TQF_RUNTIME_LLAMA_GRAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tqf/import.h"
#include "tqf/result.h"

namespace tqf::rt::grad {

struct Shape {
  size_t dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  float eps = 1e-5f;
  std::vector<float> rope_freq;  // head_dim / 2 inverse frequencies, as the runtime's
  size_t q_dim() const { return heads * head_dim; }
  size_t kv_dim() const { return kv_heads * head_dim; }
};

// Per-layer tensors, in this order after the three model-wide ones.
enum Role { kQ, kK, kV, kO, kGate, kUp, kDown, kAttnNorm, kFfnNorm, kRoles };

// Every weight as one fp32 vector: matrices (out x in) row-major, norms as
// vectors. An empty output head means it is tied to the embedding.
struct Weights {
  std::vector<std::vector<float>> t;
  static constexpr size_t kEmbedding = 0, kOutputNorm = 1, kOutput = 2;
  static size_t Layer(size_t l, Role r) { return 3 + l * kRoles + r; }
  static size_t Count(size_t layers) { return 3 + layers * kRoles; }
  // Zero vectors of the same sizes as `like`.
  static Weights ZerosLike(const Weights& like);
};

// (rows, cols) of tensor `i` of a model of this shape (norms: (1, dim)).
void TensorShape(const Shape& s, size_t i, size_t* rows, size_t* cols);

// From a SourceModel (llama_grad_source.cc):
// The shape of a LLaMA model: its hyperparameters, and the rotary
// frequencies the runtime computes (Llama 3 scaling, rope_freqs.weight).
// kNotSupported for other architectures, kInvalidArgument for inconsistent
// hyperparameters.
Result<Shape> ShapeOf(const SourceModel& source);
// The Weights::t slot of a canonical tensor name ("blk.3.ffn_up.weight"),
// or -1 for names outside the layout (or layers >= `layers`).
int IndexOfName(const std::string& name, size_t layers);
// The source tensor of each slot (nullptr: a tied head); kInvalidArgument
// naming a missing or misshapen tensor.
Result<std::vector<const SourceTensor*>> FindTensors(const SourceModel& source, const Shape& s);
// Every slot's values as fp32.
Result<Weights> LoadWeights(const SourceModel& source, const Shape& s);

// Activations of one sequence, kept for the backward pass.
class Tape {
 public:
  // Runs tokens[0..n) (each < vocab) through `w` at positions 0..n-1; the
  // logits (n x vocab) are in logits() until the next Forward.
  void Forward(const Shape& s, const Weights& w, const int32_t* tokens, size_t n);
  const std::vector<float>& logits() const { return logits_; }
  // Adds to *g the gradients of a loss whose gradient with respect to the
  // last Forward's logits is `dlogits` (n x vocab). `w` must be the weights
  // that Forward ran; g sized as ZerosLike(w).
  void Backward(const Shape& s, const Weights& w, const float* dlogits, Weights* g);

 private:
  struct LayerActs {
    std::vector<float> x, inv1, h, q, k, v, p, ao, x2, inv2, h2, a, b, m;
  };
  size_t n_ = 0;
  std::vector<int32_t> tokens_;
  std::vector<float> cos_, sin_;
  std::vector<LayerActs> acts_;
  std::vector<float> xl_, invf_, hf_, logits_;
};

}  // namespace tqf::rt::grad

#endif  // TQF_RUNTIME_LLAMA_GRAD_H_
