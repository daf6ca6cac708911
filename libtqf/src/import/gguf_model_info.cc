// GGUF metadata -> ModelInfo: hyperparameters from `<arch>.*` keys, the
// tokenizer from `tokenizer.ggml.*`, other scalar keys as string metadata.
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "import/gguf_meta.h"

namespace tqf::gguf {
namespace {

// Pre-tokenizer split patterns for the tokenizer.ggml.pre names we know.
constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class Meta {
 public:
  explicit Meta(const std::vector<KeyValue>& kvs) : kvs_(kvs) {}

  const KeyValue* Get(const std::string& key) {
    used_.insert(key);
    return Find(kvs_, key);
  }
  Status U32(const std::string& key, uint32_t* out) {
    const KeyValue* kv = Get(key);
    if (!kv) return Status::OK();
    uint64_t v;
    if (!kv->AsUInt(&v) || v > std::numeric_limits<uint32_t>::max()) {
      return Status::Corruption("GGUF key '" + key + "': expected an unsigned 32-bit integer, got " +
                                ValueTypeName(kv->type) + " " + kv->ToString());
    }
    *out = static_cast<uint32_t>(v);
    return Status::OK();
  }
  Status F32(const std::string& key, float* out) {
    const KeyValue* kv = Get(key);
    if (!kv) return Status::OK();
    double v;
    if (!kv->AsFloat(&v) || !std::isfinite(v)) {
      return Status::Corruption("GGUF key '" + key + "': expected a finite number, got " +
                                ValueTypeName(kv->type) + " " + kv->ToString());
    }
    *out = static_cast<float>(v);
    return Status::OK();
  }
  // Token id: -1 when absent or outside [0, n_tokens) (e.g. 0xFFFFFFFF).
  int32_t Id(const std::string& key, size_t n_tokens) {
    const KeyValue* kv = Get(key);
    int64_t v;
    if (!kv || !kv->AsInt(&v) || v < 0 || static_cast<uint64_t>(v) >= n_tokens) return -1;
    return static_cast<int32_t>(v);
  }
  bool Used(const std::string& key) const { return used_.count(key) != 0; }

 private:
  const std::vector<KeyValue>& kvs_;
  std::set<std::string> used_;
};

Status FillTokenizer(Meta* meta, ModelInfo* info) {
  TokenizerData& tok = info->tokenizer;
  const KeyValue* model = meta->Get("tokenizer.ggml.model");
  const KeyValue* tokens = meta->Get("tokenizer.ggml.tokens");
  if (!model && !tokens) return Status::OK();
  if (tokens && (tokens->type != ValueType::kArray || tokens->elem_type != ValueType::kString)) {
    return Status::Corruption("GGUF key 'tokenizer.ggml.tokens': expected an array of strings");
  }
  const std::string name = model && model->type == ValueType::kString ? model->str : "";
  if (name == "llama") {
    tok.kind = TokenizerKind::kSentencePieceBpe;
  } else if (name == "gpt2") {
    tok.kind = TokenizerKind::kByteLevelBpe;
    tok.add_bos = false;
  } else {
    info->metadata.emplace_back("import.note", "tokenizer model '" + name + "' not supported; " +
                                "tokenizer not imported");
    return Status::OK();
  }
  if (tokens) tok.tokens = tokens->strs;
  const size_t n = tok.tokens.size();
  if (const KeyValue* s = meta->Get("tokenizer.ggml.scores")) {
    if (s->type != ValueType::kArray || s->count != n || s->floats.size() != n) {
      return Status::Corruption("GGUF key 'tokenizer.ggml.scores': expected " + std::to_string(n) +
                                " floats (one per token), got " + s->ToString());
    }
    tok.scores.assign(s->floats.begin(), s->floats.end());
  }
  if (const KeyValue* t = meta->Get("tokenizer.ggml.token_type")) {
    if (t->type != ValueType::kArray || t->count != n || t->ints.size() != n) {
      return Status::Corruption("GGUF key 'tokenizer.ggml.token_type': expected " +
                                std::to_string(n) + " integers (one per token), got " + t->ToString());
    }
    tok.token_types.assign(t->ints.begin(), t->ints.end());
  }
  if (const KeyValue* m = meta->Get("tokenizer.ggml.merges")) {
    if (m->type != ValueType::kArray || m->elem_type != ValueType::kString) {
      return Status::Corruption("GGUF key 'tokenizer.ggml.merges': expected an array of strings");
    }
    tok.merges = m->strs;
  }
  tok.bos_id = meta->Id("tokenizer.ggml.bos_token_id", n);
  tok.eos_id = meta->Id("tokenizer.ggml.eos_token_id", n);
  tok.unk_id = meta->Id("tokenizer.ggml.unknown_token_id", n);
  tok.pad_id = meta->Id("tokenizer.ggml.padding_token_id", n);
  if (const KeyValue* b = meta->Get("tokenizer.ggml.add_bos_token"); b && b->IsInteger()) {
    tok.add_bos = b->u != 0 || b->i != 0;
  }
  if (const KeyValue* e = meta->Get("tokenizer.ggml.add_eos_token"); e && e->IsInteger()) {
    tok.add_eos = e->u != 0 || e->i != 0;
  }
  if (const KeyValue* pre = meta->Get("tokenizer.ggml.pre"); pre && pre->type == ValueType::kString) {
    info->metadata.emplace_back("tokenizer.ggml.pre", pre->str);
    if (pre->str == "llama-bpe" || pre->str == "llama3") tok.pre_split_regex = kLlama3Regex;
    if (pre->str == "gpt2" || pre->str == "default") tok.pre_split_regex = kGpt2Regex;
  }
  if (tok.kind == TokenizerKind::kByteLevelBpe && tok.pre_split_regex.empty()) {
    tok.pre_split_regex = kGpt2Regex;
  }
  return Status::OK();
}

Status FillHparams(Meta* meta, const std::vector<SourceTensor>& tensors, ModelInfo* info) {
  Hyperparameters& hp = info->hparams;
  hp.architecture = "unknown";
  if (const KeyValue* a = meta->Get("general.architecture"); a && a->type == ValueType::kString) {
    hp.architecture = a->str;
  }
  const std::string p = hp.architecture + ".";
  TQF_RETURN_IF_ERROR(meta->U32(p + "embedding_length", &hp.dim));
  TQF_RETURN_IF_ERROR(meta->U32(p + "feed_forward_length", &hp.hidden_dim));
  TQF_RETURN_IF_ERROR(meta->U32(p + "block_count", &hp.n_layers));
  TQF_RETURN_IF_ERROR(meta->U32(p + "attention.head_count", &hp.n_heads));
  hp.n_kv_heads = hp.n_heads;
  TQF_RETURN_IF_ERROR(meta->U32(p + "attention.head_count_kv", &hp.n_kv_heads));
  TQF_RETURN_IF_ERROR(meta->U32(p + "attention.key_length", &hp.head_dim));
  if (hp.head_dim == 0 && hp.n_heads > 0) hp.head_dim = hp.dim / hp.n_heads;
  TQF_RETURN_IF_ERROR(meta->U32(p + "context_length", &hp.context_length));
  TQF_RETURN_IF_ERROR(meta->F32(p + "attention.layer_norm_rms_epsilon", &hp.norm_eps));
  TQF_RETURN_IF_ERROR(meta->F32(p + "rope.freq_base", &hp.rope_theta));
  // Llama 3 rope scaling: only taken when the type says llama3 or the
  // llama3-specific frequency factors are present.
  const KeyValue* type = meta->Get(p + "rope.scaling.type");
  const bool llama3 = type && type->type == ValueType::kString && type->str == "llama3";
  float low = 0, high = 0;
  TQF_RETURN_IF_ERROR(meta->F32(p + "rope.scaling.low_freq_factor", &low));
  TQF_RETURN_IF_ERROR(meta->F32(p + "rope.scaling.high_freq_factor", &high));
  if (llama3 || low != 0 || high != 0) {
    hp.rope_low_freq_factor = low;
    hp.rope_high_freq_factor = high;
    TQF_RETURN_IF_ERROR(meta->F32(p + "rope.scaling.factor", &hp.rope_scaling_factor));
    TQF_RETURN_IF_ERROR(meta->U32(p + "rope.scaling.original_context_length",
                                  &hp.rope_original_context));
  }
  TQF_RETURN_IF_ERROR(meta->U32(p + "vocab_size", &hp.vocab_size));
  bool has_output = false;
  const SourceTensor* embd = nullptr;
  for (const SourceTensor& t : tensors) {
    if (t.name == "output.weight") has_output = true;
    if (t.name == "token_embd.weight") embd = &t;
  }
  if (hp.vocab_size == 0) hp.vocab_size = static_cast<uint32_t>(info->tokenizer.tokens.size());
  if (hp.vocab_size == 0 && embd && embd->shape.size() == 2 &&
      embd->shape[0] <= std::numeric_limits<uint32_t>::max()) {
    hp.vocab_size = static_cast<uint32_t>(embd->shape[0]);
  }
  hp.tied_embeddings = !has_output;
  return Status::OK();
}

}  // namespace

Status FillModelInfo(const std::vector<KeyValue>& kvs, const std::vector<SourceTensor>& tensors,
                     ModelInfo* info) {
  Meta meta(kvs);
  TQF_RETURN_IF_ERROR(FillTokenizer(&meta, info));
  TQF_RETURN_IF_ERROR(FillHparams(&meta, tensors, info));
  meta.Get("general.alignment");
  info->metadata.emplace_back("source.format", "gguf");
  for (const KeyValue& kv : kvs) {
    if (kv.type == ValueType::kArray || meta.Used(kv.key)) continue;
    if (kv.key.compare(0, 15, "tokenizer.ggml.") == 0) continue;
    info->metadata.emplace_back(kv.key, kv.ToString());
  }
  return Status::OK();
}

}  // namespace tqf::gguf
