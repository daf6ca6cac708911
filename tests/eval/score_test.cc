// Tests of eval scoring on stories260K: perplexity on the TinyStories sample
// lies in the expected band, compression leaves the numbers bitwise equal,
// multiple-choice scores match a from-scratch computation and pick the
// model's own continuation, and `tqf eval` opens a source model raw.
#include "tqf/eval/score.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "runtime_test_util.h"
#include "tqf/eval/suite.h"

namespace tqf::eval {

using rt::Model;
using rt::ModelOptions;
using rt::PackedStories;
namespace {

constexpr uint32_t kCtx = 512;  // stories260K was trained on 512 (its GGUF says 2048)

std::unique_ptr<EvalModel> Open(const std::string& path) {
  ModelOptions mo;
  mo.ctx_size = kCtx;
  mo.threads = 1;
  Result<std::unique_ptr<EvalModel>> m = OpenEvalModel(path, mo);
  EXPECT_TRUE(m.ok()) << path << ": " << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

PerplexityResult TinyStoriesPpl(EvalModel* m, size_t max_tokens) {
  Result<std::string> text =
      LoadText(tqf::testing::SharedPath("eval/text/tinystories-valid-subset.txt"));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (!text.ok()) return {};
  PerplexityOptions po;
  po.max_tokens = max_tokens;
  Result<PerplexityResult> r = ComputePerplexity(m->model.get(), *m->tokenizer, *text, po);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : PerplexityResult{};
}

// Cross-entropy of stories260K (fp32) on the TinyStories sample: the model
// card says about 1.8 nats (perplexity about 6); we accept 1.5-2.2 nats.
// The first 6000 of the sample's 15.5K tokens keep the test fast (the whole
// sample gives 1.689 nats, perplexity 5.41, with ctx 512 and stride 256).
TEST(EvalScore, TinyStoriesPerplexityFp32) {
  auto m = Open(PackedStories("gguf", "raw", "raw"));
  ASSERT_NE(m, nullptr);
  const PerplexityResult r = TinyStoriesPpl(m.get(), 6000);
  EXPECT_TRUE(r.bos);
  EXPECT_EQ(r.ctx, kCtx);
  EXPECT_EQ(r.stride, kCtx / 2);
  EXPECT_GT(r.text_tokens, 15000u);
  EXPECT_EQ(r.scored, 6000u);  // every token scored once (BOS predicts the first)
  EXPECT_EQ(r.windows, 23u);   // windows of 511 text tokens every 256: ceil((6000 - 511) / 256) + 1
  EXPECT_GT(r.MeanNll(), 1.5);
  EXPECT_LT(r.MeanNll(), 2.2);
  std::printf("stories260K fp32 TinyStories: %zu tokens, %zu windows, nll %.4f, ppl %.3f\n",
              r.scored, r.windows, r.MeanNll(), r.Perplexity());
}

// Lossless compression: int8 channel with the rans codec scores exactly
// (bitwise) what int8 channel with the raw codec does.
TEST(EvalScore, CompressionGivesBitwiseEqualNll) {
  auto raw = Open(PackedStories("gguf", "channel", "raw"));
  auto rans = Open(PackedStories("gguf", "channel", "rans"));
  ASSERT_NE(raw, nullptr);
  ASSERT_NE(rans, nullptr);
  const PerplexityResult a = TinyStoriesPpl(raw.get(), 3000);
  const PerplexityResult b = TinyStoriesPpl(rans.get(), 3000);
  EXPECT_EQ(a.scored, 3000u);
  EXPECT_EQ(a.scored, b.scored);
  EXPECT_EQ(a.nll_sum, b.nll_sum);  // bitwise, not approximately
  EXPECT_GT(a.MeanNll(), 1.5);
  EXPECT_LT(a.MeanNll(), 2.3);
}

// Without overlap (stride = window) and with small windows the NLL is worse
// than with long overlapping windows: the context matters.
TEST(EvalScore, PerplexityWindowsAndStride) {
  auto m = Open(PackedStories("gguf", "raw", "raw"));
  ASSERT_NE(m, nullptr);
  Result<std::string> text =
      LoadText(tqf::testing::SharedPath("eval/text/tinystories-valid-subset.txt"));
  ASSERT_TRUE(text.ok());
  PerplexityOptions po;
  po.ctx = 17;
  po.stride = 16;
  po.max_tokens = 1000;
  Result<PerplexityResult> short_ctx = ComputePerplexity(m->model.get(), *m->tokenizer, *text, po);
  ASSERT_TRUE(short_ctx.ok()) << short_ctx.status().ToString();
  EXPECT_EQ(short_ctx->scored, 1000u);
  EXPECT_EQ(short_ctx->windows, 63u);  // ceil(1000 / 16)
  po.ctx = 0;
  po.stride = 0;
  Result<PerplexityResult> long_ctx = ComputePerplexity(m->model.get(), *m->tokenizer, *text, po);
  ASSERT_TRUE(long_ctx.ok());
  EXPECT_EQ(long_ctx->scored, 1000u);
  EXPECT_LT(long_ctx->MeanNll(), short_ctx->MeanNll());
  po.stride = 600;
  EXPECT_TRUE(
      ComputePerplexity(m->model.get(), *m->tokenizer, *text, po).status().IsInvalidArgument());
}

// Sum of log p(option tokens | prompt) computed from scratch: one Forward
// of the whole sequence, no prefix sharing.
double ReferenceLogprob(EvalModel* m, const std::string& prompt, const std::string& option) {
  const std::vector<int32_t> ctx = m->tokenizer->Encode(prompt, true);
  const std::vector<int32_t> all = m->tokenizer->Encode(prompt + option, true);
  std::vector<float> logits;
  Status st = m->model->Forward(all.data(), all.size(), 0, true, &logits);
  EXPECT_TRUE(st.ok()) << st.ToString();
  const size_t vocab = m->model->hparams().vocab_size;
  double lp = 0;
  for (size_t i = ctx.size(); i < all.size(); ++i)
    lp += LogProb(&logits[(i - 1) * vocab], vocab, all[i]);
  return lp;
}

TEST(EvalScore, MultipleChoicePicksTheModelsOwnContinuation) {
  auto m = Open(PackedStories("gguf", "raw", "raw"));
  ASSERT_NE(m, nullptr);
  // The first option is the model's greedy continuation (models/README.md);
  // the others are unlikely text of similar length.
  McQuestion q;
  q.prompt = "Once upon a time";
  q.options = {", there was a little girl named Lily. She loved to play outside in the park.",
               ", quantum xylophones taxed the eastern parliament of Lily with bricks.",
               " 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26"};
  q.gold = 0;
  for (bool share : {true, false}) {
    McOptions mo;
    mo.share_prefix = share;
    Result<McResult> r = ScoreQuestion(m->model.get(), *m->tokenizer, q, mo);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->pick_raw, 0);
    EXPECT_EQ(r->pick_norm, 0);
    EXPECT_FALSE(r->truncated);
    for (size_t o = 0; o < q.options.size(); ++o) {
      EXPECT_NEAR(r->options[o].logprob, ReferenceLogprob(m.get(), q.prompt, q.options[o]), 1e-3)
          << o;
      EXPECT_EQ(r->options[o].bytes, q.options[o].size());
    }
  }
  // Greedy continuation tokens are each the argmax: the model is confident.
  Result<McResult> r = ScoreQuestion(m->model.get(), *m->tokenizer, q, McOptions());
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->options[0].logprob / r->options[0].tokens, -1.0);
}

// Reusing the KV cache across questions with a common prefix gives the
// same scores as running each question from scratch, with fewer tokens.
TEST(EvalScore, KvCacheReuseAcrossQuestions) {
  auto m = Open(PackedStories("gguf", "raw", "raw"));
  ASSERT_NE(m, nullptr);
  const std::string story =
      "Once upon a time, there was a little girl named Lily. She loved to play outside.";
  std::vector<McQuestion> qs(3);
  qs[0].prompt = story + " One day";
  qs[1].prompt = story + " One day, she saw";
  qs[2].prompt = "Tom had a red ball.";
  for (McQuestion& q : qs) q.options = {" a big dog.", " the sun.", " zq qz zq."};
  KvState kv;
  McOptions reuse;
  reuse.kv = &kv;
  size_t run_fresh = 0, run_reused = 0;
  for (const McQuestion& q : qs) {
    Result<McResult> a = ScoreQuestion(m->model.get(), *m->tokenizer, q, reuse);
    Result<McResult> b = ScoreQuestion(m->model.get(), *m->tokenizer, q, McOptions());
    ASSERT_TRUE(a.ok() && b.ok());
    kv.tokens.clear();  // the fresh run overwrote the cache
    ASSERT_TRUE(ScoreQuestion(m->model.get(), *m->tokenizer, q, reuse).ok());  // refill it
    for (size_t o = 0; o < q.options.size(); ++o) {
      EXPECT_NEAR(a->options[o].logprob, b->options[o].logprob, 1e-4) << o;
    }
    run_reused += a->tokens_run;
    run_fresh += b->tokens_run;
  }
  EXPECT_LT(run_reused + 15, run_fresh);  // the story (~20 tokens) ran once
}

TEST(EvalScore, LongPromptsAreCutFromTheLeft) {
  auto m = Open(PackedStories("gguf", "raw", "raw"));
  ASSERT_NE(m, nullptr);
  McQuestion q;
  for (int i = 0; i < 40; ++i) q.prompt += "The cat sat on the mat. ";
  q.prompt += "Once upon a time";
  q.options = {", there was a little girl named Lily.", " zq zq zq zq zq zq."};
  McOptions mo;
  mo.ctx = 32;
  Result<McResult> r = ScoreQuestion(m->model.get(), *m->tokenizer, q, mo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->pick_raw, 0);
  EXPECT_TRUE(std::isfinite(r->options[1].logprob));
  // The cut is the same for both options, so their prefix is still run once.
  EXPECT_LE(r->tokens_run, 32u + r->options[0].tokens + r->options[1].tokens);
}

TEST(EvalScore, SummaryAndAgreement) {
  TaskResult a, b;
  for (int i = 0; i < 4; ++i) {
    McResult x;
    x.pick_raw = x.pick_norm = i % 2;
    x.seconds = 0.01 * (i + 1);
    a.answers.push_back(x);
    a.gold.push_back(0);
    x.pick_raw = 0;
    b.answers.push_back(x);
    b.gold.push_back(0);
  }
  const McSummary s = Summarize(a);
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.acc, 0.5);
  EXPECT_DOUBLE_EQ(s.acc_se, std::sqrt(0.25 / 4));
  EXPECT_NEAR(s.latency_mean, 0.025, 1e-12);
  EXPECT_DOUBLE_EQ(s.latency_p95, 0.04);
  EXPECT_DOUBLE_EQ(Agreement(a, b, false), 0.5);
  EXPECT_DOUBLE_EQ(Agreement(a, b, true), 1.0);
}

// A source model (GGUF) is evaluated through a temporary raw .tqf, with the
// same numbers as the same model packed raw by hand.
TEST(EvalScore, SourceModelEvaluatedRaw) {
  auto src = Open(tqf::testing::SharedPath("models/stories260K/stories260K.gguf"));
  auto packed = Open(PackedStories("gguf", "raw", "raw"));
  ASSERT_NE(src, nullptr);
  ASSERT_NE(packed, nullptr);
  EXPECT_EQ(src->format, "gguf");
  EXPECT_EQ(packed->format, "tqf");
  EXPECT_GT(src->file_bytes, 900000u);
  const PerplexityResult a = TinyStoriesPpl(src.get(), 1000);
  const PerplexityResult b = TinyStoriesPpl(packed.get(), 1000);
  EXPECT_EQ(a.nll_sum, b.nll_sum);
  EXPECT_FALSE(OpenEvalModel("/nonexistent.gguf", ModelOptions()).ok());
}

}  // namespace
}  // namespace tqf::eval
