// LLaMA shapes and weights from a SourceModel for the trainer
// (llama_grad.h): the runtime's hyperparameter reading and rotary
// frequencies, canonical tensor names to Weights slots.
#include <cmath>
#include <string>

#include "llama_grad.h"
#include "tqf/internal/rope.h"

namespace tqf::rt::grad {

Result<Shape> ShapeOf(const SourceModel& source) {
  const Hyperparameters& hp = source.info.hparams;
  if (hp.architecture != "llama") {
    return Status::NotSupported("fine-tuning runs LLaMA models only, not '" + hp.architecture +
                                "'");
  }
  Shape s;
  s.dim = hp.dim, s.hidden = hp.hidden_dim, s.layers = hp.n_layers, s.heads = hp.n_heads;
  s.kv_heads = hp.n_kv_heads ? hp.n_kv_heads : hp.n_heads;
  s.head_dim = hp.head_dim ? hp.head_dim : (hp.n_heads ? hp.dim / hp.n_heads : 0);
  s.vocab = hp.vocab_size, s.eps = hp.norm_eps;
  if (s.dim == 0 || s.hidden == 0 || s.layers == 0 || s.layers > 4096 || s.heads == 0 ||
      s.vocab == 0 || s.head_dim == 0 || s.head_dim % 2 != 0 || s.heads % s.kv_heads != 0) {
    return Status::InvalidArgument("fine-tuning: inconsistent hyperparameters");
  }
  // The runtime's frequencies (Model::ComputeRopeFrequencies).
  std::vector<float> divisors;
  const bool by_params = hp.rope_scaling_factor > 0.0f;
  for (const SourceTensor& t : source.tensors) {
    if (t.name != kRopeFreqsTensor || by_params) continue;
    if (t.num_elements() != s.head_dim / 2) {
      return Status::InvalidArgument(std::string(kRopeFreqsTensor) + ": wrong size");
    }
    divisors.resize(s.head_dim / 2);
    TQF_RETURN_IF_ERROR(t.ToF32(divisors.data()));
    for (float v : divisors) {
      if (!(v > 0.0f) || !std::isfinite(v)) {
        return Status::InvalidArgument(std::string(kRopeFreqsTensor) + ": a divisor is not positive");
      }
    }
  }
  for (size_t i = 0; i < s.head_dim / 2; ++i) {
    float f = 1.0f / std::pow(hp.rope_theta, float(2 * i) / float(s.head_dim));
    if (by_params) f = Llama3ScaleFrequency(f, hp);
    if (!divisors.empty()) f /= divisors[i];
    s.rope_freq.push_back(f);
  }
  return s;
}

// Weights::t index of a canonical tensor name, or -1.
int IndexOfName(const std::string& name, size_t layers) {
  if (name == "token_embd.weight") return Weights::kEmbedding;
  if (name == "output_norm.weight") return Weights::kOutputNorm;
  if (name == "output.weight") return Weights::kOutput;
  static const std::pair<const char*, Role> kRoles[] = {
      {"attn_q", kQ},         {"attn_k", kK},       {"attn_v", kV},
      {"attn_output", kO},    {"ffn_gate", kGate},  {"ffn_up", kUp},
      {"ffn_down", kDown},    {"attn_norm", kAttnNorm},
      {"ffn_norm", kFfnNorm}};
  // "blk.<layer>.": digits without a leading zero, below `layers`.
  if (name.compare(0, 4, "blk.") != 0) return -1;
  size_t l = 0, used = 4;
  while (used < name.size() && used < 12 && name[used] >= '0' && name[used] <= '9') {
    l = l * 10 + size_t(name[used++] - '0');
  }
  if (used == 4 || used >= name.size() || name[used] != '.' || (name[4] == '0' && used > 5) ||
      l >= layers) {
    return -1;
  }
  ++used;
  for (const auto& [role, r] : kRoles) {
    if (name.compare(used, std::string::npos, std::string(role) + ".weight") == 0) {
      return static_cast<int>(Weights::Layer(l, r));
    }
  }
  return -1;
}

// The source tensor behind each Weights slot (nullptr for a tied head);
// kInvalidArgument naming what is missing or of the wrong size.
Result<std::vector<const SourceTensor*>> FindTensors(const SourceModel& source, const Shape& s) {
  std::vector<const SourceTensor*> found(Weights::Count(s.layers), nullptr);
  for (const SourceTensor& t : source.tensors) {
    const int i = IndexOfName(t.name, s.layers);
    if (i < 0) continue;
    size_t rows = 0, cols = 0;
    TensorShape(s, i, &rows, &cols);
    if (t.num_elements() != rows * cols || t.cols() != cols) {
      return Status::InvalidArgument("fine-tuning: tensor '" + t.name + "' has " +
                                     std::to_string(t.num_elements()) + " elements, the " +
                                     "hyperparameters imply " + std::to_string(rows) + " x " +
                                     std::to_string(cols));
    }
    found[i] = &t;
  }
  for (size_t i = 0; i < found.size(); ++i) {
    if (found[i] == nullptr && i != Weights::kOutput) {
      return Status::InvalidArgument("fine-tuning: the model lacks a tensor of the LLaMA layout (" +
                                     std::string(i == 0 ? "token_embd" : i == 1 ? "output_norm"
                                                 : "blk." + std::to_string((i - 3) / kRoles)) +
                                     ")");
    }
  }
  return found;
}

Result<Weights> LoadWeights(const SourceModel& source, const Shape& s) {
  TQF_ASSIGN_OR_RETURN(std::vector<const SourceTensor*> found, FindTensors(source, s));
  Weights w;
  w.t.resize(found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    if (found[i] == nullptr) continue;
    w.t[i].resize(found[i]->num_elements());
    TQF_RETURN_IF_ERROR(found[i]->ToF32(w.t[i].data()));
  }
  return w;
}

}  // namespace tqf::rt::grad
