// Tokenizer base: creation, special-token matching, BOS and decoding shared
// by the SentencePiece and byte-level implementations.
#include "tqf/rt/tokenizer.h"

#include <algorithm>
#include <string>

#include "tokenizer_internal.h"

namespace tqf::rt {
namespace {

// GGUF token types (llama.cpp's llama_token_type).
constexpr int32_t kTypeUnknown = 2;
constexpr int32_t kTypeControl = 3;
constexpr int32_t kTypeUserDefined = 4;

const std::string kEmpty;

Status CheckId(const char* what, int32_t id, size_t n) {
  if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n)) {
    return Status::InvalidArgument("tokenizer " + std::string(what) + " id " + std::to_string(id) +
                                   " out of range (vocabulary of " + std::to_string(n) + ")");
  }
  return Status::OK();
}

}  // namespace

Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(const TokenizerData& data) {
  switch (data.kind) {
    case TokenizerKind::kSentencePieceBpe: return tokenizer_internal::CreateSentencePiece(data);
    case TokenizerKind::kByteLevelBpe: return tokenizer_internal::CreateByteLevel(data);
    default:
      return Status::NotSupported(std::string("tokenizer kind '") + TokenizerKindName(data.kind) +
                                  "' is not supported (expected sentencepiece-bpe or "
                                  "byte-level-bpe)");
  }
}

bool Tokenizer::IsStop(int32_t id) const {
  if (id < 0) return false;
  if (id == eos_id_) return true;
  for (int32_t s : stop_ids_) {
    if (s == id) return true;
  }
  return false;
}

Status Tokenizer::InitBase(const TokenizerData& data, std::vector<std::string> tokens) {
  const size_t n = tokens.size();
  if (n == 0) return Status::InvalidArgument("tokenizer has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return Status::InvalidArgument("tokenizer has too many tokens: " + std::to_string(n));
  }
  if (!data.token_types.empty() && data.token_types.size() != n) {
    return Status::InvalidArgument("tokenizer has " + std::to_string(data.token_types.size()) +
                                   " token types for " + std::to_string(n) + " tokens");
  }
  TQF_RETURN_IF_ERROR(CheckId("bos", data.bos_id, n));
  TQF_RETURN_IF_ERROR(CheckId("eos", data.eos_id, n));
  TQF_RETURN_IF_ERROR(CheckId("unk", data.unk_id, n));
  TQF_RETURN_IF_ERROR(CheckId("pad", data.pad_id, n));
  for (int32_t id : data.stop_ids) {
    TQF_RETURN_IF_ERROR(CheckId("stop", id, n));
    if (id >= 0 && id != data.eos_id) stop_ids_.push_back(id);
  }
  kind_ = data.kind;
  tokens_ = std::move(tokens);
  bos_id_ = data.bos_id;
  eos_id_ = data.eos_id;
  unk_id_ = data.unk_id;
  add_bos_default_ = data.add_bos;

  special_.assign(n, 0);
  for (int32_t id : {data.bos_id, data.eos_id, data.unk_id, data.pad_id}) {
    if (id >= 0) special_[id] = 1;
  }
  std::vector<uint8_t> matchable(n, 0);  // what parse_special may match
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = tokens_[i];
    if (!data.token_types.empty()) {
      int32_t type = data.token_types[i];
      if (type == kTypeControl || type == kTypeUnknown) special_[i] = 1;
      if (type == kTypeUserDefined) matchable[i] = 1;
    } else if (kind_ == TokenizerKind::kByteLevelBpe && t.size() >= 4 &&
               t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0) {
      special_[i] = 1;
    }
    if (special_[i]) matchable[i] = 1;
    if (matchable[i] && !t.empty()) {
      special_by_byte_[static_cast<uint8_t>(t[0])].push_back(static_cast<int32_t>(i));
    }
  }
  for (auto& bucket : special_by_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(), [this](int32_t a, int32_t b) {
      return tokens_[a].size() > tokens_[b].size();
    });
  }
  return Status::OK();
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  if (!parse_special) {
    if (!text.empty()) EncodeText(text, /*first=*/true, &out);
    return out;
  }
  bool first = true;  // the next stretch starts the text or follows a special
  size_t start = 0;   // start of the pending plain-text stretch
  size_t pos = 0;
  while (pos < text.size()) {
    int32_t match = -1;
    for (int32_t id : special_by_byte_[static_cast<uint8_t>(text[pos])]) {
      const std::string& t = tokens_[id];
      if (text.compare(pos, t.size(), t) == 0) {
        match = id;
        break;  // buckets are longest first
      }
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    if (pos > start) EncodeText(text.substr(start, pos - start), first, &out);
    out.push_back(match);
    first = true;
    pos += tokens_[match].size();
    start = pos;
  }
  if (pos > start) EncodeText(text.substr(start, pos - start), first, &out);
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  bool at_start = true;  // no text token yet
  int32_t prev = -1;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (special_[id]) {
      if (render_special) out += tokens_[id];
    } else {
      const std::string& piece = pieces_[id];
      bool strip = strip_leading_space_ && (at_start || prev == bos_id_) && !piece.empty() &&
                   piece[0] == ' ' && tokens_[id][0] == ' ';
      out.append(piece, strip ? 1 : 0, std::string::npos);
      at_start = false;
    }
    prev = id;
  }
  return out;
}

std::string Tokenizer::DecodePiece(int32_t prev, int32_t id) const {
  if (id < 0 || id >= vocab_size() || special_[id]) return std::string();
  const std::string& piece = pieces_[id];
  if (strip_leading_space_ && prev >= 0 && prev == bos_id_ && !piece.empty() && piece[0] == ' ' &&
      tokens_[id][0] == ' ') {
    return piece.substr(1);
  }
  return piece;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id] != 0;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  return id >= 0 && id < vocab_size() ? tokens_[id] : kEmpty;
}

}  // namespace tqf::rt
