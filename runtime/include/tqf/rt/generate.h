// Generate: prompt in, tokens out. Runs the prompt through the model in one
// prefill (all tokens per layer pass), then samples one token at a time,
// streaming each token's text to a callback as soon as it is chosen.
//
// Stops after `max_tokens` new tokens, at EOS or BOS (when stop_at_eos), or
// when the context is full.
//
// Thread-safety: drives one Model; one call at a time per Model.
#ifndef TQF_RUNTIME_GENERATE_H_
#define TQF_RUNTIME_GENERATE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tqf/result.h"
#include "tqf/rt/model.h"
#include "tqf/rt/sampler.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::rt {

struct GenerateOptions {
  size_t max_tokens = 128;
  SamplerOptions sampler;
  bool stop_at_eos = true;
};

struct GenerateStats {
  size_t prompt_tokens = 0;
  size_t generated_tokens = 0;
  double prompt_seconds = 0;    // the prefill pass (first logits included)
  size_t generate_passes = 0;   // forward passes after the prefill
  double generate_seconds = 0;  // those passes and their sampling
};

// Generates from `prompt` (token ids, BOS included if wanted; non-empty),
// starting with an empty KV cache at position 0. `on_piece` (optional)
// gets the text of each new token (Tokenizer::DecodePiece). Returns the new
// token ids. kInvalidArgument for an empty prompt or one longer than the
// context; model errors as they come.
Result<std::vector<int32_t>> Generate(Model* model, const Tokenizer& tokenizer,
                                      const std::vector<int32_t>& prompt,
                                      const GenerateOptions& options,
                                      const std::function<void(const std::string&)>& on_piece,
                                      GenerateStats* stats);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_GENERATE_H_
