// Hugging Face model directories: sharded safetensors checkpoints
// (model.safetensors.index.json), hostile indexes and directories, the
// SentencePiece-style tokenizer.json, and generation_config.json stop ids.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "import/import_internal.h"
#include "import_test_util.h"
#include "test_util.h"
#include "tqf/export_gguf.h"
#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/reader.h"
#include "tqf/writer.h"

namespace tqf {
namespace {

using testing_util::SafetensorsBuilder;
using testing_util::WriteFile;

constexpr char kConfig[] = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
  "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 6,
  "max_position_embeddings": 64, "rms_norm_eps": 1e-05})";

// A SentencePiece-style tokenizer.json (Llama 2 layout) over 9 tokens.
constexpr char kSpmTokenizer[] = R"({"version": "1.0",
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
                   {"id": 1, "content": "<s>", "special": true},
                   {"id": 2, "content": "</s>", "special": true}],
  "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}]},
  "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "fuse_unk": true,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "\u2581": 4, "a": 5, "b": 6,
              "\u2581a": 7, "ab": 8, "\u2581ab": 9},
    "merges": ["\u2581 a", "a b", "\u2581a b"]}})";

std::string NewDir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/" + name;
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

// Writes config.json, tokenizer.json and a two-shard checkpoint of a
// 1-layer llama into `dir`; `index` replaces the default index JSON.
void WriteShardedModel(const std::string& dir, const std::string& index = "") {
  std::vector<float> v(96, 0.5f);
  SafetensorsBuilder a, b;
  a.AddF32("model.embed_tokens.weight", {6, 8}, std::vector<float>(48, 1.0f));
  a.AddF32("model.layers.0.input_layernorm.weight", {8}, std::vector<float>(8, 1.0f));
  a.AddF32("model.layers.0.self_attn.q_proj.weight", {8, 8}, std::vector<float>(64, 0.1f));
  a.AddF32("model.layers.0.self_attn.k_proj.weight", {4, 8}, std::vector<float>(32, 0.2f));
  a.AddF32("model.layers.0.self_attn.v_proj.weight", {4, 8}, std::vector<float>(32, 0.3f));
  a.AddF32("model.layers.0.self_attn.o_proj.weight", {8, 8}, std::vector<float>(64, 0.4f));
  b.AddF32("model.layers.0.post_attention_layernorm.weight", {8}, std::vector<float>(8, 1.0f));
  b.AddF32("model.layers.0.mlp.gate_proj.weight", {12, 8}, v);
  b.AddF32("model.layers.0.mlp.up_proj.weight", {12, 8}, v);
  b.AddF32("model.layers.0.mlp.down_proj.weight", {8, 12}, v);
  b.AddF32("model.norm.weight", {8}, std::vector<float>(8, 1.0f));
  ASSERT_TRUE(a.Write(dir + "/model-00001-of-00002.safetensors"));
  ASSERT_TRUE(b.Write(dir + "/model-00002-of-00002.safetensors"));
  ASSERT_TRUE(WriteFile(dir + "/config.json", kConfig));
  ASSERT_TRUE(WriteFile(dir + "/tokenizer.json", kSpmTokenizer));
  const std::string s1 = "\"model-00001-of-00002.safetensors\"";
  const std::string s2 = "\"model-00002-of-00002.safetensors\"";
  const std::string def = R"({"metadata": {"total_size": 1}, "weight_map": {
    "model.embed_tokens.weight": )" +
                          s1 + R"(,
    "model.layers.0.input_layernorm.weight": )" +
                          s1 + R"(,
    "model.layers.0.self_attn.q_proj.weight": )" +
                          s1 + R"(,
    "model.layers.0.self_attn.k_proj.weight": )" +
                          s1 + R"(,
    "model.layers.0.self_attn.v_proj.weight": )" +
                          s1 + R"(,
    "model.layers.0.self_attn.o_proj.weight": )" +
                          s1 + R"(,
    "model.layers.0.post_attention_layernorm.weight": )" +
                          s2 + R"(,
    "model.layers.0.mlp.gate_proj.weight": )" +
                          s2 + R"(,
    "model.layers.0.mlp.up_proj.weight": )" +
                          s2 + R"(,
    "model.layers.0.mlp.down_proj.weight": )" +
                          s2 + R"(,
    "model.norm.weight": )" +
                          s2 + "}}";
  ASSERT_TRUE(WriteFile(dir + "/model.safetensors.index.json", index.empty() ? def : index));
}

TEST(ImportHfShards, DirectoryAndIndexGiveOneModel) {
  const std::string dir = NewDir("hf_sharded");
  WriteShardedModel(dir);
  for (const std::string& path : {dir, dir + "/", dir + "/model.safetensors.index.json"}) {
    Result<SourceModel> m = ImportModel(path);
    ASSERT_TRUE(m.ok()) << path << ": " << m.status().ToString();
    EXPECT_EQ(m->format, "safetensors");
    EXPECT_EQ(m->info.hparams.n_layers, 1u);
    ASSERT_EQ(m->tensors.size(), 11u);
    EXPECT_EQ(m->tensors.front().name, "token_embd.weight");
    EXPECT_EQ(m->tensors.back().name, "output_norm.weight");
    EXPECT_TRUE(m->info.hparams.tied_embeddings);
    EXPECT_EQ(m->info.tokenizer.kind, TokenizerKind::kSentencePieceBpe);
    // Tensor bytes point into the shards' mappings, kept alive by the model.
    SourceModel copy = std::move(m).value();
    std::vector<float> f(copy.tensors.back().num_elements());
    ASSERT_TRUE(copy.tensors.back().ToF32(f.data()).ok());
    EXPECT_EQ(f[7], 1.0f);
  }
}

TEST(ImportHfShards, HostileIndexes) {
  const std::string s1 = "model-00001-of-00002.safetensors";
  const std::string s2 = "model-00002-of-00002.safetensors";
  struct Case {
    const char* name;
    std::string index;
    StatusCode code;
    std::vector<std::string> says;  // substrings the message must hold
  };
  const std::string all_but_norm = [&] {
    std::string s;
    for (const char* t :
         {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
          "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
          "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight"}) {
      s += "\"" + std::string(t) + "\": \"" + s1 + "\", ";
    }
    for (const char* t :
         {"model.layers.0.post_attention_layernorm.weight", "model.layers.0.mlp.gate_proj.weight",
          "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"}) {
      s += "\"" + std::string(t) + "\": \"" + s2 + "\", ";
    }
    return s;
  }();
  auto idx = [&](const std::string& norm_entry) {
    return "{\"weight_map\": {" + all_but_norm + norm_entry + "}}";
  };
  const std::vector<Case> cases = {
      {"missing_shard",
       idx("\"model.norm.weight\": \"model-00003-of-00002.safetensors\""),
       StatusCode::kNotFound,
       {"model-00003-of-00002.safetensors", "model.norm.weight"}},
      {"tensor_absent_from_shard",
       idx("\"model.norm.weight\": \"" + s2 + "\", \"model.extra.weight\": \"" + s2 + "\""),
       StatusCode::kCorruption,
       {"model.extra.weight", s2, "does not contain it"}},
      {"tensor_in_wrong_shard",
       idx("\"model.norm.weight\": \"" + s1 + "\""),
       StatusCode::kCorruption,
       {"model.norm.weight", s2, "weight_map puts it in"}},
      {"not_listed",
       "{\"weight_map\": {" + all_but_norm.substr(0, all_but_norm.size() - 2) + "}}",
       StatusCode::kCorruption,
       {"model.norm.weight", "not listed"}},
      {"dotdot",
       idx("\"model.norm.weight\": \"../" + s2 + "\""),
       StatusCode::kCorruption,
       {"model.norm.weight", "../" + s2, "escapes"}},
      {"dotdot_inner",
       idx("\"model.norm.weight\": \"a/../../x\""),
       StatusCode::kCorruption,
       {"model.norm.weight", "escapes"}},
      {"absolute",
       idx("\"model.norm.weight\": \"/etc/passwd\""),
       StatusCode::kCorruption,
       {"model.norm.weight", "/etc/passwd", "absolute"}},
      {"empty_name",
       idx("\"model.norm.weight\": \"\""),
       StatusCode::kCorruption,
       {"model.norm.weight", "empty"}},
      {"not_a_string",
       idx("\"model.norm.weight\": 3"),
       StatusCode::kCorruption,
       {"model.norm.weight", "file name"}},
      {"no_weight_map", "{\"metadata\": {}}", StatusCode::kCorruption, {"weight_map"}},
      {"empty_weight_map", "{\"weight_map\": {}}", StatusCode::kCorruption, {"empty"}},
      {"not_json", "{\"weight_map\": ", StatusCode::kCorruption, {"index.json"}},
  };
  for (const Case& c : cases) {
    const std::string dir = NewDir(std::string("hf_bad_") + c.name);
    WriteShardedModel(dir, c.index);
    Result<SourceModel> m = ImportModel(dir);
    ASSERT_FALSE(m.ok()) << c.name;
    EXPECT_EQ(m.status().code(), c.code) << c.name << ": " << m.status().ToString();
    EXPECT_NE(m.status().message().find("model.safetensors.index.json"), std::string::npos)
        << c.name << ": " << m.status().ToString();
    for (const std::string& s : c.says) {
      EXPECT_NE(m.status().message().find(s), std::string::npos)
          << c.name << ": '" << s << "' not in " << m.status().ToString();
    }
  }
}

// The Hugging Face hub cache keeps a snapshot as symlinks into a blob
// store (snapshots/REV/NAME -> ../../blobs/HASH): import follows them, as
// the files the user points at.
TEST(ImportHfShards, HubCacheSnapshotOfSymlinks) {
  const std::string root = NewDir("hf_hub_cache");
  const std::string blobs = root + "/blobs", snap = root + "/snapshots";
  ::mkdir(blobs.c_str(), 0755);
  ::mkdir(snap.c_str(), 0755);
  const std::string rev = snap + "/0123abc";
  ::mkdir(rev.c_str(), 0755);
  WriteShardedModel(blobs);
  for (const char* name :
       {"config.json", "tokenizer.json", "model.safetensors.index.json",
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
    const std::string link = rev + "/" + name;
    std::remove(link.c_str());
    ASSERT_EQ(::symlink((std::string("../../blobs/") + name).c_str(), link.c_str()), 0) << name;
  }
  Result<SourceModel> direct = ImportModel(blobs);
  Result<SourceModel> linked = ImportModel(rev);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  ASSERT_TRUE(linked.ok()) << linked.status().ToString();
  ASSERT_EQ(linked->tensors.size(), direct->tensors.size());
  EXPECT_EQ(linked->info.tokenizer.tokens, direct->info.tokenizer.tokens);
}

TEST(ImportHfShards, TensorInTwoShards) {
  const std::string dir = NewDir("hf_dup");
  WriteShardedModel(dir);
  SafetensorsBuilder b;  // shard 2 again, now also holding shard 1's embedding
  b.AddF32("model.layers.0.post_attention_layernorm.weight", {8}, std::vector<float>(8, 1.0f));
  b.AddF32("model.embed_tokens.weight", {6, 8}, std::vector<float>(48, 1.0f));
  ASSERT_TRUE(b.Write(dir + "/model-00002-of-00002.safetensors"));
  Result<SourceModel> m = ImportModel(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsCorruption()) << m.status().ToString();
  EXPECT_NE(m.status().message().find("'model.embed_tokens.weight' is in both shard"),
            std::string::npos)
      << m.status().ToString();
}

TEST(ImportHfShards, DirectoryMissingConfigOrTokenizer) {
  for (const char* missing : {"config.json", "tokenizer.json"}) {
    const std::string dir = NewDir(std::string("hf_missing_") + missing);
    WriteShardedModel(dir);
    ASSERT_EQ(std::remove((dir + "/" + missing).c_str()), 0);
    for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
      Result<SourceModel> m = ImportModel(path);
      ASSERT_FALSE(m.ok()) << missing;
      EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
      EXPECT_NE(m.status().message().find(dir + "/" + missing), std::string::npos)
          << m.status().ToString();
    }
  }
  // A single-file directory needs them too; an empty one is not a model.
  const std::string single = NewDir("hf_single_no_tok");
  SafetensorsBuilder st;
  st.AddF32("model.norm.weight", {8}, std::vector<float>(8, 1.0f));
  ASSERT_TRUE(st.Write(single + "/model.safetensors"));
  ASSERT_TRUE(WriteFile(single + "/config.json", kConfig));
  Result<SourceModel> m = ImportModel(single);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("tokenizer.json"), std::string::npos);
  Result<SourceModel> e = ImportModel(NewDir("hf_empty"));
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.status().IsNotFound()) << e.status().ToString();
}

TEST(ImportHfGenerationConfig, StopIdsListOrInt) {
  const std::string dir = NewDir("hf_genconf");
  WriteShardedModel(dir);
  ASSERT_TRUE(WriteFile(dir + "/generation_config.json",
                        R"({"bos_token_id": 1, "eos_token_id": [2, 8, 9, 8]})"));
  Result<SourceModel> m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->info.tokenizer.eos_id, 2);
  EXPECT_EQ(m->info.tokenizer.stop_ids, (std::vector<int32_t>{2, 8, 9}));

  ASSERT_TRUE(WriteFile(dir + "/generation_config.json", R"({"eos_token_id": 9})"));
  m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->info.tokenizer.eos_id, 9);
  EXPECT_EQ(m->info.tokenizer.stop_ids, (std::vector<int32_t>{9}));

  for (const char* bad : {R"({"eos_token_id": [2, -1]})", R"({"eos_token_id": "2"})",
                          R"({"eos_token_id": [2, 10]})", R"({"eos_token_id": 2)"}) {
    ASSERT_TRUE(WriteFile(dir + "/generation_config.json", bad));
    Result<SourceModel> b = ImportModel(dir);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_TRUE(b.status().IsCorruption()) << bad << ": " << b.status().ToString();
    EXPECT_NE(b.status().message().find("generation_config.json"), std::string::npos)
        << b.status().ToString();
  }
}

// tokenizer_config.json's add_bos_token / add_eos_token decide, over the
// post-processor's template; bad values and impossible requests are errors
// naming the file.
TEST(ImportHfTokenizerConfig, AddBosAndEosSwitches) {
  const std::string dir = NewDir("hf_tokconf");
  WriteShardedModel(dir);
  std::remove((dir + "/tokenizer_config.json").c_str());  // a previous run's
  Result<SourceModel> m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->info.tokenizer.add_bos);  // the template's default
  ASSERT_FALSE(m->info.tokenizer.add_eos);

  ASSERT_TRUE(
      WriteFile(dir + "/tokenizer_config.json",
                R"({"add_bos_token": false, "add_eos_token": true, "model_max_length": 4096})"));
  m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->info.tokenizer.add_bos);
  EXPECT_TRUE(m->info.tokenizer.add_eos);

  // Through pack and the reader: the runtime's default follows it.
  const std::string out = testing::TempDir() + "/hf_tokconf.tqf";
  ASSERT_TRUE(PackModel(*m, out, PackOptions()).ok());
  Result<std::unique_ptr<Reader>> r = Reader::Open(out);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE((*r)->model().tokenizer.add_bos);

  ASSERT_TRUE(WriteFile(dir + "/tokenizer_config.json", R"({"legacy": true})"));
  m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->info.tokenizer.add_bos);  // nothing said: unchanged

  for (const char* bad : {R"({"add_bos_token": "yes"})", R"([true])", R"({"add_bos_token": )"}) {
    ASSERT_TRUE(WriteFile(dir + "/tokenizer_config.json", bad));
    Result<SourceModel> b = ImportModel(dir);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_TRUE(b.status().IsCorruption()) << bad << ": " << b.status().ToString();
    EXPECT_NE(b.status().message().find("tokenizer_config.json"), std::string::npos)
        << b.status().ToString();
  }
}

// Several stop ids survive pack -> .tqf -> reader (as the metadata entry
// "tokenizer.stop_ids"; the schema has one eos_id).
TEST(ImportHfGenerationConfig, StopIdsSurvivePacking) {
  const std::string dir = NewDir("hf_genconf_pack");
  WriteShardedModel(dir);
  ASSERT_TRUE(WriteFile(dir + "/generation_config.json", R"({"eos_token_id": [2, 9, 8]})"));
  Result<SourceModel> m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::string out = testing::TempDir() + "/hf_stop_ids.tqf";
  Result<PackReport> report = PackModel(*m, out, PackOptions());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  Result<std::unique_ptr<Reader>> r = Reader::Open(out);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const TokenizerData& tok = (*r)->model().tokenizer;
  EXPECT_EQ(tok.kind, TokenizerKind::kSentencePieceBpe);
  EXPECT_EQ(tok.eos_id, 2);
  EXPECT_EQ(tok.stop_ids, (std::vector<int32_t>{2, 9, 8}));
  int entries = 0;
  for (const auto& [k, v] : (*r)->model().metadata) {
    if (k == "tokenizer.stop_ids") {
      ++entries;
      EXPECT_EQ(v, "2,9,8");
    }
  }
  EXPECT_EQ(entries, 1);
  // ... and leave for llama.cpp as its end-of-turn / end-of-message ids.
  const std::string gguf = testing::TempDir() + "/hf_stop_ids.gguf";
  ASSERT_TRUE(ExportGguf(**r, gguf).ok());
  Result<SourceModel> back = ImportModel(gguf);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->info.tokenizer.stop_ids, (std::vector<int32_t>{2, 9, 8}));
  std::remove(out.c_str());
  std::remove(gguf.c_str());
}

// A writer refuses stop ids no reader would accept: ids that are not
// tokens, or a list without eos_id.
TEST(ImportHfGenerationConfig, WriterRefusesStopIdsReadersWouldReject) {
  ModelInfo info;
  info.tokenizer.tokens = {"<unk>", "<s>", "</s>", "a"};
  info.tokenizer.eos_id = 2;
  const std::string out = testing::TempDir() + "/bad_stop_ids.tqf";
  info.tokenizer.stop_ids = {2, 4};
  Result<std::unique_ptr<Writer>> w = Writer::Create(out, info);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().IsInvalidArgument()) << w.status().ToString();
  EXPECT_NE(w.status().message().find("stop id 4"), std::string::npos);
  info.tokenizer.stop_ids = {3};
  w = Writer::Create(out, info);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("do not include eos_id 2"), std::string::npos);
  info.tokenizer.stop_ids = {3, 2};
  EXPECT_TRUE(Writer::Create(out, info).ok());
}

TEST(ImportHfSentencePiece, ScoresFromMergeRanks) {
  Result<TokenizerData> t = import_internal::ParseHfTokenizerJson(kSpmTokenizer, "tokenizer.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->kind, TokenizerKind::kSentencePieceBpe);
  ASSERT_EQ(t->scores.size(), 10u);
  const float never = -1e10f;
  // Merges: "▁ a" (rank 0) -> ▁a, "a b" (1) -> ab, "▁a b" (2) -> ▁ab.
  EXPECT_EQ(t->scores, (std::vector<float>{never, never, never, never, never, never, never, -0.0f,
                                           -1.0f, -2.0f}));
  EXPECT_TRUE(t->merges.empty());
  EXPECT_EQ(t->bos_id, 1);
  EXPECT_EQ(t->eos_id, 2);
  EXPECT_EQ(t->unk_id, 0);
  EXPECT_TRUE(t->add_bos);
  EXPECT_EQ(t->token_types[0], 2);  // unknown
  EXPECT_EQ(t->token_types[1], 3);  // control
  EXPECT_EQ(t->token_types[3], 6);  // byte
  EXPECT_EQ(t->token_types[5], 1);  // normal
}

// The array spelling of merges says where a piece with a space splits,
// which "a b" strings cannot: a SentencePiece-style file may use it (the
// merge still ranks its token), a byte-level one is refused (its pieces
// never hold a literal space).
TEST(ImportHfSentencePiece, ArrayMergesWithSpacesInPieces) {
  std::string spm = kSpmTokenizer;
  const std::string vocab_end = R"("\u2581ab": 9})";
  spm.replace(spm.find(vocab_end), vocab_end.size(), R"("\u2581ab": 9, " x": 10, "a x": 11})");
  const std::string merges = R"(["\u2581 a", "a b", "\u2581a b"])";
  spm.replace(spm.find(merges), merges.size(),
              R"([["\u2581", "a"], ["a", "b"], ["a", " x"], ["\u2581a", "b"]])");
  Result<TokenizerData> t = import_internal::ParseHfTokenizerJson(spm, "tokenizer.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->scores.size(), 12u);
  EXPECT_EQ(t->scores[11], -2.0f);  // "a" + " x", rank 2
  EXPECT_EQ(t->scores[9], -3.0f);

  const std::string bpe = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a b": 2, "ab": 3},
      "merges": [["a", "b"], ["a", " b"]]}})";
  Result<TokenizerData> b = import_internal::ParseHfTokenizerJson(bpe, "tokenizer.json");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().IsCorruption()) << b.status().ToString();
  EXPECT_NE(b.status().message().find("model.merges[1]"), std::string::npos)
      << b.status().ToString();
  const std::string ok_bpe = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
      "merges": [["a", "b"]]}})";
  Result<TokenizerData> o = import_internal::ParseHfTokenizerJson(ok_bpe, "tokenizer.json");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->merges, (std::vector<std::string>{"a b"}));
}

TEST(ImportHfSentencePiece, RefusesWhatItCannotReproduce) {
  const std::string base = kSpmTokenizer;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::string normalizer_start = R"("normalizer": {"type": "Sequence")";
  struct Case {
    std::string json;
    StatusCode code;
    const char* says;
  };
  const std::vector<Case> cases = {
      {with(normalizer_start, R"("normalizer": {"type": "NFKC"}, "x": {"type": "Sequence")"),
       StatusCode::kNotSupported, "NFKC"},
      {with(R"("pre_tokenizer": null)",
            R"("pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "split": true})"),
       StatusCode::kNotSupported, "split"},
      {with(R"({"type": "Prepend", "prepend": "\u2581"},)", ""), StatusCode::kNotSupported,
       "dummy prefix"},
      {with(R"("a b", "\u2581a b")", R"("a b", "b b")"), StatusCode::kCorruption, "'b b'"},
  };
  for (const Case& c : cases) {
    Result<TokenizerData> t = import_internal::ParseHfTokenizerJson(c.json, "tokenizer.json");
    ASSERT_FALSE(t.ok()) << c.says;
    EXPECT_EQ(t.status().code(), c.code) << t.status().ToString();
    EXPECT_NE(t.status().message().find(c.says), std::string::npos) << t.status().ToString();
  }
  // Metaspace instead of the normalizer is the same tokenizer.
  const std::string metaspace =
      with(R"("pre_tokenizer": null)",
           R"("pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                           "prepend_scheme": "first", "split": false})");
  std::string s = metaspace;
  const size_t a = s.find(normalizer_start);
  const size_t b = s.find("]},", a) + 3;
  s.replace(a, b - a, R"("normalizer": null,)");
  Result<TokenizerData> t = import_internal::ParseHfTokenizerJson(s, "tokenizer.json");
  ASSERT_TRUE(t.ok()) << t.status().ToString() << "\n" << s;
  EXPECT_EQ(t->kind, TokenizerKind::kSentencePieceBpe);
}

}  // namespace
}  // namespace tqf
