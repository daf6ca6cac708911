// Byte-level BPE (Llama 3, GPT-2): pre-split, GPT-2 byte-to-unicode
// mapping, rank-ordered merges (see tokenizer.h).
#include <string>
#include <unordered_map>

#include "tokenizer_internal.h"
#include "unicode_classes.h"

namespace tqf::rt::tokenizer_internal {
namespace {

struct Merge {
  int32_t rank;
  int32_t merged;
};

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// The bytes a token stands for: each character mapped back through GPT-2's
// table. A token with a character outside the table (special or added
// tokens such as <|eot_id|>) stands for its own UTF-8 spelling.
std::string TokenBytes(const std::string& t) {
  std::string out;
  out.reserve(t.size());
  for (size_t pos = 0; pos < t.size();) {
    size_t len;
    int byte = CodepointToByte(DecodeUtf8(t, pos, &len));
    if (byte < 0) return t;
    out.push_back(static_cast<char>(byte));
    pos += len;
  }
  return out;
}

class ByteLevelTokenizer final : public Tokenizer {
 public:
  Status Init(const TokenizerData& data) {
    // An empty pattern means Llama 3's (files written before the importer
    // stored one).
    if (data.pre_split_regex.empty()) {
      pattern_ = PreTokenizer::kLlama3;
    } else if (!PreTokenizerFromSpec(data.pre_split_regex, &pattern_)) {
      return Status::NotSupported("byte-level BPE pre-tokenizer '" +
                                  data.pre_split_regex.substr(0, 80) +
                                  "' is not supported (supported: the Llama 3 and GPT-2 patterns)");
    }
    TQF_RETURN_IF_ERROR(InitBase(data, data.tokens));
    const size_t n = tokens_.size();
    vocab_.reserve(n);
    pieces_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      vocab_.emplace(tokens_[i], static_cast<int32_t>(i));  // lowest id wins
      pieces_[i] = TokenBytes(tokens_[i]);
    }
    for (int b = 0; b < 256; ++b) {
      std::string s;
      AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &s);
      auto it = vocab_.find(s);
      byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    }
    merges_.reserve(data.merges.size());
    for (size_t r = 0; r < data.merges.size(); ++r) {
      const std::string& m = data.merges[r];
      size_t sp = m.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == m.size()) {
        return Status::Corruption("byte-level BPE merge " + std::to_string(r) + " '" +
                                  m.substr(0, 80) + "' is not of the form 'a b'");
      }
      auto a = vocab_.find(m.substr(0, sp));
      auto b = vocab_.find(m.substr(sp + 1));
      auto ab = vocab_.find(m.substr(0, sp) + m.substr(sp + 1));
      if (a == vocab_.end() || b == vocab_.end() || ab == vocab_.end()) {
        return Status::Corruption("byte-level BPE merge " + std::to_string(r) + " '" +
                                  m.substr(0, 80) + "' names a token not in the vocabulary");
      }
      // The first (best-ranked) occurrence of a pair wins.
      merges_.emplace(PairKey(a->second, b->second), Merge{static_cast<int32_t>(r), ab->second});
    }
    return Status::OK();
  }

 protected:
  void EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const override {
    std::vector<std::string_view> words;
    PreSplit(text, pattern_, &words);
    std::string mapped;
    std::vector<int32_t> ids;
    for (std::string_view word : words) {
      mapped.clear();
      for (char c : word) AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(c)), &mapped);
      auto whole = vocab_.find(mapped);
      if (whole != vocab_.end()) {  // ignore_merges: a known word is one token
        out->push_back(whole->second);
        continue;
      }
      ids.clear();
      for (char c : word) ids.push_back(byte_ids_[static_cast<uint8_t>(c)]);
      MergePairs(&ids, [this](int32_t a, int32_t b, double* priority, int32_t* merged) {
        if (a < 0 || b < 0) return false;
        auto it = merges_.find(PairKey(a, b));
        if (it == merges_.end()) return false;
        *priority = -static_cast<double>(it->second.rank);
        *merged = it->second.merged;
        return true;
      });
      for (int32_t id : ids) {
        if (id < 0) id = unk_id_;  // a byte the vocabulary lacks
        if (id >= 0) out->push_back(id);
      }
    }
  }

 private:
  PreTokenizer pattern_ = PreTokenizer::kLlama3;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> CreateByteLevel(const TokenizerData& data) {
  auto tok = std::make_unique<ByteLevelTokenizer>();
  TQF_RETURN_IF_ERROR(tok->Init(data));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace tqf::rt::tokenizer_internal
