// Generate: prompt in, tokens out. Runs the prompt through the model in one
// prefill (all tokens per layer pass), then samples one token at a time,
// streaming each token's text to a callback as soon as it is chosen.
// Generator is the same loop one token at a time, for callers that pull
// tokens (an iterator in another language, a server interleaving work);
// Generate is a loop over it, so both give the same tokens.
//
// Stops after `max_tokens` new tokens, at EOS, another stop id (Tokenizer::IsStop)
// or BOS (when stop_at_eos), or
// when the context is full.
//
// Thread-safety: drives one Model; one call at a time per Model. Anything
// else that runs the Model between a Generator's calls overwrites the KV
// cache it continues from: call Generator::Replay() before its next Next().
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

// One generation, a token per Next() call. Ownership: borrows the model
// and tokenizer, which must outlive it.
class Generator {
 public:
  Generator(Model* model, const Tokenizer& tokenizer, const GenerateOptions& options);
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Runs `prompt` (token ids, BOS included if wanted) from position 0 and
  // samples the first new token. Call once, before Next(). kInvalidArgument
  // for an empty prompt or one longer than the context; model errors as
  // they come.
  Status Start(const std::vector<int32_t>& prompt);
  // The next new token and its text (Tokenizer::DecodePiece): true, or
  // false once generation has ended (max_tokens, EOS/BOS, context full;
  // then always false). Runs the model on the previous token first, so a
  // token's text is available as soon as it is sampled. kInvalidArgument
  // before Start(); model errors as they come (generation has then ended).
  Result<bool> Next(int32_t* token, std::string* piece);

  // Rebuilds the model's KV cache from the prompt and the tokens returned
  // so far (one prefill pass), for a caller that ran the model on something
  // else between two Next() calls; Next() then continues as if nothing had
  // run. OK and nothing run before Start() or once ended; model errors as
  // they come.
  Status Replay();

  // prompt_* from Start(); generate_* counts the time inside Next() only.
  const GenerateStats& stats() const { return stats_; }

 private:
  Model* model_;
  const Tokenizer& tokenizer_;
  GenerateOptions options_;
  Sampler sampler_;
  std::vector<float> logits_;
  std::vector<int32_t> context_;  // the prompt and the tokens returned
  bool started_ = false, done_ = false, forward_pending_ = false;
  size_t pos_ = 0;     // tokens in the KV cache
  int32_t prev_ = -1;  // the token before next_ (for DecodePiece)
  int32_t next_ = -1;  // sampled, not yet returned
  GenerateStats stats_;
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
