// Golden test vectors (format-spec/test-vectors/): the writer must keep
// producing these exact bytes from the same inputs, and the reader must
// keep reading them. A deliberate format change regenerates them with
//   TQF_REGENERATE_GOLDEN=1 build/bin/golden_test
// and says so in format-spec/tqf-format.md's version changes.
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.h"
#include "tqf/codec.h"
#include "tqf/reader.h"
#include "tqf_file_builder.h"

namespace tqf {
namespace {

const char* const kGoldenCodecs[] = {"raw", "dict4", "rans"};

std::string VectorPath(const std::string& codec) {
  return std::string(TQF_SOURCE_DIR) + "/format-spec/test-vectors/small-" + codec + ".tqf";
}

class Golden : public ::testing::TestWithParam<const char*> {};

TEST_P(Golden, WriterReproducesTheVectorByteForByte) {
  const Codec* codec = FindCodecByName(GetParam());
  ASSERT_NE(codec, nullptr);
  auto model = testing::MakeSmallModel(codec->kind(), 42);
  const std::string fresh = testing::TempDir() + "/golden.tqf";
  testing::WriteSmallModel(model, fresh, 256, "tqf-golden");
  const auto bytes = testing::ReadFileBytes(fresh);
  const char* regen = std::getenv("TQF_REGENERATE_GOLDEN");
  if (regen && std::string(regen) == "1") {
    testing::WriteFileBytes(VectorPath(GetParam()), bytes);
  }
  const auto golden = testing::ReadFileBytes(VectorPath(GetParam()));
  ASSERT_FALSE(golden.empty()) << VectorPath(GetParam()) << " missing";
  ASSERT_EQ(golden.size(), bytes.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    ASSERT_EQ(golden[i], bytes[i]) << "first difference at byte " << i;
  }
}

TEST_P(Golden, ReaderDecodesTheVector) {
  const Codec* codec = FindCodecByName(GetParam());
  ASSERT_NE(codec, nullptr);
  auto model = testing::MakeSmallModel(codec->kind(), 42);
  auto r = Reader::Open(VectorPath(GetParam()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->file_info().writer, "tqf-golden");
  EXPECT_TRUE((*r)->Verify().problems.empty());
  ASSERT_EQ((*r)->tensors().size(), model.tensors.size());
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    std::vector<uint8_t> out((*r)->tensors()[i].raw_size);
    ASSERT_TRUE((*r)->DecodeTensor(i, out.data(), out.size()).ok());
    EXPECT_EQ(out, model.tensors[i].data) << model.tensors[i].spec.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, Golden, ::testing::ValuesIn(kGoldenCodecs),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

}  // namespace
}  // namespace tqf
