// ModelInfo <-> FlatBuffers header tables.
#include "format/header_model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace tqf::format {

namespace fbs = flatbuffers;

fbs::Offset<fb::Hyperparameters> BuildHyperparameters(fbs::FlatBufferBuilder& b,
                                                      const Hyperparameters& h) {
  auto arch = b.CreateString(h.architecture);
  fb::HyperparametersBuilder hb(b);
  hb.add_architecture(arch);
  hb.add_dim(h.dim);
  hb.add_hidden_dim(h.hidden_dim);
  hb.add_n_layers(h.n_layers);
  hb.add_n_heads(h.n_heads);
  hb.add_n_kv_heads(h.n_kv_heads);
  hb.add_head_dim(h.head_dim);
  hb.add_vocab_size(h.vocab_size);
  hb.add_context_length(h.context_length);
  hb.add_norm_eps(h.norm_eps);
  hb.add_rope_theta(h.rope_theta);
  hb.add_rope_scaling_factor(h.rope_scaling_factor);
  hb.add_rope_low_freq_factor(h.rope_low_freq_factor);
  hb.add_rope_high_freq_factor(h.rope_high_freq_factor);
  hb.add_rope_original_context(h.rope_original_context);
  hb.add_tied_embeddings(h.tied_embeddings);
  return hb.Finish();
}

fbs::Offset<fb::Tokenizer> BuildTokenizer(fbs::FlatBufferBuilder& b, const TokenizerData& t) {
  std::vector<fbs::Offset<fbs::String>> tokens;
  tokens.reserve(t.tokens.size());
  for (const std::string& s : t.tokens) tokens.push_back(b.CreateString(s));
  auto tokens_vec = b.CreateVector(tokens);
  auto scores = b.CreateVector(t.scores);
  auto types = b.CreateVector(t.token_types);
  std::vector<fbs::Offset<fbs::String>> merges;
  merges.reserve(t.merges.size());
  for (const std::string& s : t.merges) merges.push_back(b.CreateString(s));
  auto merges_vec = b.CreateVector(merges);
  auto regex = b.CreateString(t.pre_split_regex);
  fb::TokenizerBuilder tb(b);
  tb.add_kind(static_cast<fb::TokenizerKind>(t.kind));
  tb.add_tokens(tokens_vec);
  tb.add_scores(scores);
  tb.add_token_types(types);
  tb.add_merges(merges_vec);
  tb.add_pre_split_regex(regex);
  tb.add_bos_id(t.bos_id);
  tb.add_eos_id(t.eos_id);
  tb.add_pad_id(t.pad_id);
  tb.add_unk_id(t.unk_id);
  tb.add_add_bos(t.add_bos);
  tb.add_add_eos(t.add_eos);
  return tb.Finish();
}

fbs::Offset<fbs::Vector<fbs::Offset<fb::KeyValue>>> BuildMetadata(
    fbs::FlatBufferBuilder& b, const std::vector<std::pair<std::string, std::string>>& kv,
    const std::vector<int32_t>& stop_ids) {
  std::vector<fbs::Offset<fb::KeyValue>> out;
  for (const auto& [k, v] : kv) {
    if (k == kStopIdsKey) continue;  // rewritten from stop_ids below
    auto key = b.CreateString(k);
    auto value = b.CreateString(v);
    out.push_back(fb::CreateKeyValue(b, key, value));
  }
  if (!stop_ids.empty()) {
    std::string list;
    for (int32_t id : stop_ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    auto key = b.CreateString(kStopIdsKey);
    auto value = b.CreateString(list);
    out.push_back(fb::CreateKeyValue(b, key, value));
  }
  return b.CreateVector(out);
}

namespace {

std::string Str(const fbs::String* s) { return s ? s->str() : std::string(); }

Status CheckId(const char* what, int32_t id, size_t n) {
  if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n)) {
    return Status::Corruption(std::string("header tokenizer: ") + what + " " + std::to_string(id) +
                              " out of range for " + std::to_string(n) + " tokens");
  }
  return Status::OK();
}

// A float hyperparameter must be finite: inf or NaN would silently poison
// every activation (and `--json` outputs could not print it).
Status CheckFinite(const char* name, float v) {
  if (std::isfinite(v)) return Status::OK();
  return Status::Corruption(std::string("header hyperparameter ") + name + " is " +
                            std::to_string(v) + ": must be finite");
}

Status ParseHyperparameters(const fb::Hyperparameters& h, Hyperparameters* out) {
  Hyperparameters& hp = *out;
  hp.architecture = Str(h.architecture());
  hp.dim = h.dim();
  hp.hidden_dim = h.hidden_dim();
  hp.n_layers = h.n_layers();
  hp.n_heads = h.n_heads();
  hp.n_kv_heads = h.n_kv_heads();
  hp.head_dim = h.head_dim();
  hp.vocab_size = h.vocab_size();
  hp.context_length = h.context_length();
  hp.norm_eps = h.norm_eps();
  hp.rope_theta = h.rope_theta();
  hp.rope_scaling_factor = h.rope_scaling_factor();
  hp.rope_low_freq_factor = h.rope_low_freq_factor();
  hp.rope_high_freq_factor = h.rope_high_freq_factor();
  hp.rope_original_context = h.rope_original_context();
  hp.tied_embeddings = h.tied_embeddings();
  TQF_RETURN_IF_ERROR(CheckFinite("norm_eps", hp.norm_eps));
  TQF_RETURN_IF_ERROR(CheckFinite("rope_theta", hp.rope_theta));
  TQF_RETURN_IF_ERROR(CheckFinite("rope_scaling_factor", hp.rope_scaling_factor));
  TQF_RETURN_IF_ERROR(CheckFinite("rope_low_freq_factor", hp.rope_low_freq_factor));
  return CheckFinite("rope_high_freq_factor", hp.rope_high_freq_factor);
}

Status ParseTokenizer(const fb::Tokenizer& tk, TokenizerData* out) {
  TokenizerData& t = *out;
  auto kind = static_cast<uint8_t>(tk.kind());
  if (kind > static_cast<uint8_t>(TokenizerKind::kByteLevelBpe)) {
    return Status::NotSupported("header tokenizer: unknown kind " + std::to_string(kind));
  }
  t.kind = static_cast<TokenizerKind>(kind);
  if (tk.tokens()) {
    t.tokens.reserve(tk.tokens()->size());
    for (const fbs::String* s : *tk.tokens()) t.tokens.push_back(Str(s));
  }
  const size_t n = t.tokens.size();
  if (tk.scores()) t.scores.assign(tk.scores()->begin(), tk.scores()->end());
  if (tk.token_types()) t.token_types.assign(tk.token_types()->begin(), tk.token_types()->end());
  if (!t.scores.empty() && t.scores.size() != n) {
    return Status::Corruption("header tokenizer: " + std::to_string(t.scores.size()) +
                              " scores for " + std::to_string(n) + " tokens");
  }
  if (!t.token_types.empty() && t.token_types.size() != n) {
    return Status::Corruption("header tokenizer: " + std::to_string(t.token_types.size()) +
                              " token types for " + std::to_string(n) + " tokens");
  }
  if (tk.merges()) {
    t.merges.reserve(tk.merges()->size());
    for (const fbs::String* s : *tk.merges()) t.merges.push_back(Str(s));
  }
  t.pre_split_regex = Str(tk.pre_split_regex());
  t.bos_id = tk.bos_id();
  t.eos_id = tk.eos_id();
  t.pad_id = tk.pad_id();
  t.unk_id = tk.unk_id();
  t.add_bos = tk.add_bos();
  t.add_eos = tk.add_eos();
  TQF_RETURN_IF_ERROR(CheckId("bos_id", t.bos_id, n));
  TQF_RETURN_IF_ERROR(CheckId("eos_id", t.eos_id, n));
  TQF_RETURN_IF_ERROR(CheckId("pad_id", t.pad_id, n));
  return CheckId("unk_id", t.unk_id, n);
}

// "1,2,3" -> ids, each a token id below n.
Status ParseStopIds(const std::string& list, size_t n, std::vector<int32_t>* out) {
  const std::string where = std::string("header metadata ") + kStopIdsKey + " '" + list + "'";
  size_t i = 0;
  while (i < list.size()) {
    int64_t id = 0;
    size_t digits = 0;
    for (; i < list.size() && list[i] >= '0' && list[i] <= '9' && digits < 10; ++i, ++digits) {
      id = id * 10 + (list[i] - '0');
    }
    if (digits == 0 || (i < list.size() && list[i] != ',') || static_cast<uint64_t>(id) >= n) {
      return Status::Corruption(where + ": expected comma-separated token ids below " +
                                std::to_string(n));
    }
    out->push_back(static_cast<int32_t>(id));
    if (i < list.size()) ++i;  // the comma
  }
  if (out->empty() || list.back() == ',') {
    return Status::Corruption(where + ": expected comma-separated token ids");
  }
  return Status::OK();
}

}  // namespace

Status CheckStopIds(const TokenizerData& t) {
  if (t.stop_ids.empty()) return Status::OK();
  for (int32_t id : t.stop_ids) {
    if (id < 0 || static_cast<size_t>(id) >= t.tokens.size()) {
      return Status::Corruption("stop id " + std::to_string(id) + " is not a token id (" +
                                std::to_string(t.tokens.size()) + " tokens)");
    }
  }
  if (std::find(t.stop_ids.begin(), t.stop_ids.end(), t.eos_id) == t.stop_ids.end()) {
    return Status::Corruption("stop ids do not include eos_id " + std::to_string(t.eos_id));
  }
  return Status::OK();
}

Status ParseModelInfo(const fb::Header& header, ModelInfo* out) {
  // model is required: the verifier ensured its presence.
  TQF_RETURN_IF_ERROR(ParseHyperparameters(*header.model(), &out->hparams));
  if (const fb::Tokenizer* tk = header.tokenizer()) {
    TQF_RETURN_IF_ERROR(ParseTokenizer(*tk, &out->tokenizer));
    // Every id the model can emit must have a token: a shorter vocabulary
    // makes generation print nothing for the missing ids.
    const size_t n = out->tokenizer.tokens.size();
    if (out->tokenizer.kind != TokenizerKind::kNone && n < out->hparams.vocab_size) {
      return Status::Corruption("header tokenizer: " + std::to_string(n) +
                                " tokens, fewer than the model's vocab_size " +
                                std::to_string(out->hparams.vocab_size));
    }
  }
  if (header.metadata()) {
    for (const fb::KeyValue* kv : *header.metadata()) {
      out->metadata.emplace_back(Str(kv->key()), Str(kv->value()));
      if (out->metadata.back().first == kStopIdsKey) {
        out->tokenizer.stop_ids.clear();
        TQF_RETURN_IF_ERROR(ParseStopIds(out->metadata.back().second, out->tokenizer.tokens.size(),
                                         &out->tokenizer.stop_ids));
        TQF_RETURN_IF_ERROR(CheckStopIds(out->tokenizer)
                                .WithContext(std::string("header metadata ") + kStopIdsKey));
      }
    }
  }
  return Status::OK();
}

}  // namespace tqf::format
