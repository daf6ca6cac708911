// Layer provider and determinism tests on stories260K: the logits are bit
// for bit the same whatever --mem-budget (none, 0, 2 or 3 layers),
// --threads (1, 2), prefetch and prefill batching are; the provider keeps
// within its budget and decodes as often as its mode says; a corrupt
// layer stream is reported, not run.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "runtime_test_util.h"
#include "test_util.h"
#include "tqf/rt/model.h"
#include "tqf/rt/sampler.h"

namespace tqf::rt {
namespace {

const int32_t kPrompt[] = {1, 403, 407, 261, 378};  // BOS "Once upon a time"
constexpr size_t kPromptLen = sizeof(kPrompt) / sizeof(kPrompt[0]);

struct Trace {
  std::vector<float> logits;  // prefill (all tokens), then each generated step
  std::vector<int32_t> tokens;
  LayerProviderStats stats;
  size_t layer_bytes = 0;
  size_t n_layers = 0;
};

// Prefill + `steps` greedy steps, recording every logit.
Trace RunTrace(const std::string& path, int64_t budget, int threads, bool prefetch = true,
               size_t max_batch = 256, int steps = 24) {
  Trace tr;
  ModelOptions mo;
  mo.mem_budget = budget;
  mo.threads = threads;
  mo.prefetch = prefetch;
  mo.max_batch = max_batch;
  mo.ctx_size = 64;
  auto model = Model::Open(path, mo);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return tr;
  std::vector<float> logits;
  Status s = (*model)->Forward(kPrompt, kPromptLen, 0, true, &logits);
  EXPECT_TRUE(s.ok()) << s.ToString();
  tr.logits = logits;
  const size_t vocab = (*model)->hparams().vocab_size;
  std::vector<float> last(logits.end() - vocab, logits.end());
  size_t pos = kPromptLen;
  for (int i = 0; i < steps && s.ok(); ++i) {
    const int32_t next = ArgMax(last);
    tr.tokens.push_back(next);
    s = (*model)->Forward(&next, 1, pos++, false, &last);
    EXPECT_TRUE(s.ok()) << s.ToString();
    tr.logits.insert(tr.logits.end(), last.begin(), last.end());
  }
  tr.stats = (*model)->provider_stats();
  tr.layer_bytes = (*model)->layer_bytes();
  tr.n_layers = (*model)->hparams().n_layers;
  return tr;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void CheckIdenticalAcrossBudgetsAndThreads(const std::string& quant, const std::string& codec) {
  const std::string path = PackedStories("gguf", quant, codec);
  ASSERT_FALSE(path.empty());
  const Trace base = RunTrace(path, -1, 1);
  ASSERT_FALSE(base.logits.empty());
  const int64_t layer = static_cast<int64_t>(base.layer_bytes);
  struct Config {
    int64_t budget;
    int threads;
    bool prefetch;
    size_t max_batch;
  };
  const Config configs[] = {{-1, 2, true, 256},        {0, 1, true, 256},
                            {0, 2, true, 256},         {2 * layer, 1, true, 256},
                            {2 * layer, 2, true, 256}, {3 * layer, 2, true, 256},
                            {-1, 2, false, 256},       {2 * layer, 2, true, 2}};
  for (const Config& c : configs) {
    const Trace t = RunTrace(path, c.budget, c.threads, c.prefetch, c.max_batch);
    EXPECT_TRUE(SameBits(base.logits, t.logits))
        << quant << "/" << codec << ": budget " << c.budget << " threads " << c.threads
        << " prefetch " << c.prefetch << " max_batch " << c.max_batch;
    EXPECT_EQ(base.tokens, t.tokens);
  }
}

TEST(Determinism, RawIdenticalAcrossBudgetsAndThreads) {
  CheckIdenticalAcrossBudgetsAndThreads("raw", "raw");
}

TEST(Determinism, ChannelIdenticalAcrossBudgetsAndThreads) {
  CheckIdenticalAcrossBudgetsAndThreads("channel", "raw");
}

TEST(Determinism, Block32Dict4IdenticalAcrossBudgetsAndThreads) {
  CheckIdenticalAcrossBudgetsAndThreads("block32", "dict4");
}

TEST(Determinism, PrefillEqualsTokenByToken) {
  const std::string path = PackedStories("gguf", "channel", "raw");
  ASSERT_FALSE(path.empty());
  auto model = Model::Open(path, ModelOptions());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<float> all, one, seq;
  ASSERT_TRUE((*model)->Forward(kPrompt, kPromptLen, 0, true, &all).ok());
  for (size_t i = 0; i < kPromptLen; ++i) {
    ASSERT_TRUE((*model)->Forward(&kPrompt[i], 1, i, false, &one).ok());
    seq.insert(seq.end(), one.begin(), one.end());
  }
  EXPECT_TRUE(SameBits(all, seq));
}

TEST(LayerProvider, NoBudgetDecodesEachLayerOnce) {
  const Trace t = RunTrace(PackedStories("gguf", "channel", "raw"), -1, 2);
  EXPECT_EQ(t.stats.decodes, t.n_layers);
  EXPECT_EQ(t.stats.acquires, t.n_layers * 25);  // 1 prefill pass + 24 steps
  EXPECT_EQ(t.stats.misses + t.stats.prefetch_hits, t.n_layers);
  EXPECT_EQ(t.stats.evictions, 0u);
  EXPECT_EQ(t.stats.peak_held_bytes, t.n_layers * t.layer_bytes);
}

TEST(LayerProvider, BudgetZeroDecodesEveryUseOneLayerAtATime) {
  const Trace t = RunTrace(PackedStories("gguf", "channel", "raw"), 0, 2);
  EXPECT_EQ(t.stats.acquires, t.n_layers * 25);
  EXPECT_EQ(t.stats.decodes, t.stats.acquires);  // prefill: once per layer, not per token
  EXPECT_EQ(t.stats.misses, t.stats.acquires);
  EXPECT_EQ(t.stats.prefetches, 0u);
  EXPECT_LE(t.stats.peak_held_bytes, t.layer_bytes);
}

TEST(LayerProvider, BudgetOfTwoLayersPrefetchesWithinBudget) {
  const std::string path = PackedStories("gguf", "channel", "raw");
  const Trace probe = RunTrace(path, 0, 1, true, 256, 0);
  const Trace t = RunTrace(path, 2 * static_cast<int64_t>(probe.layer_bytes), 2);
  // 5 layers never fit in 2: every acquire is a decode (plus, at most, the
  // prefetch of layer 0 for a next token that never came).
  EXPECT_GE(t.stats.decodes, t.stats.acquires);
  EXPECT_LE(t.stats.decodes, t.stats.acquires + 1);
  EXPECT_GT(t.stats.prefetch_hits, t.stats.acquires / 2);
  EXPECT_LE(t.stats.peak_held_bytes, 2 * t.layer_bytes);
  const Trace t3 = RunTrace(path, 3 * static_cast<int64_t>(probe.layer_bytes), 2);
  EXPECT_LE(t3.stats.peak_held_bytes, 3 * t3.layer_bytes);
}

TEST(LayerProvider, PartialBudgetKeepsTheLayersNeededSoonest) {
  // 4 of 5 layers fit, no prefetch: evicting the layer used farthest in the
  // future leaves 3 of every 5 acquires as cache hits in steady state
  // (least-recently-used would evict exactly the next layer: 0 hits).
  const std::string path = PackedStories("gguf", "channel", "raw");
  const Trace probe = RunTrace(path, 0, 1, false, 256, 0);
  const Trace t = RunTrace(path, 4 * static_cast<int64_t>(probe.layer_bytes), 1, false);
  EXPECT_EQ(t.stats.acquires, t.n_layers * 25);
  EXPECT_GE(t.stats.hits, t.stats.acquires / 2);
  EXPECT_EQ(t.stats.hits + t.stats.misses, t.stats.acquires);
  EXPECT_LE(t.stats.peak_held_bytes, 4 * t.layer_bytes);
  // And the logits are those of the unbudgeted run.
  const Trace ref = RunTrace(path, -1, 1, false);
  EXPECT_TRUE(SameBits(t.logits, ref.logits));
}

TEST(LayerProvider, BudgetHoldingTheModelDecodesOnce) {
  const std::string path = PackedStories("gguf", "channel", "raw");
  const Trace probe = RunTrace(path, 0, 1, true, 256, 0);
  const Trace t = RunTrace(path, static_cast<int64_t>(probe.n_layers * probe.layer_bytes), 2);
  EXPECT_EQ(t.stats.decodes, t.n_layers);
  EXPECT_EQ(t.stats.evictions, 0u);
}

// A flipped byte inside a layer's stream: the model opens (Open does cheap
// checks) but Forward reports the checksum failure, with or without
// budget and prefetch.
TEST(LayerProvider, CorruptLayerIsReportedNotRun) {
  const std::string path = PackedStories("gguf", "channel", "raw");
  ASSERT_FALSE(path.empty());
  auto reader = Reader::Open(path);
  ASSERT_TRUE(reader.ok());
  auto idx = (*reader)->FindTensor("blk.2.ffn_up.weight");
  ASSERT_TRUE(idx.ok());
  const uint64_t off = (*reader)->tensors()[*idx].data_offset + 100;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_LT(off, bytes.size());
  bytes[off] ^= 0x5a;
  const std::string bad = tqf::testing::TempDir() + "/corrupt.tqf";
  std::ofstream(bad, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  for (int64_t budget : {int64_t{-1}, int64_t{0}}) {
    for (bool prefetch : {true, false}) {
      ModelOptions mo;
      mo.mem_budget = budget;
      mo.prefetch = prefetch;
      auto model = Model::Open(bad, mo);
      ASSERT_TRUE(model.ok()) << model.status().ToString();
      std::vector<float> logits;
      Status s = (*model)->Forward(kPrompt, kPromptLen, 0, false, &logits);
      EXPECT_FALSE(s.ok());
      EXPECT_NE(s.message().find("blk.2.ffn_up.weight"), std::string::npos) << s.ToString();
    }
  }
}

TEST(Model, ForwardRejectsBadTokensAndPositions) {
  ModelOptions mo;
  mo.ctx_size = 8;
  auto model = Model::Open(PackedStories("gguf", "raw", "raw"), mo);
  ASSERT_TRUE(model.ok());
  std::vector<float> logits;
  const int32_t bad[] = {1, 512};
  EXPECT_TRUE((*model)->Forward(bad, 2, 0, false, &logits).IsInvalidArgument());
  const int32_t neg[] = {-1};
  EXPECT_TRUE((*model)->Forward(neg, 1, 0, false, &logits).IsInvalidArgument());
  EXPECT_TRUE((*model)->Forward(kPrompt, kPromptLen, 4, false, &logits).IsInvalidArgument());
  EXPECT_TRUE((*model)->Forward(kPrompt, 0, 0, false, &logits).IsInvalidArgument());
  EXPECT_TRUE((*model)->Forward(kPrompt, kPromptLen, 3, false, &logits).ok());  // 3..7 fits
}

}  // namespace
}  // namespace tqf::rt
