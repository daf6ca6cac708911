// Helpers shared by the importers (internal to libtqf): overflow-checked
// arithmetic, tokenizer parsers used by more than one importer, and path
// utilities.
#ifndef TQF_IMPORT_IMPORT_INTERNAL_H_
#define TQF_IMPORT_IMPORT_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tqf/import.h"
#include "tqf/result.h"
#include "tqf/types.h"

namespace tqf::json {
class Value;
}  // namespace tqf::json

namespace tqf::import_internal {

// *out = a * b; false on uint64 overflow.
inline bool MulOverflow(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}
// *out = a + b; false on uint64 overflow.
inline bool AddOverflow(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

// Bytes that `count` elements of `dtype` occupy (block types: whole
// blocks, e.g. Q8_0 34 bytes per 32, so count must be a multiple of the
// block). false on overflow or a partial block.
bool TensorBytes(DType dtype, uint64_t count, uint64_t* bytes);

// Parses a llama2.c tokenizer.bin image: int32 max_token_length, then per
// token float score, int32 length, bytes. Reads `expected_tokens` tokens
// (kCorruption if fewer are present), or all tokens up to the end when
// expected_tokens < 0. Sets the llama2.c conventions: kSentencePieceBpe,
// BOS 1, EOS 2, UNK 0, add_bos. `where` names the file in messages.
Result<TokenizerData> ParseLlama2cTokenizer(const uint8_t* data, size_t size,
                                            int64_t expected_tokens, const std::string& where);

// Parses a Hugging Face tokenizer.json (byte-level BPE, or SentencePiece-
// style BPE with byte_fallback): see ImportTokenizer.
Result<TokenizerData> ParseHfTokenizerJson(std::string_view text, const std::string& where);

// A tokenizer.json merge as its two pieces. The string spelling "a b"
// cannot say where a piece with a space splits: such a string (not
// exactly one space) is kept whole in `first` with `second` empty, which
// no real merge has.
struct MergePair {
  std::string first, second;
};

// Turns `tok`, read from a byte_fallback tokenizer.json `doc` (tokens,
// token types), into a kSentencePieceBpe tokenizer: scores from the ranks
// of `merges`, byte/control/unknown token types, BOS/EOS/UNK, add_bos from
// the post-processor (tokenizer_hf_spm.cc). kNotSupported when the
// normalizer / pre-tokenizer is not SentencePiece's metaspace handling;
// kCorruption for a merge that is not "a b" or makes no vocabulary token.
Status ToSentencePiece(const json::Value& doc, const json::Value& model, const std::string& where,
                       const std::vector<MergePair>& merges, TokenizerData* tok);

// Directory part of `path` including the trailing '/', or "" for a bare name.
std::string DirName(const std::string& path);
bool FileExists(const std::string& path);

// Adds `owner` to what m->keep_alive keeps alive.
void AddKeepAlive(SourceModel* m, std::shared_ptr<const void> owner);

}  // namespace tqf::import_internal

namespace tqf {

// Parse a GGUF / safetensors image already in memory (the fuzz targets and
// tests call these). `data` must outlive the result; keep_alive stays empty.
Result<SourceModel> ParseGguf(const uint8_t* data, size_t size);
Result<SourceModel> ParseSafetensors(const uint8_t* data, size_t size);

}  // namespace tqf

#endif  // TQF_IMPORT_IMPORT_INTERNAL_H_
