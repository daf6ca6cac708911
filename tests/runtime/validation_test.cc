// A model whose hyperparameters contradict its tensors is refused at Open
// with an error naming the tensor and the expected vs actual shape; it is
// never run. Files are stories260K packed after tampering with the
// imported SourceModel (hyperparameters or tensor list).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "test_util.h"
#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/rt/model.h"

namespace tqf::rt {
namespace {

using tqf::testing::SharedPath;

// Imports stories260K, applies `tamper`, packs (raw/raw) and opens it.
Status OpenTampered(const std::function<void(SourceModel*)>& tamper) {
  Result<SourceModel> model = ImportModel(SharedPath("models/stories260K/stories260K.gguf"));
  if (!model.ok()) {
    ADD_FAILURE() << model.status().ToString();
    return model.status();
  }
  tamper(&*model);
  static int counter = 0;
  const std::string path =
      tqf::testing::TempDir() + "/tampered" + std::to_string(counter++) + ".tqf";
  PackOptions po;
  po.quant = QuantScheme::kRaw;
  po.codec = FindCodecByName("raw");
  Result<PackReport> r = PackModel(*model, path, po);
  if (!r.ok()) {
    ADD_FAILURE() << "pack: " << r.status().ToString();
    return r.status();
  }
  Result<std::unique_ptr<Model>> m = Model::Open(path, ModelOptions());
  return m.ok() ? Status::OK() : m.status();
}

void ExpectMessage(const Status& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts) {
    EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.ToString();
  }
}

TEST(Validation, UntamperedOpens) {
  Status s = OpenTampered([](SourceModel*) {});
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(Validation, KvHeadsContradictAttnK) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.n_kv_heads = 8; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"blk.0.attn_k.weight", "[32, 64]", "[64, 64]", "n_kv_heads 8"});
}

TEST(Validation, HiddenDimContradictsFfn) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.hidden_dim = 128; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"blk.0.ffn_gate.weight", "[172, 64]", "[128, 64]"});
}

TEST(Validation, VocabContradictsEmbedding) {
  Status s = OpenTampered([](SourceModel* m) {
    m->info.hparams.vocab_size = 600;
    // A tokenizer as long as the vocabulary, so only the embedding contradicts it.
    TokenizerData& t = m->info.tokenizer;
    while (t.tokens.size() < 600) {
      t.tokens.push_back("<pad" + std::to_string(t.tokens.size()) + ">");
      if (!t.scores.empty()) t.scores.push_back(0.0f);
      if (!t.token_types.empty()) t.token_types.push_back(1);
    }
  });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"token_embd.weight", "[512, 64]", "[600, 64]"});
}

// The reader refuses a tokenizer shorter than the vocabulary before the
// model looks at tensors (issue 11, defect 11).
TEST(Validation, TokenizerShorterThanVocab) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.vocab_size = 600; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"512 tokens", "vocab_size 600"});
}

TEST(Validation, TokenizerLargerThanVocab) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.vocab_size = 256; });
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  ExpectMessage(s, {"tokenizer", "512", "256"});
}

TEST(Validation, MoreLayersThanTensors) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.n_layers = 6; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"blk.5.attn_q.weight", "missing"});
}

TEST(Validation, FewerLayersThanTensors) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.n_layers = 4; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"blk.4.", "n_layers 4"});
}

TEST(Validation, MissingTensor) {
  Status s = OpenTampered([](SourceModel* m) {
    for (size_t i = 0; i < m->tensors.size(); ++i) {
      if (m->tensors[i].name == "blk.3.ffn_down.weight") m->tensors.erase(m->tensors.begin() + i);
    }
  });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"blk.3.ffn_down.weight", "missing", "[64, 172]"});
}

TEST(Validation, MissingOutputNorm) {
  Status s = OpenTampered([](SourceModel* m) {
    for (size_t i = 0; i < m->tensors.size(); ++i) {
      if (m->tensors[i].name == "output_norm.weight") m->tensors.erase(m->tensors.begin() + i);
    }
  });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"output_norm.weight", "missing"});
}

TEST(Validation, UnknownLayerTensorIsNotSupported) {
  Status s = OpenTampered([](SourceModel* m) {
    for (const SourceTensor& t : m->tensors) {
      if (t.name == "blk.0.attn_norm.weight") {
        SourceTensor bias = t;
        bias.name = "blk.0.attn_q.bias";
        m->tensors.push_back(bias);
        break;
      }
    }
  });
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  ExpectMessage(s, {"blk.0.attn_q.bias"});
}

TEST(Validation, HeadDimContradictsAttnQ) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.head_dim = 16; });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ExpectMessage(s, {"blk.0.attn_q.weight", "[128, 64]", "[64, 64]"});
}

TEST(Validation, ImpossibleHyperparameters) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.n_heads = 7; });
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  ExpectMessage(s, {"n_heads 7"});
  s = OpenTampered([](SourceModel* m) { m->info.hparams.n_kv_heads = 3; });
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  s = OpenTampered([](SourceModel* m) { m->info.hparams.dim = 0; });
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  s = OpenTampered([](SourceModel* m) { m->info.hparams.rope_scaling_factor = 8.0f; });
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  ExpectMessage(s, {"rope scaling"});
}

TEST(Validation, OtherArchitectureNotSupported) {
  Status s = OpenTampered([](SourceModel* m) { m->info.hparams.architecture = "gpt2"; });
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  ExpectMessage(s, {"gpt2"});
}

TEST(Validation, NotATqfFile) {
  auto m = Model::Open(SharedPath("models/stories260K/stories260K.gguf"), ModelOptions());
  EXPECT_FALSE(m.ok());
  auto missing = Model::Open("/nonexistent/model.tqf", ModelOptions());
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
}

}  // namespace
}  // namespace tqf::rt
