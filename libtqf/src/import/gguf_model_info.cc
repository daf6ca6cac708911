// GGUF metadata -> ModelInfo: hyperparameters from `<arch>.*` keys, the
// tokenizer from `tokenizer.ggml.*`, other scalar keys as string metadata.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "import/gguf_meta.h"
#include "tqf/internal/gguf_keys.h"
#include "tqf/internal/pretokenizer.h"

namespace tqf::gguf {
namespace {

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
      return Status::Corruption("GGUF key '" + key +
                                "': expected an unsigned 32-bit integer, got " +
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

// EOS plus llama.cpp's end-of-turn / end-of-message ids, when the file has
// them: generation ends at any (Llama 3 instruct: 128001, 128009, 128008).
// Without a valid EOS there are none (the list must hold EOS).
void SetStopIds(Meta* meta, size_t n, TokenizerData* tok) {
  if (meta->Id(GgufKeyName(GgufKey::kTokenizerEosId), n) < 0) return;
  std::vector<int32_t> ids;
  for (GgufKey key :
       {GgufKey::kTokenizerEosId, GgufKey::kTokenizerEotId, GgufKey::kTokenizerEomId}) {
    const int32_t id = meta->Id(GgufKeyName(key), n);
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  if (ids.size() > 1) tok->stop_ids = std::move(ids);
}

Status FillTokenizer(Meta* meta, ModelInfo* info) {
  TokenizerData& tok = info->tokenizer;
  const KeyValue* model = meta->Get(GgufKeyName(GgufKey::kTokenizerModel));
  const KeyValue* tokens = meta->Get(GgufKeyName(GgufKey::kTokenizerTokens));
  if (!model && !tokens) return Status::OK();
  if (tokens && (tokens->type != ValueType::kArray || tokens->elem_type != ValueType::kString)) {
    return Status::Corruption("GGUF key '" + tokens->key + "': expected an array of strings");
  }
  const std::string name = model && model->type == ValueType::kString ? model->str : "";
  if (name == "llama") {
    tok.kind = TokenizerKind::kSentencePieceBpe;
  } else if (name == "gpt2") {
    tok.kind = TokenizerKind::kByteLevelBpe;
    tok.add_bos = false;
  } else {
    info->metadata.emplace_back(
        "import.note", "tokenizer model '" + name + "' not supported; " + "tokenizer not imported");
    return Status::OK();
  }
  if (tokens) tok.tokens = tokens->strs;
  const size_t n = tok.tokens.size();
  if (const KeyValue* s = meta->Get(GgufKeyName(GgufKey::kTokenizerScores))) {
    if (s->type != ValueType::kArray || s->count != n || s->floats.size() != n) {
      return Status::Corruption("GGUF key '" + s->key + "': expected " + std::to_string(n) +
                                " floats (one per token), got " + s->ToString());
    }
    tok.scores.assign(s->floats.begin(), s->floats.end());
  }
  if (const KeyValue* t = meta->Get(GgufKeyName(GgufKey::kTokenizerTokenType))) {
    if (t->type != ValueType::kArray || t->count != n || t->ints.size() != n) {
      return Status::Corruption("GGUF key '" + t->key + "': expected " + std::to_string(n) +
                                " integers (one per token), got " + t->ToString());
    }
    tok.token_types.assign(t->ints.begin(), t->ints.end());
  }
  if (const KeyValue* m = meta->Get(GgufKeyName(GgufKey::kTokenizerMerges))) {
    if (m->type != ValueType::kArray || m->elem_type != ValueType::kString) {
      return Status::Corruption("GGUF key '" + m->key + "': expected an array of strings");
    }
    tok.merges = m->strs;
  }
  tok.bos_id = meta->Id(GgufKeyName(GgufKey::kTokenizerBosId), n);
  tok.eos_id = meta->Id(GgufKeyName(GgufKey::kTokenizerEosId), n);
  SetStopIds(meta, n, &tok);
  tok.unk_id = meta->Id(GgufKeyName(GgufKey::kTokenizerUnknownId), n);
  tok.pad_id = meta->Id(GgufKeyName(GgufKey::kTokenizerPaddingId), n);
  if (const KeyValue* b = meta->Get(GgufKeyName(GgufKey::kTokenizerAddBos)); b && b->IsInteger()) {
    tok.add_bos = b->u != 0 || b->i != 0;
  }
  if (const KeyValue* e = meta->Get(GgufKeyName(GgufKey::kTokenizerAddEos)); e && e->IsInteger()) {
    tok.add_eos = e->u != 0 || e->i != 0;
  }
  if (const KeyValue* pre = meta->Get(GgufKeyName(GgufKey::kTokenizerPre));
      pre && pre->type == ValueType::kString) {
    info->metadata.emplace_back(pre->key, pre->str);
    PreTokenizer known;
    if (PreTokenizerFromGgufName(pre->str, &known)) tok.pre_split_regex = PreTokenizerRegex(known);
  }
  if (tok.kind == TokenizerKind::kByteLevelBpe && tok.pre_split_regex.empty()) {
    tok.pre_split_regex = PreTokenizerRegex(PreTokenizer::kGpt2);
  }
  return Status::OK();
}

Status FillHparams(Meta* meta, const std::vector<SourceTensor>& tensors, ModelInfo* info) {
  Hyperparameters& hp = info->hparams;
  hp.architecture = "unknown";
  if (const KeyValue* a = meta->Get(GgufKeyName(GgufKey::kArchitecture));
      a && a->type == ValueType::kString) {
    hp.architecture = a->str;
  }
  TQF_RETURN_IF_ERROR(meta->U32(GgufKeyName(GgufKey::kEmbeddingLength, hp.architecture), &hp.dim));
  TQF_RETURN_IF_ERROR(
      meta->U32(GgufKeyName(GgufKey::kFeedForwardLength, hp.architecture), &hp.hidden_dim));
  TQF_RETURN_IF_ERROR(meta->U32(GgufKeyName(GgufKey::kBlockCount, hp.architecture), &hp.n_layers));
  TQF_RETURN_IF_ERROR(meta->U32(GgufKeyName(GgufKey::kHeadCount, hp.architecture), &hp.n_heads));
  hp.n_kv_heads = hp.n_heads;
  TQF_RETURN_IF_ERROR(
      meta->U32(GgufKeyName(GgufKey::kHeadCountKv, hp.architecture), &hp.n_kv_heads));
  TQF_RETURN_IF_ERROR(meta->U32(GgufKeyName(GgufKey::kKeyLength, hp.architecture), &hp.head_dim));
  if (hp.head_dim == 0 && hp.n_heads > 0) hp.head_dim = hp.dim / hp.n_heads;
  TQF_RETURN_IF_ERROR(
      meta->U32(GgufKeyName(GgufKey::kContextLength, hp.architecture), &hp.context_length));
  TQF_RETURN_IF_ERROR(meta->F32(GgufKeyName(GgufKey::kRmsEpsilon, hp.architecture), &hp.norm_eps));
  TQF_RETURN_IF_ERROR(
      meta->F32(GgufKeyName(GgufKey::kRopeFreqBase, hp.architecture), &hp.rope_theta));
  // Llama 3 rope scaling: only taken when the type says llama3 or the
  // llama3-specific frequency factors are present.
  const KeyValue* type = meta->Get(GgufKeyName(GgufKey::kRopeScalingType, hp.architecture));
  const bool llama3 = type && type->type == ValueType::kString && type->str == "llama3";
  float low = 0, high = 0;
  TQF_RETURN_IF_ERROR(
      meta->F32(GgufKeyName(GgufKey::kRopeScalingLowFreqFactor, hp.architecture), &low));
  TQF_RETURN_IF_ERROR(
      meta->F32(GgufKeyName(GgufKey::kRopeScalingHighFreqFactor, hp.architecture), &high));
  if (llama3 || low != 0 || high != 0) {
    hp.rope_low_freq_factor = low;
    hp.rope_high_freq_factor = high;
    TQF_RETURN_IF_ERROR(meta->F32(GgufKeyName(GgufKey::kRopeScalingFactor, hp.architecture),
                                  &hp.rope_scaling_factor));
    TQF_RETURN_IF_ERROR(
        meta->U32(GgufKeyName(GgufKey::kRopeScalingOriginalContext, hp.architecture),
                  &hp.rope_original_context));
  }
  TQF_RETURN_IF_ERROR(meta->U32(GgufKeyName(GgufKey::kVocabSize, hp.architecture), &hp.vocab_size));
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
  // Storage details of the GGUF itself, which a .tqf re-stores its own way.
  meta.Get(GgufKeyName(GgufKey::kAlignment));
  meta.Get(GgufKeyName(GgufKey::kFileType));
  info->metadata.emplace_back("source.format", "gguf");
  for (const KeyValue& kv : kvs) {
    if (kv.type == ValueType::kArray || meta.Used(kv.key)) continue;
    if (kv.key.compare(0, kGgufTokenizerPrefix.size(), kGgufTokenizerPrefix) == 0) continue;
    info->metadata.emplace_back(kv.key, kv.ToString());
  }
  return Status::OK();
}

}  // namespace tqf::gguf
