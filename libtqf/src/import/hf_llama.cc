// Hugging Face LlamaForCausalLM config.json and tensor naming (see hf_llama.h).
#include "import/hf_llama.h"

#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "import/import_internal.h"
#include "tqf/internal/json.h"
#include "tqf/mapped_file.h"

namespace tqf::hf {
namespace {

// HF per-layer suffix -> canonical suffix.
struct NamePair {
  const char* hf;
  const char* gguf;
};
constexpr NamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

// Canonical name for an HF llama tensor name; empty to drop the tensor
// (rotary inv_freq buffers); the HF name itself if unknown.
std::string CanonicalName(const std::string& name) {
  if (name == "model.embed_tokens.weight") return "token_embd.weight";
  if (name == "model.norm.weight") return "output_norm.weight";
  if (name == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return name;
  size_t p = prefix.size(), q = p;
  while (q < name.size() && q - p < 9 && name[q] >= '0' && name[q] <= '9') ++q;
  if (q == p || q >= name.size() || name[q] != '.') return name;
  const std::string layer = name.substr(p, q - p);
  const std::string rest = name.substr(q + 1);
  if (rest == "self_attn.rotary_emb.inv_freq") return "";
  for (const NamePair& n : kLayerNames) {
    if (rest == n.hf) return "blk." + std::to_string(std::stoul(layer)) + "." + n.gguf;
  }
  return name;
}

class Config {
 public:
  Config(const json::Value& root, const std::string& path) : root_(root), path_(path) {}
  // Reads a positive integer key into *out; `required` makes absence an error.
  Status U32(const char* key, uint32_t* out, bool required) const {
    const json::Value* v = root_.Find(key);
    if (!v || v->is_null()) {
      return required ? Status::Corruption(path_ + ": missing \"" + key + "\"") : Status::OK();
    }
    if (!v->is_int() || v->as_int() <= 0 || v->as_int() > std::numeric_limits<uint32_t>::max()) {
      return Status::Corruption(path_ + ": \"" + key + "\" must be a positive 32-bit integer");
    }
    *out = static_cast<uint32_t>(v->as_int());
    return Status::OK();
  }
  Status F32(const json::Value& obj, const char* key, float* out) const {
    const json::Value* v = obj.Find(key);
    if (!v || v->is_null()) return Status::OK();
    if (!v->is_number()) return Status::Corruption(path_ + ": \"" + key + "\" must be a number");
    *out = static_cast<float>(v->as_double());
    return Status::OK();
  }

 private:
  const json::Value& root_;
  const std::string& path_;
};

bool IsLlama(const json::Value& root) {
  if (const json::Value* t = root.Find("model_type"); t && t->as_string() == "llama") return true;
  if (const json::Value* a = root.Find("architectures"); a && a->is_array()) {
    for (const json::Value& x : a->items()) {
      if (x.as_string() == "LlamaForCausalLM") return true;
    }
  }
  return false;
}

Status ReadHparams(const json::Value& root, const std::string& path, Hyperparameters* hp) {
  Config c(root, path);
  hp->architecture = "llama";
  TQF_RETURN_IF_ERROR(c.U32("hidden_size", &hp->dim, true));
  TQF_RETURN_IF_ERROR(c.U32("intermediate_size", &hp->hidden_dim, true));
  TQF_RETURN_IF_ERROR(c.U32("num_hidden_layers", &hp->n_layers, true));
  TQF_RETURN_IF_ERROR(c.U32("num_attention_heads", &hp->n_heads, true));
  hp->n_kv_heads = hp->n_heads;
  TQF_RETURN_IF_ERROR(c.U32("num_key_value_heads", &hp->n_kv_heads, false));
  hp->head_dim = hp->dim / hp->n_heads;
  TQF_RETURN_IF_ERROR(c.U32("head_dim", &hp->head_dim, false));
  TQF_RETURN_IF_ERROR(c.U32("vocab_size", &hp->vocab_size, false));
  TQF_RETURN_IF_ERROR(c.U32("max_position_embeddings", &hp->context_length, false));
  TQF_RETURN_IF_ERROR(c.F32(root, "rms_norm_eps", &hp->norm_eps));
  TQF_RETURN_IF_ERROR(c.F32(root, "rope_theta", &hp->rope_theta));
  if (const json::Value* rs = root.Find("rope_scaling"); rs && rs->is_object()) {
    const json::Value* type = rs->Find("rope_type");
    if (!type) type = rs->Find("type");
    if (!type || type->as_string() != "llama3") {
      return Status::NotSupported(path + ": rope_scaling type '" +
                                  (type ? type->as_string() : std::string()) +
                                  "' is not supported (only llama3)");
    }
    TQF_RETURN_IF_ERROR(c.F32(*rs, "factor", &hp->rope_scaling_factor));
    TQF_RETURN_IF_ERROR(c.F32(*rs, "low_freq_factor", &hp->rope_low_freq_factor));
    TQF_RETURN_IF_ERROR(c.F32(*rs, "high_freq_factor", &hp->rope_high_freq_factor));
    Config sub(*rs, path);
    TQF_RETURN_IF_ERROR(
        sub.U32("original_max_position_embeddings", &hp->rope_original_context, false));
  }
  if (hp->n_kv_heads > hp->n_heads || hp->n_heads % hp->n_kv_heads != 0) {
    return Status::Corruption(path + ": num_key_value_heads " + std::to_string(hp->n_kv_heads) +
                              " does not divide num_attention_heads " +
                              std::to_string(hp->n_heads));
  }
  return Status::OK();
}

// Replaces t's bytes with its rows permuted for n_head heads.
Status PermuteTensor(SourceTensor* t, uint32_t n_head, SourceModel* m) {
  if (t->shape.size() != 2 || n_head == 0 || t->shape[0] % (2ull * n_head) != 0 ||
      t->shape[0] == 0) {
    return Status::Corruption("tensor '" + t->name + "': cannot split " +
                              std::to_string(t->shape.empty() ? 0 : t->shape[0]) + " rows into " +
                              std::to_string(n_head) + " heads of rotary pairs");
  }
  const size_t rows = static_cast<size_t>(t->shape[0]);
  const size_t row_bytes = t->size / rows;
  try {
    auto buf = std::make_shared<std::vector<uint8_t>>(t->size);
    PermuteRows(t->data, buf->data(), rows, row_bytes, n_head);
    t->data = buf->data();
    import_internal::AddKeepAlive(m, std::move(buf));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + t->name + "': out of memory permuting " +
                                     std::to_string(t->size) + " bytes");
  }
  return Status::OK();
}

}  // namespace

void PermuteRows(const uint8_t* src, uint8_t* dst, size_t rows, size_t row_bytes, size_t n_head) {
  const size_t hd = rows / n_head, half = hd / 2;
  for (size_t h = 0; h < n_head; ++h) {
    for (size_t i = 0; i < 2; ++i) {
      for (size_t j = 0; j < half; ++j) {
        std::memcpy(dst + (h * hd + j * 2 + i) * row_bytes,
                    src + (h * hd + i * half + j) * row_bytes, row_bytes);
      }
    }
  }
}

Status ApplyConfig(const std::string& config_path, SourceModel* m) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(config_path));
  Result<json::Value> doc =
      json::Parse(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()));
  if (!doc.ok()) return doc.status().WithContext(config_path);
  if (!doc->is_object()) return Status::Corruption(config_path + ": not a JSON object");
  m->info.metadata.emplace_back("config.source", config_path);
  if (!IsLlama(*doc)) {
    if (const json::Value* t = doc->Find("model_type"); t && t->is_string()) {
      m->info.hparams.architecture = t->as_string();
    }
    return Status::OK();
  }
  Hyperparameters& hp = m->info.hparams;
  TQF_RETURN_IF_ERROR(ReadHparams(*doc, config_path, &hp));
  std::vector<SourceTensor> kept;
  bool has_output = false;
  for (SourceTensor& t : m->tensors) {
    std::string name = CanonicalName(t.name);
    if (name.empty()) continue;
    t.name = std::move(name);
    const bool is_q =
        t.name.size() > 14 && t.name.compare(t.name.size() - 14, 14, ".attn_q.weight") == 0;
    const bool is_k =
        t.name.size() > 14 && t.name.compare(t.name.size() - 14, 14, ".attn_k.weight") == 0;
    if (is_q) TQF_RETURN_IF_ERROR(PermuteTensor(&t, hp.n_heads, m));
    if (is_k) TQF_RETURN_IF_ERROR(PermuteTensor(&t, hp.n_kv_heads, m));
    if (t.name == "output.weight") has_output = true;
    if (t.name == "token_embd.weight" && hp.vocab_size == 0 && !t.shape.empty()) {
      hp.vocab_size = static_cast<uint32_t>(t.shape[0]);
    }
    kept.push_back(std::move(t));
  }
  m->tensors = std::move(kept);
  hp.tied_embeddings = !has_output;
  return Status::OK();
}

}  // namespace tqf::hf
