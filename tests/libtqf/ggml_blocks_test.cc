// ggml's block types (Q4_0 ... IQ4_XS) import bit-identically to ggml's own
// dequantization. The expected floats in tests/data/ggml-blocks were made by
// llama.cpp's ggml from random blocks (tests/interop/gen_ggml_vectors.sh),
// so every bit pattern of quants and scales is covered, NaN/Inf scales too.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "import/import_internal.h"
#include "import_test_util.h"
#include "tqf/import.h"

namespace tqf {
namespace {

using testing_util::GgufTensorSpec;
using testing_util::MakeGguf;

std::vector<uint8_t> ReadBytes(const std::string& name) {
  const std::string path = std::string(TQF_SOURCE_DIR) + "/tests/data/ggml-blocks/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test vector " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

struct TypeCase {
  const char* name;
  uint32_t ggml_type;
  DType dtype;
  uint32_t block_elements, block_bytes;
};

const TypeCase kCases[] = {
    {"q4_0", 2, DType::kQ4_0, 32, 18},      {"q4_1", 3, DType::kQ4_1, 32, 20},
    {"q5_0", 6, DType::kQ5_0, 32, 22},      {"q5_1", 7, DType::kQ5_1, 32, 24},
    {"q8_0", 8, DType::kQ8_0, 32, 34},      {"q2_K", 10, DType::kQ2_K, 256, 84},
    {"q3_K", 11, DType::kQ3_K, 256, 110},   {"q4_K", 12, DType::kQ4_K, 256, 144},
    {"q5_K", 13, DType::kQ5_K, 256, 176},   {"q6_K", 14, DType::kQ6_K, 256, 210},
    {"iq4_nl", 20, DType::kIQ4_NL, 32, 18}, {"iq4_xs", 23, DType::kIQ4_XS, 256, 136},
};

class GgmlBlocks : public ::testing::TestWithParam<TypeCase> {};

// Through the GGUF importer: the type maps to its DType, the shape is
// (blocks / 2, 2 blocks per row), and every float equals ggml's bit for bit.
TEST_P(GgmlBlocks, DecodeBitIdenticallyToGgml) {
  const TypeCase& c = GetParam();
  const std::vector<uint8_t> blocks = ReadBytes(std::string(c.name) + ".blocks");
  const std::vector<uint8_t> expect = ReadBytes(std::string(c.name) + ".f32");
  ASSERT_EQ(blocks.size() % (2 * c.block_bytes), 0u);
  const uint64_t n_blocks = blocks.size() / c.block_bytes;
  ASSERT_EQ(expect.size(), n_blocks * c.block_elements * 4);
  const std::vector<uint8_t> g =
      MakeGguf({{"w", {2ull * c.block_elements, n_blocks / 2}, c.ggml_type, blocks}});
  Result<SourceModel> m = ParseGguf(g.data(), g.size());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const SourceTensor& t = m->tensors[0];
  EXPECT_EQ(t.dtype, c.dtype);
  EXPECT_STREQ(DTypeName(t.dtype), c.name);
  EXPECT_EQ(t.size, blocks.size());
  std::vector<float> got(t.num_elements());
  ASSERT_TRUE(t.ToF32(got.data()).ok());
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &expect[4 * i], 4) != 0 && differ++ == 0) first = i;
  }
  EXPECT_EQ(differ, 0u) << c.name << ": " << differ << " of " << got.size()
                        << " floats differ from ggml's, first at " << first;
}

// A row that is not whole blocks, and data shorter than the blocks.
TEST_P(GgmlBlocks, PartialBlocksAreRefused) {
  const TypeCase& c = GetParam();
  std::vector<uint8_t> one(c.block_bytes, 0);
  std::vector<uint8_t> g = MakeGguf({{"w", {c.block_elements / 2, 2}, c.ggml_type, one}});
  Result<SourceModel> m = ParseGguf(g.data(), g.size());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("not a multiple of its block"), std::string::npos)
      << m.status().ToString();
  SourceTensor t;
  t.name = "w";
  t.dtype = c.dtype;
  t.shape = {1, c.block_elements};
  t.data = one.data();
  t.size = c.block_bytes - 1;
  std::vector<float> out(c.block_elements);
  EXPECT_TRUE(t.ToF32(out.data()).IsCorruption());
  t.shape = {1, c.block_elements + 1};  // not whole blocks
  t.size = c.block_bytes;
  out.resize(c.block_elements + 1);
  EXPECT_TRUE(t.ToF32(out.data()).IsCorruption());
}

INSTANTIATE_TEST_SUITE_P(Types, GgmlBlocks, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Types tqf does not import name themselves and the supported list.
TEST(GgmlBlockTypes, UnsupportedTypesAreNamed) {
  std::vector<uint8_t> data(66, 0);  // one IQ2_XXS block
  std::vector<uint8_t> g = MakeGguf({{"w", {256, 1}, 16, data}});
  Result<SourceModel> m = ParseGguf(g.data(), g.size());
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsNotSupported());
  EXPECT_NE(m.status().message().find("IQ2_XXS"), std::string::npos);
  EXPECT_NE(m.status().message().find("Q4_K"), std::string::npos);
}

}  // namespace
}  // namespace tqf
