// tqf -> GGUF export: a model packed unquantized and exported back gives
// the source tensors bit for bit; quantized models export their
// dequantized values exactly; hyperparameters and tokenizer survive.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

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

// Q8_0: an int8 (channel) file keeps its codes, so every value moves by at
// most the f16 rounding of its row scale (2^-11 relative), far below the
// requantization error ggml's own rounding would add (up to d/2); rows of
// 172 (not whole 32-blocks) fall back to f16; 1-D tensors stay f32; the
// file type says Q8_0.
TEST(ExportGguf, Q8_0KeepsInt8CodesAndFallsBackToF16) {
  auto src = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(src.ok());
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(PackModel(*src, dir + "/c.tqf").ok());  // channel int8
  auto reader = Reader::Open(dir + "/c.tqf");
  ASSERT_TRUE(reader.ok());
  ExportOptions opt;
  opt.dtype = DType::kQ8_0;
  ASSERT_TRUE(ExportGguf(**reader, dir + "/q8.gguf", opt).ok());
  auto back = ImportModel(dir + "/q8.gguf");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  size_t q8 = 0, f16 = 0;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    const TensorInfo& t = (*reader)->tensors()[i];
    const SourceTensor& b = back->tensors[i];
    ASSERT_EQ(b.name, t.name);
    const DType want_type = t.shape.size() < 2   ? DType::kF32
                            : t.cols() % 32 != 0 ? DType::kF16
                                                 : DType::kQ8_0;
    EXPECT_EQ(b.dtype, want_type) << t.name;
    q8 += b.dtype == DType::kQ8_0;
    f16 += b.dtype == DType::kF16;
    std::vector<float> want(t.num_elements()), got(t.num_elements());
    ASSERT_TRUE((*reader)->DecodeTensorF32(i, want.data(), want.size()).ok());
    ASSERT_TRUE(b.ToF32(got.data()).ok());
    if (b.dtype != DType::kQ8_0) continue;
    std::vector<float> scales(t.num_params);
    ASSERT_TRUE((*reader)->CopyParams(i, scales.data(), scales.size()).ok());
    for (size_t k = 0; k < want.size(); ++k) {
      const float s = scales[k / t.cols()];
      ASSERT_LE(std::fabs(got[k] - want[k]), 127.0f * s * 0x1p-11f + 1e-12f)
          << t.name << " [" << k << "]";
    }
  }
  EXPECT_GT(q8, 0u);
  EXPECT_EQ(f16, 5u);  // ffn_down of each layer: rows of 172
  // general.file_type = 7 (u32 type 4, value 7), as llama.cpp reads it.
  std::ifstream in(dir + "/q8.gguf", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string key = "general.file_type";
  const std::string want = key + std::string("\x04\0\0\0\x07\0\0\0", 8);
  EXPECT_NE(bytes.find(want), std::string::npos);
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
