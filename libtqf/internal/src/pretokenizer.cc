// The pre-tokenizer table (see pretokenizer.h).
#include "tqf/internal/pretokenizer.h"

#include <initializer_list>

namespace tqf {
namespace {

struct Entry {
  PreTokenizer kind;
  const char* regex;
  std::initializer_list<const char*> gguf_names;  // the first is what llama.cpp writes
};

const Entry kPreTokenizers[] = {
    {PreTokenizer::kLlama3,
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     {"llama-bpe", "llama3", "llama-3", "smaug-bpe"}},
    {PreTokenizer::kGpt2,
     "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
     {"gpt2", "gpt-2", "default"}},
};

const Entry& Get(PreTokenizer p) {
  for (const Entry& e : kPreTokenizers) {
    if (e.kind == p) return e;
  }
  return kPreTokenizers[0];
}

}  // namespace

const char* PreTokenizerRegex(PreTokenizer p) { return Get(p).regex; }
const char* PreTokenizerGgufName(PreTokenizer p) { return *Get(p).gguf_names.begin(); }

bool PreTokenizerFromGgufName(std::string_view name, PreTokenizer* out) {
  for (const Entry& e : kPreTokenizers) {
    for (const char* n : e.gguf_names) {
      if (name == n) {
        *out = e.kind;
        return true;
      }
    }
  }
  return false;
}

bool PreTokenizerFromSpec(std::string_view spec, PreTokenizer* out) {
  for (const Entry& e : kPreTokenizers) {
    if (spec == e.regex) {
      *out = e.kind;
      return true;
    }
  }
  return PreTokenizerFromGgufName(spec, out);
}

}  // namespace tqf
