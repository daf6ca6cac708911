// Sliding-window perplexity and multiple-choice option log-likelihoods.
#include "tqf/eval/score.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

namespace tqf::eval {

using rt::Model;
using rt::Tokenizer;
namespace {

// Rows of logits per Forward call when all rows are kept (bounds memory
// for large vocabularies: 128 x 128K floats = 64 MiB).
constexpr size_t kLogitChunk = 128;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t EffectiveCtx(const Model& model, size_t requested) {
  const size_t cap = model.ctx_size();
  return requested == 0 ? cap : std::min(requested, cap);
}

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

// Runs seq[from, to) at positions from.. and calls fn(i, row) for each
// i in [from, to) with the logits row that predicts seq[i + 1].
template <typename Fn>
Status RunRows(Model* model, const std::vector<int32_t>& seq, size_t from, size_t to,
               std::vector<float>* logits, Fn fn) {
  const size_t vocab = model->hparams().vocab_size;
  for (size_t c = from; c < to; c += kLogitChunk) {
    const size_t n = std::min(kLogitChunk, to - c);
    TQF_RETURN_IF_ERROR(model->Forward(seq.data() + c, n, c, true, logits));
    for (size_t r = 0; r < n; ++r) fn(c + r, logits->data() + r * vocab);
  }
  return Status::OK();
}

// Each option's tokens (prompt + option) and the index of its first scored
// token, cut from the left to fit the context.
struct OptionSequences {
  std::vector<std::vector<int32_t>> seqs;
  std::vector<size_t> starts;
};

// Every option's sequence loses the same number of context tokens, so the
// options keep a common prefix (and see the same context).
OptionSequences EncodeOptions(const Tokenizer& tok, const McQuestion& q, bool bos, size_t limit,
                              McResult* res) {
  const size_t keep = bos ? 1 : 0;  // leading tokens never cut
  const std::vector<int32_t> context = tok.Encode(q.prompt, bos);
  const size_t n_opt = q.options.size();
  OptionSequences opts;
  opts.seqs.resize(n_opt);
  opts.starts.resize(n_opt);
  size_t drop = 0;
  for (size_t o = 0; o < n_opt; ++o) {
    opts.seqs[o] = tok.Encode(q.prompt + q.options[o], bos);
    size_t k = CommonPrefix(context, opts.seqs[o]);
    if (k < context.size()) ++res->boundary_merges;
    opts.starts[o] = std::max<size_t>(k, 1);  // the first token of a sequence is never scored
    if (opts.seqs[o].size() > limit) drop = std::max(drop, opts.seqs[o].size() - limit);
  }
  if (drop > 0) {
    res->truncated = true;
    for (size_t o = 0; o < n_opt; ++o) {
      std::vector<int32_t>& seq = opts.seqs[o];
      const size_t cut = std::min(drop, seq.size() - keep);
      seq.erase(seq.begin() + keep, seq.begin() + keep + cut);
      // An option longer than the context loses its start too.
      opts.starts[o] = std::max<size_t>(opts.starts[o] > cut ? opts.starts[o] - cut : 0, 1);
    }
  }
  for (size_t o = 0; o < n_opt; ++o) opts.starts[o] = std::min(opts.starts[o], opts.seqs[o].size());
  return opts;
}

// Common prefix of every sequence, at most up to the first scored token.
size_t SharedPrefixLength(const OptionSequences& opts, bool share_prefix) {
  size_t prefix = share_prefix ? *std::min_element(opts.starts.begin(), opts.starts.end()) : 0;
  for (size_t o = 1; o < opts.seqs.size() && prefix > 0; ++o)
    prefix = std::min(prefix, CommonPrefix(opts.seqs[0], opts.seqs[o]));
  return prefix;
}

// Runs the first `prefix` tokens shared by every option into the cache and
// keeps the logits of the last one; `cached` tracks what the cache holds.
Status RunSharedPrefix(Model* model, const std::vector<std::vector<int32_t>>& seqs, size_t prefix,
                       std::vector<int32_t>* cached, std::vector<float>* prefix_logits,
                       size_t* tokens_run) {
  if (prefix == 0) {
    cached->clear();
    return Status::OK();
  }
  // Reuse what the cache holds, but run at least the prefix's last token
  // (its logits score the first option token).
  const std::vector<int32_t>& seq = seqs[0];
  const size_t reuse = std::min(CommonPrefix(*cached, seq), prefix - 1);
  cached->resize(reuse);
  TQF_RETURN_IF_ERROR(
      model->Forward(seq.data() + reuse, prefix - reuse, reuse, false, prefix_logits));
  cached->assign(seq.begin(), seq.begin() + prefix);
  *tokens_run += prefix - reuse;
  return Status::OK();
}

// Adds the log-probabilities of seq's tokens from `start` on to *s, running
// the tokens after the shared prefix; -inf if the option adds no token.
Status ScoreOption(Model* model, const std::vector<int32_t>& seq, size_t start, size_t prefix,
                   const std::vector<float>& prefix_logits, std::vector<int32_t>* cached,
                   std::vector<float>* logits, OptionScore* s, size_t* tokens_run) {
  if (start >= seq.size()) {
    s->logprob = -std::numeric_limits<double>::infinity();
    return Status::OK();
  }
  const size_t vocab = model->hparams().vocab_size;
  if (start == prefix && prefix > 0) {
    s->logprob += LogProb(prefix_logits.data(), vocab, seq[prefix]);
    ++s->tokens;
  }
  cached->resize(prefix);
  Status st = RunRows(model, seq, prefix, seq.size() - 1, logits, [&](size_t i, const float* row) {
    if (i + 1 >= start) {
      s->logprob += LogProb(row, vocab, seq[i + 1]);
      ++s->tokens;
    }
  });
  if (!st.ok()) {
    cached->clear();
    return st;
  }
  cached->insert(cached->end(), seq.begin() + prefix, seq.end() - 1);
  *tokens_run += seq.size() - 1 - prefix;
  return Status::OK();
}

// acc's pick: the highest log-likelihood; acc_norm's: the highest per byte
// of option text. The first option wins ties.
void PickBest(McResult* res) {
  double best_raw = 0, best_norm = 0;
  for (size_t o = 0; o < res->options.size(); ++o) {
    const OptionScore& s = res->options[o];
    const double norm = s.logprob / static_cast<double>(std::max<size_t>(s.bytes, 1));
    if (res->pick_raw < 0 || s.logprob > best_raw) {
      best_raw = s.logprob;
      res->pick_raw = static_cast<int>(o);
    }
    if (res->pick_norm < 0 || norm > best_norm) {
      best_norm = norm;
      res->pick_norm = static_cast<int>(o);
    }
  }
}

}  // namespace

double LogProb(const float* row, size_t vocab, int32_t target) {
  float mx = row[0];
  for (size_t i = 1; i < vocab; ++i) mx = std::max(mx, row[i]);
  double sum = 0;
  for (size_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
  return static_cast<double>(row[target]) - mx - std::log(sum);
}

double PerplexityResult::Perplexity() const { return std::exp(MeanNll()); }

Result<PerplexityResult> ComputePerplexity(Model* model, const Tokenizer& tok,
                                           std::string_view text,
                                           const PerplexityOptions& options) {
  const double t0 = Now();
  PerplexityResult res;
  res.bos = tok.add_bos_default() && tok.bos_id() >= 0;
  res.ctx = EffectiveCtx(*model, options.ctx);
  const size_t off = res.bos ? 1 : 0;
  if (res.ctx < off + 2) {
    return Status::InvalidArgument("perplexity: context of " + std::to_string(res.ctx) +
                                   " tokens is too short (need at least " +
                                   std::to_string(off + 2) + ")");
  }
  const size_t width = res.ctx - off;  // text tokens per window
  res.stride = options.stride ? options.stride : res.ctx / 2;
  const size_t max_stride = res.bos ? width : width - 1;
  if (res.stride < 1 || res.stride > max_stride) {
    return Status::InvalidArgument("perplexity: stride " + std::to_string(res.stride) +
                                   " outside 1.." + std::to_string(max_stride) +
                                   " for a context of " + std::to_string(res.ctx));
  }
  std::vector<int32_t> tokens = tok.Encode(text, false);
  res.text_tokens = tokens.size();
  if (options.max_tokens > 0 && tokens.size() > options.max_tokens)
    tokens.resize(options.max_tokens);
  res.tokens_used = tokens.size();
  const size_t total = tokens.size() - std::min<size_t>(tokens.size(), 1 - off);
  const size_t vocab = model->hparams().vocab_size;

  std::vector<int32_t> window;
  std::vector<float> logits;
  size_t prev_end = 0;
  for (size_t begin = 0; begin < tokens.size() && prev_end < tokens.size(); begin += res.stride) {
    if (options.cancel != nullptr && options.cancel->load()) {
      res.cancelled = true;
      break;
    }
    const size_t end = std::min(begin + width, tokens.size());
    window.clear();
    if (res.bos) window.push_back(tok.bos_id());
    window.insert(window.end(), tokens.begin() + begin, tokens.begin() + end);
    // Token tokens[j] sits at window index j - begin + off and is predicted
    // by the row of the index before it.
    const size_t first = std::max(prev_end, begin + (1 - off));
    const size_t from = first - begin + off - 1;  // first row needed
    const size_t to = window.size() - 1;          // rows 0..to-1 exist
    if (from > 0) {
      TQF_RETURN_IF_ERROR(model->Forward(window.data(), from, 0, false, &logits));
    }
    Status st = RunRows(model, window, from, to, &logits, [&](size_t i, const float* row) {
      res.nll_sum -= LogProb(row, vocab, window[i + 1]);
      ++res.scored;
    });
    TQF_RETURN_IF_ERROR(st);
    ++res.windows;
    prev_end = end;
    if (options.progress) options.progress(res.scored, total);
  }
  res.seconds = Now() - t0;
  return res;
}

Result<McResult> ScoreQuestion(Model* model, const Tokenizer& tok, const McQuestion& q,
                               const McOptions& options) {
  const double t0 = Now();
  McResult res;
  const bool bos = tok.add_bos_default() && tok.bos_id() >= 0;
  const size_t limit = EffectiveCtx(*model, options.ctx);
  if (limit < (bos ? 1 : 0) + 2) {
    return Status::InvalidArgument("context too short for multiple choice");
  }
  const OptionSequences opts = EncodeOptions(tok, q, bos, limit, &res);
  const size_t prefix = SharedPrefixLength(opts, options.share_prefix);

  std::vector<float> prefix_logits, logits;
  std::vector<int32_t> no_kv;
  std::vector<int32_t>& cached = options.kv != nullptr ? options.kv->tokens : no_kv;
  TQF_RETURN_IF_ERROR(
      RunSharedPrefix(model, opts.seqs, prefix, &cached, &prefix_logits, &res.tokens_run));
  res.options.resize(opts.seqs.size());
  for (size_t o = 0; o < opts.seqs.size(); ++o) {
    res.options[o].bytes = q.options[o].size();
    TQF_RETURN_IF_ERROR(ScoreOption(model, opts.seqs[o], opts.starts[o], prefix, prefix_logits,
                                    &cached, &logits, &res.options[o], &res.tokens_run));
  }
  PickBest(&res);
  res.seconds = Now() - t0;
  return res;
}

}  // namespace tqf::eval
