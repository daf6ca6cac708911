// Runtime tests on the real stories260K model (../shared/models): packed
// raw it must reproduce the README's greedy continuation exactly, from
// GGUF and from the llama2.c checkpoint; packed with each int8 quantizer
// its logits stay close to fp32; output is bit-identical whatever the
// memory budget and thread count.
#include "tqf/rt/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime_test_util.h"
#include "test_util.h"
#include "tqf/rt/generate.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::rt {
namespace {

using tqf::testing::SharedPath;

const char kExpected[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";

// Greedy text (prompt included) until it is at least as long as kExpected.
std::string GreedyText(const std::string& path, const ModelOptions& mo,
                       std::vector<int32_t>* ids = nullptr) {
  auto model = Model::Open(path, mo);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return "";
  auto tok = Tokenizer::Create((*model)->info().tokenizer);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  if (!tok.ok()) return "";
  const std::vector<int32_t> prompt = (*tok)->Encode("Once upon a time", true);
  std::string text = "Once upon a time";
  GenerateOptions go;
  go.max_tokens = 200;
  // Stop streaming once the expected length is reached.
  std::vector<int32_t> out;
  int32_t prev = prompt.back();
  std::vector<float> logits;
  Status s = (*model)->Forward(prompt.data(), prompt.size(), 0, false, &logits);
  EXPECT_TRUE(s.ok()) << s.ToString();
  size_t pos = prompt.size();
  while (s.ok() && text.size() < std::strlen(kExpected) && out.size() < go.max_tokens) {
    const int32_t next = ArgMax(logits);
    out.push_back(next);
    text += (*tok)->DecodePiece(prev, next);
    prev = next;
    s = (*model)->Forward(&next, 1, pos++, false, &logits);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  if (ids) *ids = out;
  return text;
}

TEST(Stories260K, RawGgufGreedyMatchesReadme) {
  const std::string path = PackedStories("gguf", "raw", "raw");
  ASSERT_FALSE(path.empty());
  EXPECT_EQ(GreedyText(path, ModelOptions()), kExpected);
}

TEST(Stories260K, RawLlama2cGreedyMatchesReadme) {
  const std::string path = PackedStories("llama2c", "raw", "raw");
  ASSERT_FALSE(path.empty());
  EXPECT_EQ(GreedyText(path, ModelOptions()), kExpected);
}

TEST(Stories260K, GenerateStreamsTheSameText) {
  const std::string path = PackedStories("gguf", "raw", "raw");
  ASSERT_FALSE(path.empty());
  auto model = Model::Open(path, ModelOptions());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = Tokenizer::Create((*model)->info().tokenizer);
  ASSERT_TRUE(tok.ok());
  GenerateOptions go;
  go.max_tokens = 44;
  std::string text = "Once upon a time";
  GenerateStats st;
  auto out = Generate(
      model->get(), **tok, (*tok)->Encode("Once upon a time", true), go,
      [&](const std::string& piece) { text += piece; }, &st);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(st.generated_tokens, out->size());
  EXPECT_EQ(text.substr(0, std::min(text.size(), std::strlen(kExpected))),
            std::string(kExpected).substr(0, std::min(text.size(), std::strlen(kExpected))));
}

// Generator (one token per Next) is the loop Generate runs: with sampling
// and a seed, the same tokens and pieces; then it stays ended.
TEST(Stories260K, GeneratorPullsTheSameTokensAsGenerate) {
  const std::string path = PackedStories("gguf", "channel", "rans-alias");
  ASSERT_FALSE(path.empty());
  auto model = Model::Open(path, ModelOptions());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = Tokenizer::Create((*model)->info().tokenizer);
  ASSERT_TRUE(tok.ok());
  GenerateOptions go;
  go.max_tokens = 60;
  go.sampler.temperature = 0.8f;
  go.sampler.top_p = 0.9f;
  go.sampler.seed = 1234;
  const std::vector<int32_t> prompt = (*tok)->Encode("Once upon a time", true);
  std::string streamed;
  auto want = Generate(
      model->get(), **tok, prompt, go, [&](const std::string& p) { streamed += p; }, nullptr);
  ASSERT_TRUE(want.ok()) << want.status().ToString();

  Generator gen(model->get(), **tok, go);
  int32_t token = 0;
  std::string piece, pulled;
  EXPECT_TRUE(gen.Next(&token, &piece).status().IsInvalidArgument());  // before Start
  ASSERT_TRUE(gen.Start(prompt).ok());
  std::vector<int32_t> got;
  for (;;) {
    Result<bool> more = gen.Next(&token, &piece);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    got.push_back(token);
    pulled += piece;
  }
  EXPECT_EQ(got, *want);
  EXPECT_EQ(pulled, streamed);
  EXPECT_EQ(gen.stats().generated_tokens, got.size());
  EXPECT_EQ(gen.stats().prompt_tokens, prompt.size());
  Result<bool> after = gen.Next(&token, &piece);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);
}

// Generation ends at any of the tokenizer's stop ids, not only at EOS
// (Llama 3 instruct ends turns with <|eot_id|>): make the third greedy
// token a stop id and generation ends before it.
TEST(Stories260K, GenerationStopsAtEveryStopId) {
  const std::string path = PackedStories("gguf", "block32", "rans");
  ASSERT_FALSE(path.empty());
  auto model = Model::Open(path, ModelOptions());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  TokenizerData data = (*model)->info().tokenizer;
  auto tok = Tokenizer::Create(data);
  ASSERT_TRUE(tok.ok());
  GenerateOptions go;
  go.max_tokens = 20;
  go.sampler.temperature = 0.0f;
  const std::vector<int32_t> prompt = (*tok)->Encode("Once upon a time", true);
  auto all = Generate(model->get(), **tok, prompt, go, nullptr, nullptr);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_GE(all->size(), 4u);
  const int32_t stop = (*all)[2];
  ASSERT_NE(stop, (*all)[0]);
  ASSERT_NE(stop, (*all)[1]);
  data.stop_ids = {data.eos_id, stop};
  auto stopping = Tokenizer::Create(data);
  ASSERT_TRUE(stopping.ok()) << stopping.status().ToString();
  EXPECT_TRUE((*stopping)->IsStop(stop));
  EXPECT_TRUE((*stopping)->IsStop(data.eos_id));
  EXPECT_FALSE((*stopping)->IsStop((*all)[0]));
  auto cut = Generate(model->get(), **stopping, prompt, go, nullptr, nullptr);
  ASSERT_TRUE(cut.ok()) << cut.status().ToString();
  EXPECT_EQ(*cut, std::vector<int32_t>(all->begin(), all->begin() + 2));
  data.stop_ids = {static_cast<int32_t>(data.tokens.size())};
  EXPECT_FALSE(Tokenizer::Create(data).ok());  // a stop id must be a token
}

// Running the model on other tokens between two Next() calls overwrites
// the KV cache; Replay() rebuilds it, and the tokens stay those of an
// uninterrupted run (a prefill computes each position as single steps do).
TEST(Stories260K, GeneratorReplayContinuesAfterOtherWork) {
  const std::string path = PackedStories("gguf", "block32", "rans");
  ASSERT_FALSE(path.empty());
  auto model = Model::Open(path, ModelOptions());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = Tokenizer::Create((*model)->info().tokenizer);
  ASSERT_TRUE(tok.ok());
  GenerateOptions go;
  go.max_tokens = 50;
  go.stop_at_eos = false;
  go.sampler.temperature = 1.0f;
  go.sampler.seed = 77;
  const std::vector<int32_t> prompt = (*tok)->Encode("Once upon a time", true);
  auto want = Generate(model->get(), **tok, prompt, go, nullptr, nullptr);
  ASSERT_TRUE(want.ok()) << want.status().ToString();

  Generator gen(model->get(), **tok, go);
  ASSERT_TRUE(gen.Start(prompt).ok());
  std::vector<int32_t> got;
  int32_t token = 0;
  std::string piece;
  std::vector<float> logits;
  const std::vector<int32_t> other = (*tok)->Encode("The cat sat on the mat", true);
  for (size_t i = 0;; ++i) {
    if (i % 7 == 3) {  // something else runs the model; the generator replays
      ASSERT_TRUE((*model)->Forward(other.data(), other.size(), 0, false, &logits).ok());
      ASSERT_TRUE(gen.Replay().ok());
    }
    Result<bool> more = gen.Next(&token, &piece);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    got.push_back(token);
  }
  EXPECT_EQ(got, *want);
  EXPECT_TRUE(gen.Replay().ok());  // ended: nothing to do
}

TEST(Stories260K, GeneratorRefusesEmptyAndOverlongPrompts) {
  const std::string path = PackedStories("gguf", "raw", "raw");
  ASSERT_FALSE(path.empty());
  ModelOptions mo;
  mo.ctx_size = 8;
  auto model = Model::Open(path, mo);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tok = Tokenizer::Create((*model)->info().tokenizer);
  ASSERT_TRUE(tok.ok());
  Generator empty(model->get(), **tok, GenerateOptions());
  EXPECT_TRUE(empty.Start({}).IsInvalidArgument());
  Generator overlong(model->get(), **tok, GenerateOptions());
  EXPECT_TRUE(overlong.Start(std::vector<int32_t>(9, 1)).IsInvalidArgument());
  int32_t token = 0;
  std::string piece;
  Result<bool> more = overlong.Next(&token, &piece);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
}

// Per-token logits of an int8 model against fp32, teacher-forced on the
// fp32 greedy sequence (prompt + 60 tokens).
struct LogitDiff {
  double max_abs = 0, max_kl = 0, mean_kl = 0;
  double span = 0;   // mean over tokens of max - min fp32 logit
  size_t agree = 0;  // leading greedy tokens equal to fp32's
};

std::vector<double> LogSoftmax(const float* x, size_t n) {
  double mx = x[0];
  for (size_t i = 1; i < n; ++i) mx = std::max<double>(mx, x[i]);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = x[i] - mx - std::log(sum);
  return out;
}

LogitDiff CompareToFp32(const std::string& quant) {
  const std::string fp = PackedStories("gguf", "raw", "raw");
  const std::string qp = PackedStories("gguf", quant, "raw");
  LogitDiff d;
  if (fp.empty() || qp.empty()) {
    ADD_FAILURE() << "packing failed";
    return d;
  }
  auto fm = Model::Open(fp, ModelOptions());
  auto qm = Model::Open(qp, ModelOptions());
  EXPECT_TRUE(fm.ok() && qm.ok());
  if (!fm.ok() || !qm.ok()) return d;
  auto tok = Tokenizer::Create((*fm)->info().tokenizer);
  std::vector<int32_t> seq = (*tok)->Encode("Once upon a time", true);
  const size_t prompt = seq.size();
  std::vector<float> logits;
  for (int i = 0; i < 60; ++i) {  // fp32 greedy continuation
    EXPECT_TRUE((*fm)->Forward(seq.data(), seq.size(), 0, false, &logits).ok());
    seq.push_back(ArgMax(logits));
  }
  std::vector<float> fl, ql;
  EXPECT_TRUE((*fm)->Forward(seq.data(), seq.size(), 0, true, &fl).ok());
  EXPECT_TRUE((*qm)->Forward(seq.data(), seq.size(), 0, true, &ql).ok());
  const size_t vocab = (*fm)->hparams().vocab_size;
  double kl_sum = 0;
  bool agreeing = true;
  for (size_t t = prompt - 1; t + 1 < seq.size(); ++t) {
    const float* f = &fl[t * vocab];
    const float* q = &ql[t * vocab];
    float lo = f[0], hi = f[0];
    for (size_t i = 0; i < vocab; ++i) {
      d.max_abs = std::max<double>(d.max_abs, std::fabs(f[i] - q[i]));
      lo = std::min(lo, f[i]);
      hi = std::max(hi, f[i]);
    }
    d.span += hi - lo;
    std::vector<double> lf = LogSoftmax(f, vocab), lq = LogSoftmax(q, vocab);
    double kl = 0;
    for (size_t i = 0; i < vocab; ++i) kl += std::exp(lf[i]) * (lf[i] - lq[i]);
    d.max_kl = std::max(d.max_kl, kl);
    kl_sum += kl;
    std::vector<float> qrow(q, q + vocab);
    if (agreeing && ArgMax(qrow) == seq[t + 1]) {
      d.agree++;
    } else {
      agreeing = false;
    }
  }
  d.mean_kl = kl_sum / static_cast<double>(seq.size() - prompt);
  d.span /= static_cast<double>(seq.size() - prompt);
  std::printf(
      "%s vs fp32 over %zu tokens: max |dlogit| %.4f, KL max %.5f mean %.5f nats, "
      "greedy agrees for the first %zu tokens (fp32 logit span %.1f)\n",
      quant.c_str(), seq.size() - prompt, d.max_abs, d.max_kl, d.mean_kl, d.agree, d.span);
  return d;
}

// Bounds, about 2x the measured values (printed by the tests; measured
// with int8 activations on this model: channel max |dlogit| 0.54, KL max
// 0.0065 nats, greedy equal for 57 tokens; block32 0.37 / 0.0045 / 60+;
// tensor-minmax 1.06 / 0.014 / 60+). Logit differences are absolute, on
// logits spanning about 30 units.
TEST(Stories260K, ChannelLogitsCloseToFp32) {
  LogitDiff d = CompareToFp32("channel");
  EXPECT_LT(d.max_abs, 1.0);
  EXPECT_LT(d.max_kl, 0.015);
  EXPECT_LT(d.mean_kl, 0.002);
  EXPECT_GE(d.agree, 50u);
}

TEST(Stories260K, Block32LogitsCloseToFp32) {
  LogitDiff d = CompareToFp32("block32");
  EXPECT_LT(d.max_abs, 1.0);
  EXPECT_LT(d.max_kl, 0.01);
  EXPECT_LT(d.mean_kl, 0.002);
  EXPECT_GE(d.agree, 50u);
}

TEST(Stories260K, TensorMinMaxLogitsCloseToFp32) {
  LogitDiff d = CompareToFp32("tensor-minmax");
  EXPECT_LT(d.max_abs, 2.0);
  EXPECT_LT(d.max_kl, 0.03);
  EXPECT_LT(d.mean_kl, 0.005);
  EXPECT_GE(d.agree, 40u);
}

}  // namespace
}  // namespace tqf::rt
