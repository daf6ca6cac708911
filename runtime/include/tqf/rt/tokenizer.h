// Tokenizers of the bundled runtime: text <-> token ids for the two
// vocabularies LLaMA-family models use.
//
//   kSentencePieceBpe (Llama 2, llama2.c): tokens with scores. Encoding is
//     exactly llama2.c's `encode`: a dummy-prefix space, then each UTF-8
//     codepoint looked up as a token (unknown ones fall back to the byte
//     tokens <0xNN>), then repeatedly the adjacent pair whose concatenation
//     is the best-scoring token is merged (ties: leftmost). Done with a
//     priority queue over a linked list, O(n log n) instead of llama2.c's
//     O(n^2), with identical results. Token strings may spell spaces as ' '
//     (llama2.c's tokenizer.bin) or as U+2581 '▁' (GGUF, SentencePiece);
//     '▁' is read as ' '.
//   kByteLevelBpe (Llama 3, GPT-2): the text is split with the model's
//     pre-tokenizer pattern (the Llama 3 or GPT-2 regex, implemented by
//     hand), each piece's bytes are mapped to GPT-2's byte-to-unicode
//     characters and merged by rank (lowest first, ties leftmost). A piece
//     that is itself in the vocabulary is emitted whole without merging, as
//     tiktoken and Hugging Face's `ignore_merges` do for Llama 3.
//
// Special tokens (BOS, EOS, control tokens such as <|eot_id|>) never come
// out of plain text unless Encode's `parse_special` is set, in which case
// their exact spelling in the text becomes the token (longest match first).
//
// Ownership: a Tokenizer copies what it needs from the TokenizerData; the
// data need not outlive it. Thread-safety: all methods are const and may be
// called concurrently.
#ifndef TQF_RUNTIME_TOKENIZER_H_
#define TQF_RUNTIME_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tqf/result.h"
#include "tqf/types.h"

namespace tqf::rt {

class Tokenizer {
 public:
  // Builds the tokenizer `data.kind` names. Errors:
  //   kNotSupported     kind kNone or unknown; a byte-level pre-tokenizer
  //                     pattern other than Llama 3's or GPT-2's;
  //   kInvalidArgument  no tokens; scores/token_types of the wrong length;
  //                     SentencePiece without scores; bos/eos/unk/pad or
  //                     stop id out of range;
  //   kCorruption       a merge that is not "a b" or names tokens the
  //                     vocabulary lacks.
  static Result<std::unique_ptr<Tokenizer>> Create(const TokenizerData& data);

  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Encodes `text` (any bytes; invalid UTF-8 is encoded byte by byte;
  // precondition: shorter than 2 GiB),
  // prepending bos_id() when `add_bos` is set and the vocabulary has one.
  // With `parse_special`, special tokens spelled out in the text are
  // matched verbatim and emitted as themselves; without it they are
  // ordinary text. Never fails: bytes the vocabulary cannot express become
  // unk_id(), or are dropped when there is none.
  std::vector<int32_t> Encode(std::string_view text, bool add_bos,
                              bool parse_special = false) const;

  // Concatenates the text of `ids`. Special tokens render as nothing
  // unless `render_special`; ids outside [0, vocab_size) render as nothing.
  // SentencePiece: the dummy-prefix space of the first text token (at the
  // start or right after BOS) is removed, so Decode(Encode(t)) == t.
  std::string Decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  // The bytes token `id` adds to a stream whose previous token was `prev`
  // (-1 if none), as llama2.c prints them: SentencePiece drops a leading
  // space right after BOS and turns <0xNN> into the byte. Special and
  // out-of-range ids give "". A byte token may be part of a UTF-8
  // character: concatenate pieces before treating them as text.
  std::string DecodePiece(int32_t prev, int32_t id) const;

  TokenizerKind kind() const { return kind_; }
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos_id() const { return bos_id_; }  // -1 if none
  int32_t eos_id() const { return eos_id_; }  // -1 if none
  // Whether generation ends at `id`: eos_id() or one of the data's
  // stop_ids (Llama 3 instruct ends turns with <|eot_id|> or <|eom_id|>).
  bool IsStop(int32_t id) const;
  int32_t unk_id() const { return unk_id_; }  // -1 if none
  // Whether the model's metadata asks for BOS at the start of a prompt.
  bool add_bos_default() const { return add_bos_default_; }

  // Control tokens: BOS, EOS, unknown, padding, and tokens typed control
  // (GGUF token type 3) or unknown (2); without token types, also
  // byte-level tokens spelled <|...|>. False for ids out of range.
  bool IsSpecial(int32_t id) const;
  // The token's string as the source spelled it ("" when out of range).
  const std::string& TokenText(int32_t id) const;

 protected:
  Tokenizer() = default;
  // Copies the vocabulary, ids and special-token table. Subclasses call it
  // first in their own initialisation, after normalising `tokens`.
  Status InitBase(const TokenizerData& data, std::vector<std::string> tokens);
  // Encodes one stretch of text free of special tokens, appending to *out.
  // `first` is true for the text's first stretch and for stretches that
  // follow a special token (where SentencePiece adds its dummy prefix).
  virtual void EncodeText(std::string_view text, bool first, std::vector<int32_t>* out) const = 0;

  TokenizerKind kind_ = TokenizerKind::kNone;
  std::vector<std::string> tokens_;  // id -> string (normalised)
  std::vector<std::string> pieces_;  // id -> decoded bytes
  std::vector<uint8_t> special_;     // id -> IsSpecial
  // Strip the dummy-prefix space at the start / after BOS when decoding.
  bool strip_leading_space_ = false;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  std::vector<int32_t> stop_ids_;  // besides eos_id_
  int32_t unk_id_ = -1;
  bool add_bos_default_ = true;

 private:
  // Tokens matched by parse_special, bucketed by first byte, longest first.
  std::array<std::vector<int32_t>, 256> special_by_byte_;
};

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_TOKENIZER_H_
