// Tokenizer files on their own: llama2.c tokenizer.bin and Hugging Face
// tokenizer.json (byte-level BPE; SentencePiece-style BPE with byte_fallback
// continues in tokenizer_hf_spm.cc), plus small path helpers.
#include <sys/stat.h>

#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "import/import_internal.h"
#include "tqf/internal/json.h"
#include "tqf/mapped_file.h"
#include "util/bytes.h"

namespace tqf {
namespace import_internal {
namespace {

// Finds the first split regex anywhere under a pre_tokenizer value:
// {"type":"Split","pattern":{"Regex":"..."}} (possibly inside a Sequence's
// "pretokenizers") or a plain {"regex":"..."}.
const std::string* FindSplitRegex(const json::Value& v, int depth) {
  if (depth > 16) return nullptr;
  if (v.is_object()) {
    if (const json::Value* pat = v.Find("pattern"); pat && pat->is_object()) {
      if (const json::Value* re = pat->Find("Regex"); re && re->is_string())
        return &re->as_string();
    }
    if (const json::Value* re = v.Find("regex"); re && re->is_string()) return &re->as_string();
  }
  if (v.is_object() || v.is_array()) {
    for (const json::Value& child : v.items()) {
      if (const std::string* r = FindSplitRegex(child, depth + 1)) return r;
    }
  }
  return nullptr;
}

int32_t FindToken(const std::vector<std::string>& tokens, std::string_view text) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == text) return static_cast<int32_t>(i);
  }
  return -1;
}

// The "model" object of a tokenizer.json, if it is a BPE we can import.
Result<const json::Value*> FindBpeModel(const json::Value& doc, const std::string& where) {
  if (!doc.is_object()) return Status::Corruption(where + ": tokenizer.json is not a JSON object");
  const json::Value* model = doc.Find("model");
  if (!model || !model->is_object()) return Status::Corruption(where + ": no \"model\" object");
  if (const json::Value* type = model->Find("type");
      type && type->is_string() && type->as_string() != "BPE") {
    return Status::NotSupported(where + ": tokenizer model type '" + type->as_string() +
                                "' (only BPE is supported)");
  }
  const json::Value* bf = model->Find("byte_fallback");
  if (bf && !bf->is_bool() && !bf->is_null()) {
    return Status::Corruption(where + ": model.byte_fallback is a " + json::TypeName(bf->type()) +
                              ", expected true or false");
  }
  return model;
}

// Token strings by id. tokenizer.json gives ids explicitly, in any order,
// in two places (model.vocab and added_tokens); the ids must end up dense.
// The constructor and Assign may throw std::bad_alloc.
class VocabById {
 public:
  VocabById(uint64_t cap, const std::string& where, TokenizerData* tok)
      : cap_(cap), where_(where), tok_(tok) {
    tok_->tokens.resize(cap);
    tok_->token_types.assign(cap, 1);  // GGUF: normal
    present_.assign(cap, false);
  }

  // Every id must be below the number of entries, and name one string only.
  Status Assign(int64_t id, const std::string& s, int32_t type, const std::string& what) {
    if (id < 0 || static_cast<uint64_t>(id) >= cap_) {
      return Status::Corruption(where_ + ": " + what + " '" + s + "' has id " + std::to_string(id) +
                                ", outside [0, " + std::to_string(cap_) + ")");
    }
    if (present_[id] && tok_->tokens[id] != s) {
      return Status::Corruption(where_ + ": id " + std::to_string(id) + " given to both '" +
                                tok_->tokens[id] + "' and '" + s + "'");
    }
    tok_->tokens[id] = s;
    present_[id] = true;
    if (type != 1) tok_->token_types[id] = type;
    return Status::OK();
  }

  // Drops the unused ids above the highest one given; any hole below it is
  // an error.
  Status TrimToDense() {
    size_t n = cap_;
    while (n > 0 && !present_[n - 1]) --n;
    for (size_t i = 0; i < n; ++i) {
      if (!present_[i]) {
        return Status::Corruption(where_ + ": token ids are not dense: id " + std::to_string(i) +
                                  " is missing (highest id " + std::to_string(n - 1) + ")");
      }
    }
    tok_->tokens.resize(n);
    tok_->token_types.resize(n);
    present_.resize(n);
    return Status::OK();
  }

 private:
  const uint64_t cap_;
  const std::string where_;
  TokenizerData* tok_;
  std::vector<bool> present_;
};

Status ReadVocab(const json::Value& vocab, const std::string& where, VocabById* ids) {
  // JSON objects may repeat a key; a vocabulary may not (which id would
  // the string encode to?).
  std::unordered_set<std::string_view> seen;
  seen.reserve(vocab.size());
  for (size_t i = 0; i < vocab.size(); ++i) {
    const json::Value& id = vocab.items()[i];
    if (!id.is_int()) {
      return Status::Corruption(where + ": model.vocab['" + vocab.keys()[i] +
                                "'] is not an integer id");
    }
    if (!seen.insert(vocab.keys()[i]).second) {
      return Status::Corruption(where + ": model.vocab lists '" + vocab.keys()[i] + "' twice");
    }
    TQF_RETURN_IF_ERROR(ids->Assign(id.as_int(), vocab.keys()[i], 1, "vocab token"));
  }
  return Status::OK();
}

Status ReadAddedTokens(const json::Value* added, size_t n_added, const std::string& where,
                       VocabById* ids) {
  for (size_t i = 0; i < n_added; ++i) {
    const json::Value& a = added->items()[i];
    const json::Value* id = a.Find("id");
    const json::Value* content = a.Find("content");
    if (!id || !id->is_int() || !content || !content->is_string()) {
      return Status::Corruption(where + ": added_tokens[" + std::to_string(i) +
                                "] lacks an integer id or a string content");
    }
    const json::Value* special = a.Find("special");
    if (special && !special->is_bool()) {
      return Status::Corruption(where + ": added_tokens[" + std::to_string(i) +
                                "].special is not true or false");
    }
    const int32_t type = special && special->as_bool() ? 3 : 4;  // control : user-defined
    TQF_RETURN_IF_ERROR(ids->Assign(id->as_int(), content->as_string(), type, "added token"));
  }
  return Status::OK();
}

// model.merges, in either spelling: "a b" or ["a", "b"].
Status ReadMerges(const json::Value& model, const std::string& where, std::vector<MergePair>* out) {
  const json::Value* merges = model.Find("merges");
  if (!merges || !merges->is_array()) return Status::OK();
  out->reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const json::Value& m = merges->items()[i];
    if (m.is_string()) {
      const std::string& s = m.as_string();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        out->push_back({s, ""});
      } else {
        out->push_back({s.substr(0, space), s.substr(space + 1)});
      }
    } else if (m.is_array() && m.size() == 2 && m.items()[0].is_string() &&
               m.items()[1].is_string()) {
      out->push_back({m.items()[0].as_string(), m.items()[1].as_string()});
    } else {
      return Status::Corruption(where + ": model.merges[" + std::to_string(i) +
                                "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  return Status::OK();
}

// Byte-level BPE keeps its merges as "a b" strings (the .tqf form). Its
// pieces are mapped bytes, never a literal space, so a piece with one is
// a broken file rather than a merge the string form cannot hold.
Status JoinByteLevelMerges(const std::vector<MergePair>& pairs, const std::string& where,
                           std::vector<std::string>* out) {
  out->reserve(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const MergePair& m = pairs[i];
    if (m.second.empty()) {  // a string spelling, kept as it was written
      out->push_back(m.first);
      continue;
    }
    if (m.first.find(' ') != std::string::npos || m.second.find(' ') != std::string::npos) {
      return Status::Corruption(where + ": model.merges[" + std::to_string(i) +
                                "] has a piece with a space, which byte-level BPE pieces "
                                "never have");
    }
    out->push_back(m.first + " " + m.second);
  }
  return Status::OK();
}

// BOS and EOS by the names LLaMA 3 and GPT-2 style vocabularies use. The
// ids are dense by now, so every entry is a real token.
void FindSpecialIds(TokenizerData* tok) {
  tok->bos_id = FindToken(tok->tokens, "<|begin_of_text|>");
  tok->eos_id = FindToken(tok->tokens, "<|end_of_text|>");
  if (tok->eos_id < 0) tok->eos_id = FindToken(tok->tokens, "<|eot_id|>");
  if (tok->eos_id < 0) tok->eos_id = FindToken(tok->tokens, "<|endoftext|>");
  tok->add_bos = tok->bos_id >= 0;
}

}  // namespace

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<TokenizerData> ParseLlama2cTokenizer(const uint8_t* data, size_t size,
                                            int64_t expected_tokens, const std::string& where) {
  if (size < 4) {
    return Status::Corruption(where + ": tokenizer.bin too short for its header (" +
                              std::to_string(size) + " bytes, need 4)");
  }
  const int32_t max_len = static_cast<int32_t>(LoadLE32(data));
  if (max_len < 0) {
    return Status::Corruption(where + ": negative max_token_length " + std::to_string(max_len));
  }
  TokenizerData tok;
  tok.kind = TokenizerKind::kSentencePieceBpe;
  tok.unk_id = 0;
  tok.bos_id = 1;
  tok.eos_id = 2;
  tok.add_bos = true;
  size_t pos = 4;
  try {
    if (expected_tokens >= 0) {
      // Each token needs at least 8 bytes: cap before reserving.
      if (static_cast<uint64_t>(expected_tokens) > (size - pos) / 8) {
        return Status::Corruption(where + ": " + std::to_string(size) + " bytes cannot hold " +
                                  std::to_string(expected_tokens) + " tokens");
      }
      tok.tokens.reserve(static_cast<size_t>(expected_tokens));
      tok.scores.reserve(static_cast<size_t>(expected_tokens));
    }
    while (expected_tokens < 0 ? pos < size
                               : tok.tokens.size() < static_cast<uint64_t>(expected_tokens)) {
      const size_t id = tok.tokens.size();
      if (size - pos < 8) {
        return Status::Corruption(where + ": token " + std::to_string(id) + " at byte " +
                                  std::to_string(pos) + ": truncated score/length (" +
                                  std::to_string(size - pos) + " bytes left, need 8)");
      }
      float score;
      std::memcpy(&score, data + pos, 4);
      const int32_t len = static_cast<int32_t>(LoadLE32(data + pos + 4));
      pos += 8;
      if (len < 0 || static_cast<uint64_t>(len) > size - pos) {
        return Status::Corruption(where + ": token " + std::to_string(id) + " at byte " +
                                  std::to_string(pos - 4) + ": length " + std::to_string(len) +
                                  " exceeds the " + std::to_string(size - pos) + " bytes left");
      }
      tok.tokens.emplace_back(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(len));
      tok.scores.push_back(score);
      pos += static_cast<size_t>(len);
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(where + ": out of memory reading tokens");
  }
  if (tok.tokens.empty()) return Status::Corruption(where + ": tokenizer.bin holds no tokens");
  if (tok.tokens.size() <= 2) tok.bos_id = tok.eos_id = -1;
  return tok;
}

Result<TokenizerData> ParseHfTokenizerJson(std::string_view text, const std::string& where) {
  TQF_ASSIGN_OR_RETURN(json::Value doc, json::Parse(text));
  TQF_ASSIGN_OR_RETURN(const json::Value* model, FindBpeModel(doc, where));
  const json::Value* vocab = model->Find("vocab");
  if (!vocab || !vocab->is_object())
    return Status::Corruption(where + ": no \"model.vocab\" object");
  const json::Value* added = doc.Find("added_tokens");
  const size_t n_added = added && added->is_array() ? added->size() : 0;

  TokenizerData tok;
  tok.kind = TokenizerKind::kByteLevelBpe;
  tok.add_bos = false;
  std::vector<MergePair> merges;
  try {
    VocabById ids(static_cast<uint64_t>(vocab->size()) + n_added, where, &tok);
    TQF_RETURN_IF_ERROR(ReadVocab(*vocab, where, &ids));
    TQF_RETURN_IF_ERROR(ReadAddedTokens(added, n_added, where, &ids));
    TQF_RETURN_IF_ERROR(ids.TrimToDense());
    TQF_RETURN_IF_ERROR(ReadMerges(*model, where, &merges));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(where + ": out of memory building the vocabulary");
  }
  if (tok.tokens.empty()) return Status::Corruption(where + ": empty vocabulary");
  if (const json::Value* bf = model->Find("byte_fallback"); bf && bf->as_bool()) {
    try {
      TQF_RETURN_IF_ERROR(ToSentencePiece(doc, *model, where, merges, &tok));
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted(where + ": out of memory deriving token scores");
    }
    return tok;
  }
  try {
    TQF_RETURN_IF_ERROR(JoinByteLevelMerges(merges, where, &tok.merges));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(where + ": out of memory reading the merges");
  }
  if (const json::Value* pre = doc.Find("pre_tokenizer")) {
    if (const std::string* re = FindSplitRegex(*pre, 0)) tok.pre_split_regex = *re;
  }
  FindSpecialIds(&tok);
  return tok;
}

}  // namespace import_internal

Result<TokenizerData> ImportTokenizer(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  const uint8_t* d = file->data();
  const size_t n = file->size();
  size_t i = 0;
  while (i < n && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t')) ++i;
  if (i < n && d[i] == '{') {
    return import_internal::ParseHfTokenizerJson(
        std::string_view(reinterpret_cast<const char*>(d), n), path);
  }
  return import_internal::ParseLlama2cTokenizer(d, n, -1, path);
}

}  // namespace tqf
