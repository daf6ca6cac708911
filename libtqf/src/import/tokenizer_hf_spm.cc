// SentencePiece-style tokenizer.json (Llama 2, TinyLlama, Mistral): a BPE
// model with byte_fallback, <0xNN> byte tokens and the U+2581 metaspace.
// Mapped onto tqf's kSentencePieceBpe (llama2.c's encode: merge the
// adjacent pair whose concatenation scores best, ties leftmost) with scores
// derived from the merge ranks as llama.cpp's converter does:
//   score(T) = -rank of the first merge that makes T,
// and kNeverMerges for tokens no merge makes (single characters, bytes,
// specials), so a pair without a merge rule never merges. Hugging Face
// applies the lowest-ranked pair first; with these scores the runtime does
// the same, except where two different pairs make the same token (the
// runtime then takes the leftmost, as SentencePiece itself does).
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "import/import_internal.h"
#include "tqf/internal/json.h"

namespace tqf::import_internal {
namespace {

constexpr char kMetaspace[] = "\xE2\x96\x81";  // U+2581
constexpr float kNeverMerges = -1e10f;         // llama2.c: scores <= -1e10 never merge
constexpr int32_t kTypeUnknown = 2, kTypeControl = 3, kTypeByte = 6;  // GGUF token types

bool IsType(const json::Value& v, const char* type) {
  const json::Value* t = v.is_object() ? v.Find("type") : nullptr;
  return t && t->is_string() && t->as_string() == type;
}

std::string Str(const json::Value* v) { return v && v->is_string() ? v->as_string() : ""; }

// What the normalizer and pre-tokenizer do to the text: SentencePiece needs
// spaces spelled U+2581 and a U+2581 dummy prefix, and nothing else.
struct SpaceHandling {
  bool replaces_spaces = false;
  bool prepends = false;
};

Status ReadNormalizer(const json::Value& n, const std::string& where, SpaceHandling* sh) {
  if (n.is_null()) return Status::OK();
  if (IsType(n, "Sequence")) {
    const json::Value* list = n.Find("normalizers");
    if (!list || !list->is_array())
      return Status::Corruption(where + ": normalizer Sequence without a list");
    for (const json::Value& x : list->items()) TQF_RETURN_IF_ERROR(ReadNormalizer(x, where, sh));
    return Status::OK();
  }
  if (IsType(n, "Prepend") && Str(n.Find("prepend")) == kMetaspace) {
    sh->prepends = true;
    return Status::OK();
  }
  const json::Value* pattern = n.Find("pattern");
  if (IsType(n, "Replace") && pattern && Str(pattern->Find("String")) == " " &&
      Str(n.Find("content")) == kMetaspace) {
    sh->replaces_spaces = true;
    return Status::OK();
  }
  const json::Value* type = n.is_object() ? n.Find("type") : nullptr;
  return Status::NotSupported(where + ": SentencePiece-style normalizer '" + Str(type) +
                              "' (supported: Prepend \"\u2581\", Replace \" \" -> \"\u2581\")");
}

Status ReadPreTokenizer(const json::Value& p, const std::string& where, SpaceHandling* sh) {
  if (p.is_null()) return Status::OK();
  if (!IsType(p, "Metaspace") || Str(p.Find("replacement")) != kMetaspace) {
    return Status::NotSupported(where + ": SentencePiece-style pre_tokenizer '" +
                                Str(p.is_object() ? p.Find("type") : nullptr) +
                                "' (supported: none, or Metaspace with \"\u2581\")");
  }
  if (const json::Value* split = p.Find("split"); split && split->as_bool()) {
    return Status::NotSupported(where + ": Metaspace with split: true cuts the text at every " +
                                "space, which SentencePiece does not");
  }
  sh->replaces_spaces = true;
  const std::string scheme = Str(p.Find("prepend_scheme"));
  const json::Value* add = p.Find("add_prefix_space");
  sh->prepends = scheme.empty() ? !(add && add->is_bool() && !add->as_bool()) : scheme != "never";
  return Status::OK();
}

Status CheckSpaceHandling(const json::Value& doc, const std::string& where) {
  SpaceHandling sh;
  if (const json::Value* n = doc.Find("normalizer"))
    TQF_RETURN_IF_ERROR(ReadNormalizer(*n, where, &sh));
  if (const json::Value* p = doc.Find("pre_tokenizer")) {
    TQF_RETURN_IF_ERROR(ReadPreTokenizer(*p, where, &sh));
  }
  if (!sh.replaces_spaces || !sh.prepends) {
    return Status::NotSupported(where + ": byte_fallback BPE without the \u2581 metaspace and " +
                                "dummy prefix is not a SentencePiece-style tokenizer");
  }
  return Status::OK();
}

// Scores from merge ranks (see the file comment).
Status ScoresFromMerges(const std::string& where, const std::vector<MergePair>& merges,
                        TokenizerData* tok) {
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(tok->tokens.size());
  for (size_t i = 0; i < tok->tokens.size(); ++i)
    ids.emplace(tok->tokens[i], static_cast<int32_t>(i));
  tok->scores.assign(tok->tokens.size(), kNeverMerges);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const MergePair& m = merges[rank];
    if (m.first.empty() || m.second.empty()) {
      return Status::Corruption(where + ": merge " + std::to_string(rank) + " '" + m.first +
                                "' is not \"a b\"");
    }
    auto it = ids.find(m.first + m.second);
    if (it == ids.end()) {
      return Status::Corruption(where + ": merge " + std::to_string(rank) + " '" + m.first + " " +
                                m.second + "' makes a token the vocabulary lacks");
    }
    float& score = tok->scores[it->second];
    if (score == kNeverMerges) score = -static_cast<float>(rank);
  }
  return Status::OK();
}

// BOS from the post-processor's template ("<s>" by default), EOS "</s>",
// UNK model.unk_token; byte tokens typed as bytes.
void SetSpecialTokens(const json::Value& doc, const json::Value& model, TokenizerData* tok) {
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < tok->tokens.size(); ++i) {
    ids.emplace(tok->tokens[i], static_cast<int32_t>(i));
    const std::string& t = tok->tokens[i];
    if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>')
      tok->token_types[i] = kTypeByte;
  }
  auto find = [&ids](const std::string& s) {
    auto it = ids.find(s);
    return it == ids.end() ? -1 : it->second;
  };
  std::string bos = "<s>";
  tok->add_bos = true;
  if (const json::Value* pp = doc.Find("post_processor"); pp && IsType(*pp, "TemplateProcessing")) {
    tok->add_bos = false;
    if (const json::Value* single = pp->Find("single"); single && single->is_array()) {
      for (const json::Value& piece : single->items()) {
        const json::Value* st = piece.is_object() ? piece.Find("SpecialToken") : nullptr;
        if (st && st->is_object() && !tok->add_bos) {
          bos = Str(st->Find("id"));
          tok->add_bos = true;
        }
      }
    }
  }
  tok->bos_id = find(bos);
  tok->add_bos = tok->add_bos && tok->bos_id >= 0;
  tok->eos_id = find("</s>");
  tok->unk_id = find(Str(model.Find("unk_token")));
  if (tok->unk_id >= 0) tok->token_types[tok->unk_id] = kTypeUnknown;
  for (int32_t id : {tok->bos_id, tok->eos_id}) {
    if (id >= 0) tok->token_types[id] = kTypeControl;
  }
}

}  // namespace

Status ToSentencePiece(const json::Value& doc, const json::Value& model, const std::string& where,
                       const std::vector<MergePair>& merges, TokenizerData* tok) {
  TQF_RETURN_IF_ERROR(CheckSpaceHandling(doc, where));
  TQF_RETURN_IF_ERROR(ScoresFromMerges(where, merges, tok));
  tok->kind = TokenizerKind::kSentencePieceBpe;
  tok->merges.clear();  // the scores carry them
  tok->pre_split_regex.clear();
  SetSpecialTokens(doc, model, tok);
  return Status::OK();
}

}  // namespace tqf::import_internal
