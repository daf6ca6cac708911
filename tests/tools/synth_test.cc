// GgufWriter round trips through the GGUF importer, `tqf synth tiny`
// imported back with the right shapes and metadata, and the `tqf tokenize`
// command on the shared tokenizers.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"
#include "tqf/gguf_writer.h"
#include "tqf/import.h"
#include "tqf/internal/half.h"
#include "tqf/quantize.h"

namespace tqf {
namespace {

bool Exists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f) std::fclose(f);
  return f != nullptr;
}

const SourceTensor* Find(const SourceModel& m, const std::string& name) {
  for (const SourceTensor& t : m.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string Meta(const SourceModel& m, const std::string& key) {
  for (const auto& [k, v] : m.info.metadata) {
    if (k == key) return v;
  }
  return "";
}

// Runs a shell command, returning its exit code and standard output.
int RunCommand(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(GgufWriter, RoundTripsThroughImporter) {
  const std::string path = testing::TempDir() + "/w.gguf";
  auto w = GgufWriter::Create(path, 64);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->SetString("general.architecture", "llama").ok());
  ASSERT_TRUE((*w)->SetString("general.name", "writer test").ok());
  ASSERT_TRUE((*w)->SetU32("llama.block_count", 0).ok());
  ASSERT_TRUE((*w)->SetF32Array("test.floats", {1.5f, -2.0f}).ok());
  EXPECT_TRUE((*w)->SetU32("llama.block_count", 1).IsInvalidArgument());  // repeated key
  ASSERT_TRUE((*w)->AddTensor("a", {3, 5}, DType::kF32).ok());
  ASSERT_TRUE((*w)->AddTensor("b", {7}, DType::kF16).ok());
  EXPECT_TRUE((*w)->AddTensor("a", {1}, DType::kF32).IsInvalidArgument());  // repeated name
  EXPECT_TRUE((*w)->AddTensor("q", {2, 31}, DType::kQ8_0).IsInvalidArgument());
  EXPECT_TRUE((*w)->AddTensor("z", {2, 0}, DType::kF32).IsInvalidArgument());
  EXPECT_TRUE((*w)->AddTensor("i", {4}, DType::kI8).IsInvalidArgument());
  std::vector<float> a(15);
  for (int i = 0; i < 15; ++i) a[i] = i * 0.25f - 1.0f;
  std::vector<uint16_t> b(7);
  for (int i = 0; i < 7; ++i) b[i] = F32ToF16(i * 3.0f);
  // Chunks that straddle the boundary between the two tensors.
  ASSERT_TRUE((*w)->WriteData(a.data(), 40).ok());
  std::vector<uint8_t> rest(20 + 14);
  std::memcpy(rest.data(), reinterpret_cast<uint8_t*>(a.data()) + 40, 20);
  std::memcpy(rest.data() + 20, b.data(), 14);
  ASSERT_TRUE((*w)->WriteData(rest.data(), rest.size()).ok());
  EXPECT_TRUE((*w)->AddTensor("late", {1}, DType::kF32).IsInvalidArgument());
  EXPECT_TRUE((*w)->SetU32("late.key", 1).IsInvalidArgument());
  EXPECT_TRUE((*w)->WriteData(a.data(), 4).IsInvalidArgument());  // past the last tensor
  ASSERT_TRUE((*w)->Finish().ok());

  auto m = ImportModel(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const SourceTensor* ta = Find(*m, "a");
  const SourceTensor* tb = Find(*m, "b");
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(ta->shape, (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(ta->dtype, DType::kF32);
  ASSERT_EQ(ta->size, 60u);
  EXPECT_EQ(std::memcmp(ta->data, a.data(), 60), 0);
  EXPECT_EQ(tb->shape, (std::vector<uint64_t>{7}));
  EXPECT_EQ(tb->dtype, DType::kF16);
  std::vector<float> got(7);
  ASSERT_TRUE(tb->ToF32(got.data()).ok());
  for (int i = 0; i < 7; ++i) EXPECT_EQ(got[i], i * 3.0f);
  EXPECT_EQ(Meta(*m, "general.name"), "writer test");
}

TEST(GgufWriter, UnfinishedWriteLeavesNoFile) {
  const std::string path = testing::TempDir() + "/unfinished.gguf";
  {
    auto w = GgufWriter::Create(path);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->AddTensor("a", {4}, DType::kF32).ok());
    float x[2] = {1, 2};
    ASSERT_TRUE((*w)->WriteData(x, sizeof(x)).ok());
    EXPECT_TRUE((*w)->Finish().IsInvalidArgument());  // a got 8 of its 16 bytes
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(GgufWriter::Create(path, 48).status().IsInvalidArgument());
}

#ifdef TQF_CLI_PATH
TEST(SynthCommand, TinyShapeImports) {
  const std::string path = testing::TempDir() + "/tiny.gguf";
  std::string out;
  ASSERT_EQ(RunCommand(std::string(TQF_CLI_PATH) + " synth tiny -o " + path + " --seed 7", &out), 0)
      << out;
  auto m = ImportModel(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const Hyperparameters& h = m->info.hparams;
  EXPECT_EQ(h.architecture, "llama");
  EXPECT_EQ(h.n_layers, 2u);
  EXPECT_EQ(h.dim, 64u);
  EXPECT_EQ(h.hidden_dim, 192u);
  EXPECT_EQ(h.n_heads, 4u);
  EXPECT_EQ(h.n_kv_heads, 2u);
  EXPECT_EQ(h.vocab_size, 512u);
  EXPECT_EQ(h.context_length, 256u);
  EXPECT_FALSE(h.tied_embeddings);
  EXPECT_EQ(Meta(*m, "general.name"), "synthetic tiny shape (random weights, gibberish output)");
  EXPECT_EQ(m->tensors.size(), 2u * 9 + 3);
  const std::pair<const char*, std::vector<uint64_t>> shapes[] = {
      {"token_embd.weight", {512, 64}},     {"output.weight", {512, 64}},
      {"output_norm.weight", {64}},         {"blk.1.attn_q.weight", {64, 64}},
      {"blk.1.attn_k.weight", {32, 64}},    {"blk.1.attn_v.weight", {32, 64}},
      {"blk.0.ffn_gate.weight", {192, 64}}, {"blk.0.ffn_down.weight", {64, 192}},
  };
  for (const auto& [name, shape] : shapes) {
    const SourceTensor* t = Find(*m, name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->shape, shape) << name;
  }
  // Weights: F16, heavy-tailed around 0 with std ~ 1/sqrt(64); norms ~ 1.
  const SourceTensor* q = Find(*m, "blk.0.attn_q.weight");
  EXPECT_EQ(q->dtype, DType::kF16);
  std::vector<float> v(q->num_elements());
  ASSERT_TRUE(q->ToF32(v.data()).ok());
  double sum = 0, sq = 0;
  for (float x : v) sum += x, sq += double(x) * x;
  const double mean = sum / v.size(), sd = std::sqrt(sq / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(sd, 0.125, 0.02);
  const SourceTensor* norm = Find(*m, "blk.0.attn_norm.weight");
  EXPECT_EQ(norm->dtype, DType::kF32);
  std::vector<float> nv(64);
  ASSERT_TRUE(norm->ToF32(nv.data()).ok());
  for (float x : nv) EXPECT_NEAR(x, 1.0f, 0.5f);
  // The tokenizer: byte-level BPE with BOS/EOS in the last two ids.
  const TokenizerData& tok = m->info.tokenizer;
  EXPECT_EQ(tok.kind, TokenizerKind::kByteLevelBpe);
  EXPECT_EQ(tok.tokens.size(), 512u);
  EXPECT_EQ(tok.bos_id, 510);
  EXPECT_EQ(tok.eos_id, 511);
  // Same seed, same bytes.
  const std::string again = testing::TempDir() + "/tiny2.gguf";
  ASSERT_EQ(
      RunCommand(std::string(TQF_CLI_PATH) + " synth tiny -o " + again + " --seed 7 --threads 1",
                 &out),
      0);
  EXPECT_EQ(RunCommand("cmp -s " + path + " " + again, &out), 0);
}

TEST(SynthCommand, RejectsBadArguments) {
  std::string out;
  EXPECT_EQ(RunCommand(std::string(TQF_CLI_PATH) + " synth nosuchshape -o /tmp/x.gguf 2>&1", &out),
            2);
  EXPECT_EQ(RunCommand(std::string(TQF_CLI_PATH) + " synth tiny 2>&1", &out), 2);
}

#endif  // TQF_CLI_PATH

}  // namespace
}  // namespace tqf
