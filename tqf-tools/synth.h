// `tqf synth` internals: the model shapes it knows and the small
// byte-level BPE vocabulary it gives the synthetic models.
#ifndef TQF_TOOLS_SYNTH_H_
#define TQF_TOOLS_SYNTH_H_

#include <cstdint>
#include <string>

#include "tqf/types.h"

namespace tqf::tools {

// The hyperparameters of a real model, copied from its config.json.
struct SynthShape {
  const char* name;
  const char* summary;
  uint32_t n_layers, dim, hidden_dim, n_heads, n_kv_heads, vocab_size, context_length;
  bool tied;
  float rope_theta;
  float norm_eps;
  // Llama 3 rope scaling ("rope_type": "llama3"); factor 0 = none.
  float rope_factor, rope_low_freq, rope_high_freq;
  uint32_t rope_original_context;
};

// The shape called `name`, or nullptr. Shapes() lists them all.
const SynthShape* FindSynthShape(const std::string& name);
const SynthShape* SynthShapes(size_t* count);

// A valid byte-level BPE vocabulary of exactly `vocab_size` tokens
// (vocab_size >= 512): the 256 byte tokens, merges " x" and "xy" for
// lowercase letters as far as room allows, unique filler words, and the
// Llama 3 special tokens (<|begin_of_text|> = BOS, <|end_of_text|> = EOS,
// then reserved ones) in the last ids (256 of them, or 2 when
// vocab_size < 4096).
TokenizerData SynthTokenizer(uint32_t vocab_size);

// Pads a byte-level tokenizer read from a file up to `vocab_size` tokens
// with unique filler tokens (the model's embedding may be larger than the
// tokenizer, as Llama 3's is not but some are).
void PadTokenizer(uint32_t vocab_size, TokenizerData* tok);

}  // namespace tqf::tools

#endif  // TQF_TOOLS_SYNTH_H_
