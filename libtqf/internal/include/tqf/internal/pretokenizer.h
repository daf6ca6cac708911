// The byte-level BPE pre-tokenizers tqf knows, in one table: each one's
// split regex (as tokenizer.json spells it) and the GGUF
// `tokenizer.ggml.pre` names that select it. The importers store the regex
// in TokenizerData::pre_split_regex; the runtime matches it back to the
// hand-written splitter (tokenizer_presplit.cc), so both sides must use
// these exact strings.
// Thread-safety: pure functions over constant tables.
#ifndef TQF_INTERNAL_PRETOKENIZER_H_
#define TQF_INTERNAL_PRETOKENIZER_H_

#include <string_view>

namespace tqf {

enum class PreTokenizer {
  kLlama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
            //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
};

// The split regex of `p`, byte for byte as Hugging Face's tokenizer.json has it.
const char* PreTokenizerRegex(PreTokenizer p);
// The name llama.cpp writes as `tokenizer.ggml.pre` for `p`.
const char* PreTokenizerGgufName(PreTokenizer p);

// Finds the pre-tokenizer of a GGUF `tokenizer.ggml.pre` name ("llama-bpe",
// "gpt2", ...). false if the name is not one tqf implements.
bool PreTokenizerFromGgufName(std::string_view name, PreTokenizer* out);

// Finds the pre-tokenizer a TokenizerData::pre_split_regex value means: its
// exact regex, or one of its GGUF names. false otherwise.
bool PreTokenizerFromSpec(std::string_view spec, PreTokenizer* out);

}  // namespace tqf

#endif  // TQF_INTERNAL_PRETOKENIZER_H_
