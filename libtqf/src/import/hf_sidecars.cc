// The Hugging Face files beside a safetensors checkpoint (see hf_llama.h):
// config.json, tokenizer.json, tokenizer_config.json and
// generation_config.json.
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "import/hf_llama.h"
#include "import/import_internal.h"
#include "tqf/import.h"
#include "tqf/internal/json.h"
#include "tqf/mapped_file.h"

namespace tqf::hf {
namespace {

// One eos_token_id entry: a token id.
Status ReadStopId(const json::Value& v, const std::string& where, std::vector<int32_t>* out) {
  if (!v.is_int() || v.as_int() < 0 || v.as_int() > std::numeric_limits<int32_t>::max()) {
    return Status::Corruption(where + ": eos_token_id entries must be token ids (integers >= 0)");
  }
  const auto id = static_cast<int32_t>(v.as_int());
  for (int32_t x : *out) {
    if (x == id) return Status::OK();
  }
  out->push_back(id);
  return Status::OK();
}

Status CheckStopIds(const std::vector<int32_t>& ids, const TokenizerData& tok,
                    const std::string& where) {
  for (int32_t id : ids) {
    if (static_cast<size_t>(id) >= tok.tokens.size()) {
      return Status::Corruption(where + ": eos_token_id " + std::to_string(id) +
                                " is not a token id (vocabulary of " +
                                std::to_string(tok.tokens.size()) + ")");
    }
  }
  return Status::OK();
}

Status ApplyTokenizer(const std::string& tok_path, SourceModel* m) {
  if (!import_internal::FileExists(tok_path)) return Status::OK();
  Result<TokenizerData> tok = ImportTokenizer(tok_path);
  if (tok.ok()) {
    m->info.tokenizer = std::move(tok).value();
    m->info.metadata.emplace_back("tokenizer.source", tok_path);
  } else if (tok.status().IsNotSupported()) {
    m->info.metadata.emplace_back("import.note", tok.status().message());
  } else {
    return tok.status();
  }
  return Status::OK();
}

// tokenizer_config.json's add_bos_token / add_eos_token (LlamaTokenizer's
// switches) override what tokenizer.json's post-processor implies, as
// transformers does. Other keys are not ours to read.
Status ApplyTokenizerConfig(const std::string& path, SourceModel* m) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  Result<json::Value> doc =
      json::Parse(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()));
  if (!doc.ok()) return doc.status().WithContext(path);
  if (!doc->is_object()) return Status::Corruption(path + ": not a JSON object");
  TokenizerData& tok = m->info.tokenizer;
  bool used = false;
  for (const char* key : {"add_bos_token", "add_eos_token"}) {
    const json::Value* v = doc->Find(key);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_bool()) return Status::Corruption(path + ": " + key + " must be true or false");
    if (tok.tokens.empty()) {
      m->info.metadata.emplace_back("import.note", path + ": " + key + " ignored (no tokenizer)");
      continue;
    }
    const bool bos = key[4] == 'b';
    const int32_t id = bos ? tok.bos_id : tok.eos_id;
    if (v->as_bool() && id < 0) {
      return Status::Corruption(path + ": " + key + " is true but the tokenizer has no " +
                                (bos ? "BOS" : "EOS") + " token");
    }
    (bos ? tok.add_bos : tok.add_eos) = v->as_bool();
    used = true;
  }
  if (used) m->info.metadata.emplace_back("tokenizer_config.source", path);
  return Status::OK();
}

}  // namespace

Status RequireSidecars(const std::string& dir) {
  for (const char* name : {"config.json", "tokenizer.json"}) {
    const std::string path = dir + name;
    if (!import_internal::FileExists(path)) {
      return Status::NotFound(path + ": missing; a Hugging Face checkpoint needs " + name +
                              " beside its weights");
    }
  }
  return Status::OK();
}

Result<std::vector<int32_t>> ReadGenerationStopIds(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  Result<json::Value> doc =
      json::Parse(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()));
  if (!doc.ok()) return doc.status().WithContext(path);
  if (!doc->is_object()) return Status::Corruption(path + ": not a JSON object");
  std::vector<int32_t> ids;
  const json::Value* eos = doc->Find("eos_token_id");
  if (!eos || eos->is_null()) return ids;
  if (eos->is_array()) {
    for (const json::Value& v : eos->items()) TQF_RETURN_IF_ERROR(ReadStopId(v, path, &ids));
  } else {
    TQF_RETURN_IF_ERROR(ReadStopId(*eos, path, &ids));
  }
  return ids;
}

Status ApplyGenerationConfig(const std::string& path, SourceModel* m) {
  TQF_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ReadGenerationStopIds(path));
  if (ids.empty()) return Status::OK();
  TokenizerData& tok = m->info.tokenizer;
  if (tok.tokens.empty()) {
    m->info.metadata.emplace_back("import.note", path + ": stop ids ignored (no tokenizer)");
    return Status::OK();
  }
  TQF_RETURN_IF_ERROR(CheckStopIds(ids, tok, path));
  // The first id is the model's EOS; generation stops on all of them.
  tok.eos_id = ids[0];
  tok.stop_ids = std::move(ids);
  m->info.metadata.emplace_back("generation_config.source", path);
  return Status::OK();
}

Status ApplySidecars(const std::string& dir, SourceModel* m) {
  try {
    if (import_internal::FileExists(dir + "config.json")) {
      TQF_RETURN_IF_ERROR(ApplyConfig(dir + "config.json", m));
    }
    TQF_RETURN_IF_ERROR(ApplyTokenizer(dir + "tokenizer.json", m));
    if (import_internal::FileExists(dir + "tokenizer_config.json")) {
      TQF_RETURN_IF_ERROR(ApplyTokenizerConfig(dir + "tokenizer_config.json", m));
    }
    if (import_internal::FileExists(dir + "generation_config.json")) {
      TQF_RETURN_IF_ERROR(ApplyGenerationConfig(dir + "generation_config.json", m));
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(dir + ": out of memory reading the Hugging Face files");
  }
  return Status::OK();
}

}  // namespace tqf::hf
