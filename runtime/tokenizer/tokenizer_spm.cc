// SentencePiece-style BPE with scores (Llama 2, llama2.c): llama2.c's
// `encode` with a priority-queue merge (see tokenizer.h).
#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "tokenizer_internal.h"

namespace tqf::rt::tokenizer_internal {
namespace {

// llama2.c starts its best-score search at -1e10: pairs scoring no better
// than that never merge.
constexpr float kMinMergeScore = -1e10f;

// Returns the byte of a token spelled exactly "<0xNN>" (hex digits), or -1.
int ParseByteToken(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    char c = t[i];
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                     : -1;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

// Replaces every U+2581 (SentencePiece's visible space, "\xE2\x96\x81") by ' '.
std::string NormalizeSpaces(const std::string& t) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 2;
    } else {
      out.push_back(t[i]);
    }
  }
  return out;
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  Status Init(const TokenizerData& data) {
    const size_t n = data.tokens.size();
    if (data.scores.size() != n) {
      return Status::InvalidArgument("sentencepiece tokenizer needs one score per token: " +
                                     std::to_string(data.scores.size()) + " scores for " +
                                     std::to_string(n) + " tokens");
    }
    std::vector<std::string> tokens;
    tokens.reserve(n);
    for (const std::string& t : data.tokens) tokens.push_back(NormalizeSpaces(t));
    TQF_RETURN_IF_ERROR(InitBase(data, std::move(tokens)));
    scores_ = data.scores;
    strip_leading_space_ = true;
    lookup_.reserve(n);
    byte_ids_.fill(-1);
    pieces_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = static_cast<int32_t>(i);
      lookup_.emplace(tokens_[i], id);  // keeps the lowest id of duplicates
      int byte = ParseByteToken(tokens_[i]);
      if (byte >= 0) {
        if (byte_ids_[byte] < 0) byte_ids_[byte] = id;
        pieces_[i] = std::string(1, static_cast<char>(byte));
      } else {
        pieces_[i] = tokens_[i];
      }
    }
    return Status::OK();
  }

 protected:
  void EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const override {
    std::vector<int32_t> ids;
    ids.reserve(text.size() + 1);
    std::string buf;
    if (first) AddCodepoint(" ", &ids);  // the dummy prefix
    // Codepoints as llama2.c groups them: a non-continuation byte starts a
    // group, continuation bytes join it up to 4 bytes.
    size_t i = 0;
    while (i < text.size()) {
      size_t j = i + 1;
      while (j < text.size() && (static_cast<uint8_t>(text[j]) & 0xC0) == 0x80 && j - i < 4) ++j;
      AddCodepoint(text.substr(i, j - i), &ids);
      i = j;
    }
    MergePairs(&ids, [this, &buf](int32_t a, int32_t b, double* priority, int32_t* merged) {
      buf.assign(tokens_[a]);
      buf.append(tokens_[b]);
      auto it = lookup_.find(buf);
      if (it == lookup_.end()) return false;
      float score = scores_[it->second];
      if (!(score > kMinMergeScore)) return false;  // also rejects NaN
      *priority = score;
      *merged = it->second;
      return true;
    });
    out->insert(out->end(), ids.begin(), ids.end());
  }

 private:
  void AddCodepoint(std::string_view cp, std::vector<int32_t>* ids) const {
    auto it = lookup_.find(std::string(cp));
    if (it != lookup_.end()) {
      ids->push_back(it->second);
      return;
    }
    for (char c : cp) {  // byte fallback
      int32_t id = byte_ids_[static_cast<uint8_t>(c)];
      if (id < 0) id = unk_id_;
      if (id >= 0) ids->push_back(id);
    }
  }

  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> lookup_;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> CreateSentencePiece(const TokenizerData& data) {
  auto tok = std::make_unique<SentencePieceTokenizer>();
  TQF_RETURN_IF_ERROR(tok->Init(data));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace tqf::rt::tokenizer_internal
