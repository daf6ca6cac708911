// Model: opening and validating a .tqf as a LLaMA model, holding the
// non-layer weights, and wiring the layer provider. The forward pass is in
// model_forward.cc.
#include "tqf/rt/model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model_internal.h"
#include "tqf/rt/held_nibbles.h"

namespace tqf::rt {
namespace {

std::string ShapeString(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// "dim 288": a size and the hyperparameter it comes from, for shape errors.
std::string SizeName(const char* hyperparameter, size_t value) {
  return std::string(hyperparameter) + " " + std::to_string(value);
}

// Finds `name` and checks its shape; `why` explains the expected shape.
Result<size_t> CheckTensor(const Reader& reader, const std::string& name,
                           const std::vector<uint64_t>& shape, const std::string& why) {
  Result<size_t> idx = reader.FindTensor(name);
  if (!idx.ok()) {
    return Status::Corruption("tensor '" + name + "' is missing (a LLaMA model with these " +
                              "hyperparameters needs it, shape " + ShapeString(shape) + ")");
  }
  const TensorInfo& t = reader.tensors()[*idx];
  if (t.shape != shape) {
    return Status::Corruption("tensor '" + name + "': shape " + ShapeString(t.shape) +
                              " contradicts the hyperparameters, which imply " +
                              ShapeString(shape) + " (" + why + ")");
  }
  const size_t esize = DTypeSize(t.dtype);
  if (esize == 0 || t.raw_size != t.num_elements() * esize) {
    return Status::Corruption("tensor '" + name + "': stored type " + DTypeName(t.dtype) +
                              " with " + std::to_string(t.raw_size) + " bytes for " +
                              std::to_string(t.num_elements()) + " elements");
  }
  return *idx;
}

// Per-layer tensors the runtime does not know, or of layers the
// hyperparameters do not have, mean the file describes another model.
Status CheckNoStrayLayerTensors(const Reader& reader, size_t n_layers) {
  static const char* const kKnown[] = {"attn_q",   "attn_k",   "attn_v", "attn_output", "attn_norm",
                                       "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
  for (const TensorInfo& t : reader.tensors()) {
    if (t.name.compare(0, 4, "blk.") != 0) continue;
    size_t i = 4;
    uint64_t layer = 0;
    while (i < t.name.size() && i < 12 && t.name[i] >= '0' && t.name[i] <= '9') {
      layer = layer * 10 + static_cast<uint64_t>(t.name[i++] - '0');
    }
    if (i == 4 || i >= t.name.size() || t.name[i] != '.') continue;
    if (layer >= n_layers) {
      return Status::Corruption("tensor '" + t.name + "' belongs to layer " +
                                std::to_string(layer) + " but the hyperparameters say n_layers " +
                                std::to_string(n_layers));
    }
    bool known = false;
    for (const char* k : kKnown)
      known = known || t.name.substr(i + 1) == std::string(k) + ".weight";
    if (!known) {
      return Status::NotSupported("tensor '" + t.name +
                                  "' is not part of the LLaMA architecture "
                                  "this runtime runs (biases or other extras are not supported)");
    }
  }
  return Status::OK();
}

Status CheckHyperparameters(const Hyperparameters& hp) {
  auto bad = [](const std::string& msg) {
    return Status::InvalidArgument("hyperparameters: " + msg);
  };
  if (hp.architecture != "llama") {
    return Status::NotSupported("architecture '" + hp.architecture +
                                "' is not supported by the runtime (only 'llama')");
  }
  if (hp.dim == 0 || hp.hidden_dim == 0 || hp.n_layers == 0 || hp.n_heads == 0 ||
      hp.vocab_size == 0) {
    return bad("dim, hidden_dim, n_layers, n_heads and vocab_size must be positive (dim " +
               std::to_string(hp.dim) + ", hidden_dim " + std::to_string(hp.hidden_dim) +
               ", n_layers " + std::to_string(hp.n_layers) + ", n_heads " +
               std::to_string(hp.n_heads) + ", vocab_size " + std::to_string(hp.vocab_size) + ")");
  }
  const uint32_t n_kv = hp.n_kv_heads ? hp.n_kv_heads : hp.n_heads;
  if (hp.n_heads % n_kv != 0) {
    return bad("n_heads " + std::to_string(hp.n_heads) + " is not a multiple of n_kv_heads " +
               std::to_string(n_kv));
  }
  if (hp.head_dim == 0 && hp.dim % hp.n_heads != 0) {
    return bad("dim " + std::to_string(hp.dim) + " is not a multiple of n_heads " +
               std::to_string(hp.n_heads) + " and head_dim is not given");
  }
  const uint32_t head_dim = hp.head_dim ? hp.head_dim : hp.dim / hp.n_heads;
  if (head_dim % 2 != 0)
    return bad("head_dim " + std::to_string(head_dim) + " is odd (RoPE needs pairs)");
  if (!(hp.norm_eps > 0.0f) || !std::isfinite(hp.norm_eps)) return bad("norm_eps must be positive");
  if (!(hp.rope_theta > 0.0f) || !std::isfinite(hp.rope_theta))
    return bad("rope_theta must be positive");
  if (hp.rope_scaling_factor < 0.0f || !std::isfinite(hp.rope_scaling_factor)) {
    return bad("rope_scaling_factor must be >= 0");
  }
  if (hp.rope_scaling_factor > 0.0f &&
      (!(hp.rope_low_freq_factor > 0.0f) || !(hp.rope_high_freq_factor > hp.rope_low_freq_factor) ||
       hp.rope_original_context == 0)) {
    return bad(
        "Llama 3 rope scaling needs 0 < low_freq_factor < high_freq_factor and an "
        "original context length");
  }
  // Keep every product of sizes far from overflow.
  const uint64_t kMax = uint64_t{1} << 24;
  if (hp.dim > kMax || hp.hidden_dim > kMax || uint64_t{hp.n_heads} * head_dim > kMax ||
      hp.n_layers > 4096 || hp.vocab_size > (uint64_t{1} << 22)) {
    return bad("sizes beyond what the runtime accepts");
  }
  return Status::OK();
}

}  // namespace

Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::Open(const std::string& path, const ModelOptions& options) {
  TQF_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, Reader::Open(path));
  return Create(std::shared_ptr<const Reader>(std::move(reader)), options);
}

Result<std::unique_ptr<Model>> Model::Create(std::shared_ptr<const Reader> reader,
                                             const ModelOptions& options) {
  std::unique_ptr<Model> model(new Model());
  TQF_RETURN_IF_ERROR(model->Init(std::move(reader), options));
  return model;
}

WeightView Model::View(size_t tensor_index, const uint8_t* data, const float* params,
                       const int8_t* lut, NibbleLayout layout) const {
  const TensorInfo& t = reader_->tensors()[tensor_index];
  WeightView w;
  w.dtype = t.dtype;
  w.quant = t.quant;
  w.quant_block = t.quant_block;
  w.rows = t.rows();
  w.cols = t.cols();
  w.data = data;
  w.params = params;
  w.num_params = t.num_params;
  w.lut = lut;
  w.nibble_layout = layout;
  return w;
}

// The tensor indices Init resolves, each checked before anything is decoded.
struct Model::ResolvedTensors {
  size_t embedding = 0, output = 0, output_norm = 0;
  std::vector<std::vector<size_t>> layers;  // per layer, in LayerTensor order
  std::vector<size_t> norms;                // per layer: attn_norm, ffn_norm
};

Status Model::Init(std::shared_ptr<const Reader> reader, const ModelOptions& options) {
  reader_ = std::move(reader);
  TQF_RETURN_IF_ERROR(DeriveSizes());
  TQF_RETURN_IF_ERROR(ApplyOptions(options));
  ResolvedTensors tensors;
  TQF_RETURN_IF_ERROR(ResolveTensors(&tensors));
  TQF_RETURN_IF_ERROR(HoldResidentWeights(tensors, options.layer_source.get()));
  TQF_RETURN_IF_ERROR(ComputeRopeFrequencies());
  TQF_RETURN_IF_ERROR(ConnectLayers(tensors.layers, options));
  buf_ = std::make_unique<Buffers>();
  return buf_->Allocate(*this);
}

Status Model::DeriveSizes() {
  const Hyperparameters& hp = hparams();
  TQF_RETURN_IF_ERROR(CheckHyperparameters(hp));
  dim_ = hp.dim;
  hidden_ = hp.hidden_dim;
  n_layers_ = hp.n_layers;
  n_heads_ = hp.n_heads;
  n_kv_ = hp.n_kv_heads ? hp.n_kv_heads : hp.n_heads;
  head_dim_ = hp.head_dim ? hp.head_dim : hp.dim / hp.n_heads;
  q_dim_ = n_heads_ * head_dim_;
  kv_dim_ = n_kv_ * head_dim_;
  vocab_ = hp.vocab_size;
  eps_ = hp.norm_eps;
  const size_t tokens = reader_->model().tokenizer.tokens.size();
  if (tokens > vocab_) {
    return Status::InvalidArgument("the tokenizer has " + std::to_string(tokens) +
                                   " tokens but vocab_size is " + std::to_string(vocab_));
  }
  return Status::OK();
}

Status Model::ApplyOptions(const ModelOptions& options) {
  ops_ = options.ops ? options.ops : &DefaultKernelOps();
  threads_ = options.threads;
  hold_nibbles_ = options.hold_nibbles && NibbleHoldingEnabled();
  nibble_groups_ = hold_nibbles_ && options.nibble_groups && ops_->matmul_n4_group16 != nullptr &&
                   NibbleGroupsEnabled();
  if (threads_ <= 0) {
    // All cores, also beside a prefetching decoder: decoding dominates a
    // budgeted run, and with passive OpenMP waits (the tool's default)
    // sharing the cores beats reserving one (llama-3.2-1b shape, 2 cores,
    // 2-layer budget: 2.7 tok/s vs 2.1 with compute on one core).
    threads_ = omp_get_max_threads();
  }
  const uint32_t context_length = hparams().context_length;
  ctx_size_ = options.ctx_size;
  if (ctx_size_ == 0) ctx_size_ = context_length ? std::min<uint32_t>(context_length, 4096) : 2048;
  // Past its trained context a model's attention is meaningless and costs
  // quadratic time; a file that states its context bounds the cache.
  if (context_length > 0 && ctx_size_ > context_length) {
    return Status::InvalidArgument("context of " + std::to_string(ctx_size_) +
                                   " positions asked, the model's context length is " +
                                   std::to_string(context_length));
  }
  // A pass never holds more tokens than the context.
  max_batch_ = std::min<size_t>(options.max_batch ? options.max_batch : 256, ctx_size_);
  return Status::OK();
}

// Checks in a fixed order (embedding, output norm and head, stray layer
// tensors, each layer, then the embedding's and head's stored form): the
// first contradiction found is the one reported.
Status Model::ResolveTensors(ResolvedTensors* t) {
  const std::string dims = SizeName("dim", dim_);
  const std::string vd_dims = SizeName("vocab_size", vocab_) + ", " + dims;
  TQF_ASSIGN_OR_RETURN(t->embedding,
                       CheckTensor(*reader_, "token_embd.weight", {vocab_, dim_}, vd_dims));
  TQF_ASSIGN_OR_RETURN(t->output_norm, CheckTensor(*reader_, "output_norm.weight", {dim_}, dims));
  tied_output_ = hparams().tied_embeddings || !reader_->FindTensor("output.weight").ok();
  t->output = t->embedding;
  if (!tied_output_) {
    TQF_ASSIGN_OR_RETURN(t->output,
                         CheckTensor(*reader_, "output.weight", {vocab_, dim_}, vd_dims));
  }
  TQF_RETURN_IF_ERROR(CheckNoStrayLayerTensors(*reader_, n_layers_));
  TQF_RETURN_IF_ERROR(ResolveLayerTensors(t));
  for (size_t idx : {t->embedding, t->output}) {
    TQF_RETURN_IF_ERROR(CheckKernelSupport(idx, reader_->tensors()[idx].name));
  }
  return Status::OK();
}

Status Model::ResolveLayerTensors(ResolvedTensors* t) const {
  const std::string dims = SizeName("dim", dim_);
  const std::string qd = SizeName("n_heads", n_heads_) + " x " + SizeName("head_dim", head_dim_);
  const std::string kvd = SizeName("n_kv_heads", n_kv_) + " x " + SizeName("head_dim", head_dim_);
  const std::string hd = SizeName("hidden_dim", hidden_);
  struct Want {
    const char* name;
    uint64_t rows, cols;
    std::string why;
  };
  const Want wants[kNumLayerTensors] = {{"attn_q", q_dim_, dim_, qd + ", " + dims},
                                        {"attn_k", kv_dim_, dim_, kvd + ", " + dims},
                                        {"attn_v", kv_dim_, dim_, kvd + ", " + dims},
                                        {"attn_output", dim_, q_dim_, dims + ", " + qd},
                                        {"ffn_gate", hidden_, dim_, hd + ", " + dims},
                                        {"ffn_up", hidden_, dim_, hd + ", " + dims},
                                        {"ffn_down", dim_, hidden_, dims + ", " + hd}};
  t->layers.resize(n_layers_);
  for (size_t l = 0; l < n_layers_; ++l) {
    const std::string prefix = "blk." + std::to_string(l) + ".";
    for (const Want& w : wants) {
      const std::string name = prefix + w.name + ".weight";
      TQF_ASSIGN_OR_RETURN(size_t idx, CheckTensor(*reader_, name, {w.rows, w.cols}, w.why));
      TQF_RETURN_IF_ERROR(CheckKernelSupport(idx, name));
      t->layers[l].push_back(idx);
    }
    for (const char* norm : {"attn_norm", "ffn_norm"}) {
      TQF_ASSIGN_OR_RETURN(size_t idx,
                           CheckTensor(*reader_, prefix + norm + ".weight", {dim_}, dims));
      t->norms.push_back(idx);
    }
  }
  return Status::OK();
}

// Checks the stored form, params included, on a private copy of the
// params (reading the mapping directly could fault if the file changed).
Status Model::CheckKernelSupport(size_t tensor_index, const std::string& name) const {
  const TensorInfo& t = reader_->tensors()[tensor_index];
  std::vector<float> params;
  try {
    params.resize(t.num_params);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + name + "': cannot allocate " +
                                     std::to_string(t.num_params) + " params");
  }
  TQF_RETURN_IF_ERROR(reader_->CopyParams(tensor_index, params.data(), params.size()));
  std::string why;
  if (!ValidateWeightView(View(tensor_index, nullptr, t.num_params ? params.data() : nullptr),
                          &why)) {
    return Status::Corruption("tensor '" + name + "': " + why);
  }
  return Status::OK();
}

Status Model::HoldResidentWeights(const ResolvedTensors& t, const LayerSource* source) {
  TQF_RETURN_IF_ERROR(HoldTensor(t.embedding, source, &embedding_));
  if (tied_output_) {
    output_ = embedding_;
  } else {
    TQF_RETURN_IF_ERROR(HoldTensor(t.output, source, &output_));
  }
  TQF_RETURN_IF_ERROR(HoldNorm(t.output_norm, &output_norm_));
  attn_norm_.resize(n_layers_);
  ffn_norm_.resize(n_layers_);
  for (size_t l = 0; l < n_layers_; ++l) {
    TQF_RETURN_IF_ERROR(HoldNorm(t.norms[2 * l], &attn_norm_[l]));
    TQF_RETURN_IF_ERROR(HoldNorm(t.norms[2 * l + 1], &ffn_norm_[l]));
  }
  return Status::OK();
}

// The embedding or output head, decoded once with a copy of its params
// (LayoutOf), or the storage service's shared copy laid out the same way.
Status Model::HoldTensor(size_t tensor_index, const LayerSource* source, WeightView* view) {
  const TensorInfo& t = reader_->tensors()[tensor_index];
  const DecodedTensorLayout layout = LayoutOf(t);
  auto params_of = [&](const uint8_t* base) {
    return t.num_params ? reinterpret_cast<const float*>(base + layout.params_offset) : nullptr;
  };
  if (source != nullptr) {
    if (const uint8_t* held = source->HeldTensor(*reader_, tensor_index)) {
      *view = View(tensor_index, held, params_of(held));  // shared, not ours to count
      return Status::OK();
    }
  }
  // 64-byte aligned, as the layer buffers: the kernels' vector loads want it.
  auto* raw = static_cast<uint8_t*>(std::aligned_alloc(64, layout.bytes));
  std::unique_ptr<uint8_t, void (*)(void*)> bytes(raw, std::free);
  if (!bytes) {
    return Status::ResourceExhausted("cannot allocate tensor '" + t.name + "' (" +
                                     std::to_string(layout.bytes) + " bytes)");
  }
  uint8_t* out = bytes.get();
  TQF_RETURN_IF_ERROR(DecodeTensorsReleasing(*reader_, &tensor_index, &out, 1, threads_));
  TQF_RETURN_IF_ERROR(reader_->CopyParams(
      tensor_index, reinterpret_cast<float*>(out + layout.params_offset), t.num_params));
  *view = View(tensor_index, out, params_of(out));
  if (hold_nibbles_) return HoldAsNibbles(tensor_index, bytes.release(), view);
  resident_bytes_ += layout.bytes;
  held_.push_back(std::move(bytes));
  return Status::OK();
}

Status Model::HoldAsNibbles(size_t tensor_index, const uint8_t* bytes, WeightView* view) {
  const TensorInfo& t = reader_->tensors()[tensor_index];
  const DecodedTensorLayout layout = LayoutOf(t);
  auto keep_int8 = [&] {
    resident_bytes_ += layout.bytes;
    held_.emplace_back(const_cast<uint8_t*>(bytes), std::free);
    return Status::OK();
  };
  int8_t lut[16];
  if (t.dtype != DType::kI8 || t.raw_size != t.rows() * t.cols() ||
      !FindNibbleTable(reinterpret_cast<const int8_t*>(bytes), t.raw_size, lut)) {
    return keep_int8();
  }
  // Nibbles, then the params, then the table, each 64-byte aligned.
  auto align = [](size_t v) { return (v + 63) / 64 * 64; };
  const NibbleLayout nibble_layout = NibbleLayoutFor(t, nibble_groups_);
  const size_t codes = align(NibbleTensorBytes(t, nibble_layout));
  const size_t params = align(t.num_params * sizeof(float));
  auto* out = static_cast<uint8_t*>(std::aligned_alloc(64, codes + params + 64));
  if (out == nullptr) return keep_int8();
  PackNibbleTensor(t, reinterpret_cast<const int8_t*>(bytes),
                   reinterpret_cast<const float*>(bytes + layout.params_offset), lut,
                   nibble_layout, out, reinterpret_cast<float*>(out + codes));
  std::memcpy(out + codes + params, lut, 16);
  std::free(const_cast<uint8_t*>(bytes));
  *view =
      View(tensor_index, out, t.num_params ? reinterpret_cast<const float*>(out + codes) : nullptr,
           reinterpret_cast<const int8_t*>(out + codes + params), nibble_layout);
  resident_bytes_ += codes + params + 64;
  held_.emplace_back(out, std::free);
  return Status::OK();
}

Status Model::HoldNorm(size_t tensor_index, std::vector<float>* v) {
  v->resize(dim_);
  resident_bytes_ += dim_ * sizeof(float);
  return reader_->DecodeTensorF32(tensor_index, v->data(), dim_, 1);
}

// RoPE inverse frequencies, with Llama 3 scaling when the file asks: as
// parameters (Hugging Face's rope_scaling) or as llama.cpp's per-frequency
// divisors, the tensor rope_freqs.weight (head_dim / 2 values, > 0). Files
// from older tqf tools hold both; they must then agree.
Status Model::ComputeRopeFrequencies() {
  const Hyperparameters& hp = hparams();
  std::vector<float> divisors;
  TQF_RETURN_IF_ERROR(ReadRopeDivisors(&divisors));
  const bool by_params = hp.rope_scaling_factor > 0.0f;
  if (by_params && !divisors.empty()) {
    const std::vector<float> implied = Llama3RopeDivisors(hp, static_cast<uint32_t>(head_dim_));
    for (size_t i = 0; i < divisors.size(); ++i) {
      if (std::fabs(divisors[i] - implied[i]) > 1e-3f * implied[i]) {
        return Status::InvalidArgument(
            std::string(kRopeFreqsTensor) + "[" + std::to_string(i) +
            "] = " + std::to_string(divisors[i]) + " contradicts the rope scaling parameters (" +
            std::to_string(implied[i]) + "); a model has one or the other");
      }
    }
    divisors.clear();  // the same scaling: apply it once, from the parameters
  }
  rope_freq_.resize(head_dim_ / 2);
  for (size_t i = 0; i < head_dim_ / 2; ++i) {
    float freq =
        1.0f / std::pow(hp.rope_theta, static_cast<float>(2 * i) / static_cast<float>(head_dim_));
    if (by_params) freq = Llama3ScaleFrequency(freq, hp);
    if (!divisors.empty()) freq /= divisors[i];
    rope_freq_[i] = freq;
  }
  return Status::OK();
}

// rope_freqs.weight when the file has it (else leaves `out` empty).
Status Model::ReadRopeDivisors(std::vector<float>* out) {
  Result<size_t> found = reader_->FindTensor(kRopeFreqsTensor);
  if (!found.ok()) return Status::OK();
  TQF_ASSIGN_OR_RETURN(size_t i, CheckTensor(*reader_, kRopeFreqsTensor, {head_dim_ / 2},
                                             "one divisor per rotary frequency"));
  out->resize(head_dim_ / 2);
  TQF_RETURN_IF_ERROR(reader_->DecodeTensorF32(i, out->data(), out->size(), 1));
  for (float d : *out) {
    if (!(d > 0.0f) || !std::isfinite(d)) {
      return Status::InvalidArgument(std::string(kRopeFreqsTensor) + ": divisor " +
                                     std::to_string(d) + " (each must be finite and > 0)");
    }
  }
  return Status::OK();
}

Status Model::ConnectLayers(const std::vector<std::vector<size_t>>& layers,
                            const ModelOptions& options) {
  for (const std::vector<size_t>& l : layers) {
    layer_tensor_index_.insert(layer_tensor_index_.end(), l.begin(), l.end());
  }
  if (options.layer_source) {
    provider_ = options.layer_source;
  } else {
    LayerProviderOptions popts;
    popts.mem_budget = options.mem_budget;
    popts.mem_budget_layers = options.mem_budget_layers;
    popts.decode_threads = threads_;
    popts.prefetch = options.prefetch;
    popts.hold_nibbles = options.hold_nibbles;
    popts.nibble_groups = nibble_groups_;
    auto provider = std::make_shared<LayerProvider>(reader_.get(), layers, popts);
    mem_budget_ = provider->mem_budget();
    provider_ = std::move(provider);
  }
  return provider_->Bind(*reader_, layers);
}

size_t Model::kv_cache_bytes() const { return 2 * n_layers_ * ctx_size_ * kv_dim_ * sizeof(float); }

}  // namespace tqf::rt
