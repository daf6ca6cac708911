// Importer tests on the shared models: stories260K as GGUF and as llama2.c
// (same hyperparameters, bit-identical tensors, same tokenizer), the GPT-2
// attention safetensors, the Llama 3 tokenizer.json, and a hand-made
// Hugging Face llama directory (q/k permutation). Corrupt files: see
// import_bad_files_test.cc.
#include "tqf/import.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "import_test_util.h"
#include "test_util.h"
#include "tqf/quantize.h"

namespace tqf {
namespace {

using testing::SharedPath;

const SourceTensor* FindTensor(const SourceModel& m, const std::string& name) {
  for (const SourceTensor& t : m.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<SourceModel> MustImport(const std::string& rel) {
  Result<SourceModel> m = ImportModel(SharedPath(rel));
  EXPECT_TRUE(m.ok()) << rel << ": " << m.status().ToString();
  return m;
}

void ExpectStoriesHparams(const Hyperparameters& hp) {
  EXPECT_EQ(hp.architecture, "llama");
  EXPECT_EQ(hp.dim, 64u);
  EXPECT_EQ(hp.hidden_dim, 172u);
  EXPECT_EQ(hp.n_layers, 5u);
  EXPECT_EQ(hp.n_heads, 8u);
  EXPECT_EQ(hp.n_kv_heads, 4u);
  EXPECT_EQ(hp.head_dim, 8u);
  EXPECT_EQ(hp.vocab_size, 512u);
  EXPECT_NEAR(hp.norm_eps, 1e-5f, 1e-9f);
  EXPECT_EQ(hp.rope_theta, 10000.0f);
  EXPECT_EQ(hp.rope_scaling_factor, 0.0f);
}

TEST(ImportStories, GgufAndLlama2cAgree) {
  Result<SourceModel> g = MustImport("models/stories260K/stories260K.gguf");
  Result<SourceModel> c = MustImport("models/stories260K/stories260K.bin");
  ASSERT_TRUE(g.ok() && c.ok());
  EXPECT_EQ(g->format, "gguf");
  EXPECT_EQ(c->format, "llama2c");
  ExpectStoriesHparams(g->info.hparams);
  ExpectStoriesHparams(c->info.hparams);
  EXPECT_EQ(g->info.hparams.context_length, 2048u);  // the GGUF says 2048 (README)
  EXPECT_EQ(c->info.hparams.context_length, 512u);
  EXPECT_TRUE(c->info.hparams.tied_embeddings);
  EXPECT_FALSE(g->info.hparams.tied_embeddings);  // output.weight is stored
  EXPECT_EQ(g->tensors.size(), 48u);
  EXPECT_EQ(c->tensors.size(), 47u);  // no output.weight: tied

  size_t shared = 0;
  for (const SourceTensor& ct : c->tensors) {
    SCOPED_TRACE(ct.name);
    const SourceTensor* gt = FindTensor(*g, ct.name);
    ASSERT_NE(gt, nullptr);
    EXPECT_EQ(gt->shape, ct.shape);
    ASSERT_EQ(gt->dtype, DType::kF32);
    ASSERT_EQ(gt->size, ct.size);
    // Bit-identical, Q and K included: both files keep rotary pairs adjacent.
    EXPECT_EQ(std::memcmp(gt->data, ct.data, ct.size), 0);
    ++shared;
  }
  EXPECT_EQ(shared, 47u);
  const SourceTensor* out = FindTensor(*g, "output.weight");
  const SourceTensor* emb = FindTensor(*g, "token_embd.weight");
  ASSERT_TRUE(out && emb);
  EXPECT_EQ(out->shape, (std::vector<uint64_t>{512, 64}));
  EXPECT_EQ(std::memcmp(out->data, emb->data, emb->size), 0);  // tied in truth
  const SourceTensor* k = FindTensor(*c, "blk.3.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<uint64_t>{32, 64}));
  EXPECT_EQ(FindTensor(*c, "blk.2.ffn_down.weight")->shape, (std::vector<uint64_t>{64, 172}));
  EXPECT_EQ(FindTensor(*c, "blk.2.ffn_gate.weight")->shape, (std::vector<uint64_t>{172, 64}));
  EXPECT_EQ(c->tensors.front().name, "token_embd.weight");
  EXPECT_EQ(c->tensors[1].name, "blk.0.attn_norm.weight");
}

// llama2.c writes SentencePiece's U+2581 as a space and BOS/EOS as
// "\n<s>\n" / "\n</s>\n"; GGUF keeps SentencePiece's spelling.
std::string NormalizeLlama2cToken(std::string s) {
  if (s == "\n<s>\n") return "<s>";
  if (s == "\n</s>\n") return "</s>";
  std::string out;
  for (char ch : s) {
    if (ch == ' ')
      out += "\xE2\x96\x81";
    else
      out += ch;
  }
  return out;
}

TEST(ImportStories, TokenizersAgree) {
  Result<SourceModel> g = MustImport("models/stories260K/stories260K.gguf");
  Result<SourceModel> c = MustImport("models/stories260K/stories260K.bin");
  ASSERT_TRUE(g.ok() && c.ok());
  const TokenizerData& gt = g->info.tokenizer;
  const TokenizerData& ct = c->info.tokenizer;
  EXPECT_EQ(gt.kind, TokenizerKind::kSentencePieceBpe);
  EXPECT_EQ(ct.kind, TokenizerKind::kSentencePieceBpe);
  ASSERT_EQ(gt.tokens.size(), 512u);
  ASSERT_EQ(ct.tokens.size(), 512u);
  ASSERT_EQ(gt.scores.size(), 512u);
  ASSERT_EQ(ct.scores.size(), 512u);
  EXPECT_EQ(gt.token_types.size(), 512u);
  for (size_t i = 0; i < 512; ++i) {
    EXPECT_EQ(gt.tokens[i], NormalizeLlama2cToken(ct.tokens[i])) << i;
    EXPECT_EQ(gt.scores[i], ct.scores[i]) << i;
  }
  EXPECT_EQ(gt.bos_id, 1);
  EXPECT_EQ(ct.bos_id, 1);
  EXPECT_EQ(gt.eos_id, 2);
  EXPECT_EQ(ct.eos_id, 2);
  EXPECT_EQ(gt.unk_id, 0);
  EXPECT_EQ(gt.pad_id, -1);  // 0xFFFFFFFF in the file
  EXPECT_TRUE(gt.add_bos);
  EXPECT_TRUE(ct.add_bos);
}

TEST(ImportStories, GgufMetadataAndAccessors) {
  Result<SourceModel> g = MustImport("models/stories260K/stories260K.gguf");
  ASSERT_TRUE(g.ok());
  bool has_name = false;
  for (const auto& kv : g->info.metadata) has_name |= kv.first == "general.name";
  EXPECT_TRUE(has_name);
  const SourceTensor* q = FindTensor(*g, "blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->rows(), 64u);
  EXPECT_EQ(q->cols(), 64u);
  std::vector<float> v(q->num_elements());
  ASSERT_TRUE(q->ToF32(v.data()).ok());
  EXPECT_EQ(std::memcmp(v.data(), q->data, q->size), 0);
  const SourceTensor* n = FindTensor(*g, "output_norm.weight");
  EXPECT_EQ(n->rows(), 1u);
  EXPECT_EQ(n->cols(), 64u);
}

TEST(ImportStories, Llama2cTokenizerOptions) {
  ImportOptions opt;
  opt.tokenizer_path = SharedPath("models/stories260K/tok512.bin");
  Result<SourceModel> c = ImportLlama2c(SharedPath("models/stories260K/stories260K.bin"), opt);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->info.tokenizer.tokens.size(), 512u);
  opt.tokenizer_path = "/nonexistent/tokenizer.bin";
  EXPECT_TRUE(
      ImportLlama2c(SharedPath("models/stories260K/stories260K.bin"), opt).status().IsNotFound());
  // The Llama 2 vocabulary is larger than this model's: only 512 are read.
  opt.tokenizer_path = SharedPath("models/llama2-tokenizer/tokenizer.bin");
  c = ImportLlama2c(SharedPath("models/stories260K/stories260K.bin"), opt);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->info.tokenizer.tokens.size(), 512u);
}

TEST(ImportTokenizerFiles, Llama2Bin) {
  Result<TokenizerData> t = ImportTokenizer(SharedPath("models/llama2-tokenizer/tokenizer.bin"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, TokenizerKind::kSentencePieceBpe);
  EXPECT_EQ(t->tokens.size(), 32000u);
  EXPECT_EQ(t->scores.size(), 32000u);
  EXPECT_EQ(t->bos_id, 1);
}

TEST(ImportTokenizerFiles, Llama3Json) {
  Result<TokenizerData> t = ImportTokenizer(SharedPath("models/llama3-tokenizer/tokenizer.json"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, TokenizerKind::kByteLevelBpe);
  ASSERT_EQ(t->tokens.size(), 128256u);
  EXPECT_EQ(t->merges.size(), 280147u);
  EXPECT_EQ(t->merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"
  EXPECT_EQ(t->bos_id, 128000);
  EXPECT_EQ(t->tokens[128000], "<|begin_of_text|>");
  EXPECT_EQ(t->eos_id, 128001);
  EXPECT_EQ(t->tokens[9906], "Hello");
  EXPECT_EQ(t->tokens[1917], "\xC4\xA0world");
  EXPECT_TRUE(t->add_bos);
  EXPECT_EQ(t->token_types.size(), 128256u);
  EXPECT_EQ(t->token_types[128000], 3);  // control
  EXPECT_EQ(t->token_types[9906], 1);
  EXPECT_NE(t->pre_split_regex.find("\\p{L}"), std::string::npos);
  EXPECT_TRUE(t->scores.empty());
}

TEST(ImportSafetensors, Gpt2Attention) {
  Result<SourceModel> m = MustImport("models/gpt2-attention/gpt2-small-attention.safetensors");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->format, "safetensors");
  EXPECT_EQ(m->info.hparams.architecture, "unknown");
  ASSERT_EQ(m->tensors.size(), 49u);
  size_t square = 0;
  for (int l = 0; l < 12; ++l) {
    for (const char* part : {"query", "key", "value", "proj"}) {
      const std::string name = "h." + std::to_string(l) + ".attn." + part + ".weight";
      const SourceTensor* t = FindTensor(*m, name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(t->shape, (std::vector<uint64_t>{768, 768}));
      EXPECT_EQ(t->dtype, DType::kF32);
      EXPECT_EQ(t->size, 768u * 768u * 4u);
      ++square;
    }
  }
  EXPECT_EQ(square, 48u);
  const SourceTensor* wpe = FindTensor(*m, "wpe.weight");
  ASSERT_NE(wpe, nullptr);
  EXPECT_EQ(wpe->shape, (std::vector<uint64_t>{1024, 768}));
  bool has_license = false;
  for (const auto& kv : m->info.metadata) has_license |= kv.first == "license";
  EXPECT_TRUE(has_license);
}

// A tiny Hugging Face llama: hidden 8, 2 heads (head_dim 4), 1 KV head.
TEST(ImportSafetensors, HuggingFaceLlamaPermutesQK) {
  const std::string dir = testing::TempDir();
  testing_util::SafetensorsBuilder st;
  auto ramp = [](size_t n, float base) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i);
    return v;
  };
  // Row r of q/k holds values r*100 + col, so rows are recognisable.
  auto rows_tagged = [](size_t rows, size_t cols) {
    std::vector<float> v(rows * cols);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) v[r * cols + c] = static_cast<float>(r * 100 + c);
    return v;
  };
  st.AddF32("model.embed_tokens.weight", {6, 8}, ramp(48, 0));
  st.AddF32("model.layers.0.input_layernorm.weight", {8}, ramp(8, 1));
  st.AddF32("model.layers.0.self_attn.q_proj.weight", {8, 8}, rows_tagged(8, 8));
  st.AddF32("model.layers.0.self_attn.k_proj.weight", {4, 8}, rows_tagged(4, 8));
  st.AddF32("model.layers.0.self_attn.v_proj.weight", {4, 8}, rows_tagged(4, 8));
  st.AddF32("model.layers.0.self_attn.o_proj.weight", {8, 8}, ramp(64, 3));
  st.AddF32("model.layers.0.self_attn.rotary_emb.inv_freq", {2}, ramp(2, 0));
  st.AddF32("model.layers.0.post_attention_layernorm.weight", {8}, ramp(8, 2));
  st.AddF16("model.layers.0.mlp.gate_proj.weight", {12, 8}, ramp(96, 0));
  st.AddF32("model.layers.0.mlp.up_proj.weight", {12, 8}, ramp(96, 1));
  st.AddF32("model.layers.0.mlp.down_proj.weight", {8, 12}, ramp(96, 2));
  st.AddF32("model.norm.weight", {8}, ramp(8, 5));
  ASSERT_TRUE(st.Write(dir + "/model.safetensors"));
  ASSERT_TRUE(testing_util::WriteFile(dir + "/config.json", R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 6,
    "max_position_embeddings": 128, "rms_norm_eps": 1e-06, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "tie_word_embeddings": true})"));
  ASSERT_TRUE(testing_util::WriteFile(dir + "/tokenizer.json", R"({
    "version": "1.0",
    "added_tokens": [{"id": 5, "content": "<|begin_of_text|>", "special": true}],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
       {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+"}, "behavior": "Isolated"},
       {"type": "ByteLevel", "use_regex": false}]},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4},
              "merges": [["a", "b"], "\u0120 ab"]}})"));

  Result<SourceModel> m = ImportModel(dir + "/model.safetensors");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const Hyperparameters& hp = m->info.hparams;
  EXPECT_EQ(hp.architecture, "llama");
  EXPECT_EQ(hp.dim, 8u);
  EXPECT_EQ(hp.hidden_dim, 12u);
  EXPECT_EQ(hp.n_layers, 1u);
  EXPECT_EQ(hp.n_heads, 2u);
  EXPECT_EQ(hp.n_kv_heads, 1u);
  EXPECT_EQ(hp.head_dim, 4u);
  EXPECT_EQ(hp.vocab_size, 6u);
  EXPECT_EQ(hp.context_length, 128u);
  EXPECT_FLOAT_EQ(hp.norm_eps, 1e-6f);
  EXPECT_EQ(hp.rope_theta, 500000.0f);
  EXPECT_EQ(hp.rope_scaling_factor, 32.0f);
  EXPECT_EQ(hp.rope_low_freq_factor, 1.0f);
  EXPECT_EQ(hp.rope_high_freq_factor, 4.0f);
  EXPECT_EQ(hp.rope_original_context, 8192u);
  EXPECT_TRUE(hp.tied_embeddings);

  std::vector<std::string> names;
  for (const SourceTensor& t : m->tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
                       "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight",
                       "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
                       "blk.0.ffn_down.weight", "output_norm.weight"}));
  // q: 2 heads of 4 rows; within a head rows (0,1 | 2,3) become (0,2,1,3).
  auto row_of = [](const SourceTensor& t, size_t r) {
    std::vector<float> v(t.num_elements());
    EXPECT_TRUE(t.ToF32(v.data()).ok());
    return static_cast<int>(v[r * t.cols()] / 100);
  };
  const SourceTensor* q = FindTensor(*m, "blk.0.attn_q.weight");
  std::vector<int> q_rows;
  for (size_t r = 0; r < 8; ++r) q_rows.push_back(row_of(*q, r));
  EXPECT_EQ(q_rows, (std::vector<int>{0, 2, 1, 3, 4, 6, 5, 7}));
  const SourceTensor* k = FindTensor(*m, "blk.0.attn_k.weight");
  std::vector<int> k_rows;
  for (size_t r = 0; r < 4; ++r) k_rows.push_back(row_of(*k, r));
  EXPECT_EQ(k_rows, (std::vector<int>{0, 2, 1, 3}));
  const SourceTensor* v = FindTensor(*m, "blk.0.attn_v.weight");  // not permuted
  std::vector<int> v_rows;
  for (size_t r = 0; r < 4; ++r) v_rows.push_back(row_of(*v, r));
  EXPECT_EQ(v_rows, (std::vector<int>{0, 1, 2, 3}));
  const SourceTensor* gate = FindTensor(*m, "blk.0.ffn_gate.weight");
  EXPECT_EQ(gate->dtype, DType::kF16);
  std::vector<float> gv(gate->num_elements());
  ASSERT_TRUE(gate->ToF32(gv.data()).ok());
  EXPECT_EQ(gv[95], 95.0f);

  const TokenizerData& tok = m->info.tokenizer;
  EXPECT_EQ(tok.kind, TokenizerKind::kByteLevelBpe);
  EXPECT_EQ(tok.tokens, (std::vector<std::string>{"a", "b", "ab", "\xC4\xA0",
                                                  "\xC4\xA0"
                                                  "ab",
                                                  "<|begin_of_text|>"}));
  EXPECT_EQ(tok.merges, (std::vector<std::string>{"a b", "\xC4\xA0 ab"}));
  EXPECT_EQ(tok.pre_split_regex, "\\p{L}+|\\s+");
  EXPECT_EQ(tok.bos_id, 5);
  EXPECT_EQ(tok.eos_id, -1);
}

TEST(ImportSafetensors, PermuteRowsMatchesNumpy) {
  // reshape(n_head=1, 2, 3, 1).swapaxes(1, 2) of rows [0..5] -> [0,3,1,4,2,5].
  const uint8_t src[6] = {0, 1, 2, 3, 4, 5};
  uint8_t dst[6] = {};
  testing_util::PermuteRowsForTest(src, dst, 6, 1, 1);
  EXPECT_EQ(std::vector<uint8_t>(dst, dst + 6), (std::vector<uint8_t>{0, 3, 1, 4, 2, 5}));
}

}  // namespace
}  // namespace tqf
