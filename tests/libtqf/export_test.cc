// tqf -> GGUF export: a model packed unquantized and exported back gives
// the source tensors bit for bit; quantized models export their
// dequantized values exactly; hyperparameters and tokenizer survive.
#include <gtest/gtest.h>

#include <cstring>

#include "test_util.h"
#include "tqf/export_gguf.h"
#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/reader.h"

namespace tqf {
namespace {

TEST(ExportGguf, RawRoundTripIsBitExact) {
  auto src = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  const std::string dir = testing::TempDir();
  PackOptions opt;
  opt.quant = QuantScheme::kRaw;
  ASSERT_TRUE(PackModel(*src, dir + "/s.tqf", opt).ok());
  auto reader = Reader::Open(dir + "/s.tqf");
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(ExportGguf(**reader, dir + "/back.gguf").ok());
  auto back = ImportModel(dir + "/back.gguf");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->tensors.size(), src->tensors.size());
  for (size_t i = 0; i < src->tensors.size(); ++i) {
    const SourceTensor& a = src->tensors[i];
    const SourceTensor& b = back->tensors[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
    ASSERT_EQ(a.size, b.size) << a.name;
    EXPECT_EQ(0, std::memcmp(a.data, b.data, a.size)) << a.name;
  }
  const Hyperparameters& h = back->info.hparams;
  EXPECT_EQ(h.dim, 64u);
  EXPECT_EQ(h.hidden_dim, 172u);
  EXPECT_EQ(h.n_layers, 5u);
  EXPECT_EQ(h.n_kv_heads, 4u);
  EXPECT_EQ(back->info.tokenizer.tokens, src->info.tokenizer.tokens);
  EXPECT_EQ(back->info.tokenizer.scores, src->info.tokenizer.scores);
  EXPECT_EQ(back->info.tokenizer.bos_id, src->info.tokenizer.bos_id);
}

TEST(ExportGguf, QuantizedExportsItsDequantizedValues) {
  auto src = ImportModel(testing::SharedPath("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(src.ok());
  const std::string dir = testing::TempDir();
  PackOptions opt;
  opt.quant = QuantScheme::kBlock32;
  ASSERT_TRUE(PackModel(*src, dir + "/q.tqf", opt).ok());
  auto reader = Reader::Open(dir + "/q.tqf");
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(ExportGguf(**reader, dir + "/q.gguf").ok());
  auto back = ImportModel(dir + "/q.gguf");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    const TensorInfo& t = (*reader)->tensors()[i];
    std::vector<float> want(t.num_elements()), got(t.num_elements());
    ASSERT_TRUE((*reader)->DecodeTensorF32(i, want.data(), want.size()).ok());
    ASSERT_TRUE(back->tensors[i].ToF32(got.data()).ok());
    EXPECT_EQ(want, got) << t.name;
  }
}

TEST(ExportGguf, RefusesUnsupportedDtypeAndLeavesNoFile) {
  auto src = ImportModel(testing::SharedPath("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(src.ok());
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(PackModel(*src, dir + "/q.tqf").ok());
  auto reader = Reader::Open(dir + "/q.tqf");
  ASSERT_TRUE(reader.ok());
  ExportOptions opt;
  opt.dtype = DType::kI8;
  EXPECT_TRUE(ExportGguf(**reader, dir + "/x.gguf", opt).IsInvalidArgument());
  EXPECT_TRUE(ImportModel(dir + "/x.gguf").status().IsNotFound());
}

}  // namespace
}  // namespace tqf
