// Scoring for `tqf eval`: sliding-window perplexity over a text, and the
// log-likelihood of each answer option of a multiple-choice question.
//
// Perplexity (as in Hugging Face's perplexity guide, with BOS): the text is
// tokenized once (no BOS) into T tokens; windows of W = ctx - 1 text tokens
// (ctx if the model takes no BOS) start every `stride` tokens, each run
// from position 0 with BOS first when the tokenizer's metadata asks for it.
// Every token is scored exactly once, in the first window that reaches it,
// so after the first window each token sees at least W - stride tokens of
// text context (plus BOS). Without BOS the text's first token is not scored.
// NLL sums are accumulated in double from a double log-sum-exp per row.
//
// Multiple choice (as lm-evaluation-harness does): context tokens =
// Encode(prompt), whole = Encode(prompt + option); the option's tokens are
// whole's tokens after its longest common prefix with the context's (they
// are normally exactly the tokens after the context; when the tokenizer
// merges across the boundary the merged token is scored as part of the
// option and `boundary_merges` counts it). Score = sum of log p(option
// tokens | everything before). Choices: by the raw sum, and by the sum per
// byte of the option text including its leading space (lm-eval-harness's
// acc_norm). Sequences longer than the context are cut from the left, by
// the same number of prompt tokens for every option so that all options see
// the same context (BOS kept first, options kept whole when they fit; an
// option longer than the context loses its start too). The common prefix
// of all options' sequences is run once; each option then runs from the
// position where it differs, overwriting the cache entries of the previous
// option (Model::Forward attends only to positions <= its own).
//
// Errors: the Model's (kInvalidArgument, reader errors).
// Thread-safety: one thread drives a Model; these functions drive it.
#ifndef TQF_EVAL_SCORE_H_
#define TQF_EVAL_SCORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "tqf/eval/data.h"
#include "tqf/result.h"
#include "tqf/rt/model.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::eval {

struct PerplexityOptions {
  size_t ctx = 0;         // window incl. BOS; 0: the model's ctx_size()
  size_t stride = 0;      // 0: ctx / 2
  size_t max_tokens = 0;  // score only the text's first max_tokens tokens; 0: all
  const std::atomic<bool>* cancel = nullptr;  // checked between windows
  std::function<void(size_t scored, size_t total)> progress;
};

struct PerplexityResult {
  size_t text_tokens = 0;  // tokens of the whole text
  size_t tokens_used = 0;  // after max_tokens
  size_t scored = 0;       // tokens whose NLL is summed
  size_t windows = 0;
  size_t ctx = 0, stride = 0;
  bool bos = false;
  bool cancelled = false;  // stopped early by *cancel
  double nll_sum = 0;      // nats
  double seconds = 0;
  double MeanNll() const { return scored ? nll_sum / static_cast<double>(scored) : 0.0; }
  double Perplexity() const;
};

Result<PerplexityResult> ComputePerplexity(rt::Model* model, const rt::Tokenizer& tok,
                                           std::string_view text, const PerplexityOptions& options);

// What a Model's KV cache holds: tokens[i] is the token whose keys and
// values sit at position i (entries beyond tokens.size() are stale).
// ScoreQuestion keeps it up to date when given one, and then starts a
// question where it first differs from what the cache holds, so questions
// that share a prefix (MMLU's 5-shot header within a subject) run it once.
// Anything else that runs the Model must clear() it.
struct KvState {
  std::vector<int32_t> tokens;
};

struct McOptions {
  size_t ctx = 0;            // longest sequence; 0: the model's ctx_size()
  bool share_prefix = true;  // run the options' common prefix once
  KvState* kv = nullptr;     // optional: reuse the cache across questions
};

struct OptionScore {
  double logprob = 0;  // sum over the option's tokens (-inf if it has none)
  size_t tokens = 0;   // option tokens scored
  size_t bytes = 0;    // bytes of the option text
};

struct McResult {
  std::vector<OptionScore> options;
  int pick_raw = -1;       // argmax of logprob (first on ties)
  int pick_norm = -1;      // argmax of logprob / bytes
  bool truncated = false;  // some option's context was cut from the left
  size_t boundary_merges = 0;
  size_t tokens_run = 0;  // tokens through Forward for this question
  double seconds = 0;     // wall time, tokenization included
};

Result<McResult> ScoreQuestion(rt::Model* model, const rt::Tokenizer& tok, const McQuestion& q,
                               const McOptions& options);

// log softmax(row)[target], computed in double.
double LogProb(const float* row, size_t vocab, int32_t target);

}  // namespace tqf::eval

#endif  // TQF_EVAL_SCORE_H_
