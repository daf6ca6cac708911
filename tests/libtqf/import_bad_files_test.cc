// A table of hand-crafted corrupt GGUF / safetensors / llama2.c / tokenizer
// files, each expecting its specific Status, plus truncation and byte-flip
// sweeps that must never crash (run under ASan/UBSan too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "import/import_internal.h"
#include "import_test_util.h"
#include "test_util.h"
#include "tqf/import.h"
#include "tqf/internal/half.h"
#include "tqf/quantize.h"

namespace tqf {
namespace {

using testing_util::Bytes;
using testing_util::F32Bytes;
using testing_util::GgufTensorSpec;
using testing_util::MakeGguf;

std::vector<GgufTensorSpec> GoodTensors() {
  std::vector<float> a(8), n(8);
  for (int i = 0; i < 8; ++i) a[i] = 0.5f * i, n[i] = 1.0f;
  // Last tensor is a whole multiple of 32 bytes: any truncation is visible.
  return {{"a", {4, 2}, 0, F32Bytes(a)}, {"n", {8}, 0, F32Bytes(n)}};
}

// Offset of the first occurrence of `needle` in `b` (test setup helper).
size_t FindBytes(const std::vector<uint8_t>& b, const std::string& needle) {
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << needle;
  return static_cast<size_t>(it - b.begin());
}
void Put64(std::vector<uint8_t>* b, size_t at, uint64_t v) { std::memcpy(b->data() + at, &v, 8); }
void Put32(std::vector<uint8_t>* b, size_t at, uint32_t v) { std::memcpy(b->data() + at, &v, 4); }

// Position of a tensor info's n_dims field (just after its name).
size_t TensorInfoAt(const std::vector<uint8_t>& b, const std::string& name) {
  std::string key(8, '\0');
  const uint64_t len = name.size();
  std::memcpy(&key[0], &len, 8);
  key += name;
  return FindBytes(b, key) + key.size();
}

struct BadCase {
  std::string what;
  std::function<std::vector<uint8_t>()> make;
  StatusCode code;
  std::string message_part;
};

TEST(BadGguf, GoodImageParses) {
  std::vector<uint8_t> g = MakeGguf(GoodTensors());
  Result<SourceModel> m = ParseGguf(g.data(), g.size());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->tensors.size(), 2u);
  EXPECT_EQ(m->tensors[0].shape, (std::vector<uint64_t>{2, 4}));  // reversed ne
  EXPECT_EQ(m->info.hparams.dim, 4u);
  EXPECT_TRUE(m->info.hparams.tied_embeddings);
  EXPECT_EQ(m->info.tokenizer.tokens.size(), 3u);
  std::vector<uint8_t> v2 = MakeGguf(GoodTensors(), 2);
  EXPECT_TRUE(ParseGguf(v2.data(), v2.size()).ok());
}

TEST(BadGguf, Q8_0AndBf16Tensors) {
  // One Q8_0 block (f16 scale 0.5, q = i - 16) and a BF16 row.
  std::vector<uint8_t> q8(34);
  const uint16_t d = F32ToF16(0.5f);
  std::memcpy(q8.data(), &d, 2);
  for (int i = 0; i < 32; ++i) q8[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 16));
  std::vector<uint8_t> bf = {0x80, 0x3F, 0x40, 0xC0};  // 1.0, -3.0
  std::vector<uint8_t> g = MakeGguf({{"q", {32, 1}, 8, q8}, {"b", {2}, 30, bf}});
  Result<SourceModel> m = ParseGguf(g.data(), g.size());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const SourceTensor& q = m->tensors[0];
  EXPECT_EQ(q.dtype, DType::kQ8_0);
  EXPECT_EQ(q.shape, (std::vector<uint64_t>{1, 32}));
  EXPECT_EQ(q.size, 34u);
  std::vector<float> v(32);
  ASSERT_TRUE(q.ToF32(v.data()).ok());
  for (int i = 0; i < 32; ++i) EXPECT_EQ(v[i], 0.5f * (i - 16));
  std::vector<float> w(2);
  ASSERT_TRUE(m->tensors[1].ToF32(w.data()).ok());
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], -3.0f);
  // ToF32 refuses a tensor whose bytes are too few for its shape.
  SourceTensor broken = q;
  broken.size = 33;
  EXPECT_TRUE(broken.ToF32(v.data()).IsCorruption());
}

TEST(BadGguf, Table) {
  const std::vector<BadCase> cases = {
      {"bad magic",
       [] {
         auto b = MakeGguf(GoodTensors());
         b[3] = 'X';
         return b;
       },
       StatusCode::kCorruption, "magic"},
      {"version 1", [] { return MakeGguf(GoodTensors(), 1); }, StatusCode::kNotSupported,
       "version 1"},
      {"future version", [] { return MakeGguf(GoodTensors(), 4); }, StatusCode::kNotSupported,
       "version 4"},
      {"big-endian", [] { return MakeGguf(GoodTensors(), 0x03000000); }, StatusCode::kNotSupported,
       "big-endian"},
      {"huge tensor count",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, 8, 1ull << 60);
         return b;
       },
       StatusCode::kCorruption, "tensor count"},
      {"huge kv count",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, 16, ~0ull);
         return b;
       },
       StatusCode::kCorruption, "metadata count"},
      {"huge key length",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, 24, 1ull << 62);
         return b;
       },
       StatusCode::kCorruption, "length"},
      {"huge string value",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, FindBytes(b, "general.architecture") + 20 + 4, ~0ull - 3);
         return b;
       },
       StatusCode::kCorruption, "only"},
      {"huge array length",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, FindBytes(b, "tokenizer.ggml.tokens") + 21 + 4 + 4, 1ull << 40);
         return b;
       },
       StatusCode::kCorruption, "array length"},
      {"unknown value type",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put32(&b, FindBytes(b, "llama.embedding_length") + 22, 13);
         return b;
       },
       StatusCode::kCorruption, "unknown value type 13"},
      {"unknown array element type",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put32(&b, FindBytes(b, "tokenizer.ggml.scores") + 21 + 4, 99);
         return b;
       },
       StatusCode::kCorruption, "element type 99"},
      {"n_dims 9",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put32(&b, TensorInfoAt(b, "a"), 9);
         return b;
       },
       StatusCode::kCorruption, "n_dims 9"},
      {"n_dims 0",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put32(&b, TensorInfoAt(b, "a"), 0);
         return b;
       },
       StatusCode::kCorruption, "n_dims 0"},
      {"unsupported type",
       [] {
         return MakeGguf({{"a", {256, 1}, 16, std::vector<uint8_t>(66)}});
       },
       StatusCode::kNotSupported, "'a': ggml type 16 (IQ2_XXS)"},
      {"element count overflow",
       [] {
         return MakeGguf({{"big", {1ull << 32, 1ull << 32, 1ull << 32}, 0, {}}});
       },
       StatusCode::kCorruption, "overflow"},
      {"extent overflows",
       [] {
         return MakeGguf({{"big", {1ull << 62}, 0, {}}});
       },
       StatusCode::kCorruption, "overflow a 64-bit byte size"},
      {"tensor data truncated",
       [] {
         auto b = MakeGguf(GoodTensors());
         b.resize(b.size() - 4);
         return b;
       },
       StatusCode::kCorruption, "extends past the"},
      {"tensor past end of file",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, TensorInfoAt(b, "n") + 4 + 8 + 4, 1ull << 40);
         return b;
       },
       StatusCode::kCorruption, "'n': data"},
      {"tensor offset wraps",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, TensorInfoAt(b, "n") + 4 + 8 + 4, ~0ull - 31);
         return b;
       },
       StatusCode::kCorruption, "'n': data"},
      {"unaligned offset",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put64(&b, TensorInfoAt(b, "n") + 4 + 8 + 4, 4);
         return b;
       },
       StatusCode::kCorruption, "alignment"},
      {"q8_0 partial block",
       [] {
         return MakeGguf({{"q", {16, 1}, 8, std::vector<uint8_t>(34)}});
       },
       StatusCode::kCorruption, "Q8_0 row length ne0 = 16 is not a multiple of its block (32)"},
      {"duplicate tensor",
       [] {
         auto t = GoodTensors();
         t[1].name = "a";
         return MakeGguf(t);
       },
       StatusCode::kCorruption, "twice"},
      {"bad alignment",
       [] {
         Bytes b;
         b.Raw("GGUF", 4);
         b.U32(3);
         b.U64(0);
         b.U64(1);
         b.Str("general.alignment");
         b.U32(4);
         b.U32(3);
         return b.bytes();
       },
       StatusCode::kCorruption, "general.alignment"},
      {"scores length mismatch",
       [] {
         Bytes b;
         b.Raw("GGUF", 4);
         b.U32(3);
         b.U64(0);
         b.U64(3);
         b.Str("tokenizer.ggml.model");
         b.U32(8);
         b.Str("llama");
         b.Str("tokenizer.ggml.tokens");
         b.U32(9);
         b.U32(8);
         b.U64(2);
         b.Str("a");
         b.Str("b");
         b.Str("tokenizer.ggml.scores");
         b.U32(9);
         b.U32(6);
         b.U64(3);
         b.F32(0);
         b.F32(0);
         b.F32(0);
         return b.bytes();
       },
       StatusCode::kCorruption, "tokenizer.ggml.scores"},
      {"hparam wrong type",
       [] {
         auto b = MakeGguf(GoodTensors());
         Put32(&b, FindBytes(b, "llama.embedding_length") + 22, 6);  // f32 bits
         return b;
       },
       StatusCode::kCorruption, "llama.embedding_length"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<uint8_t> b = c.make();
    Result<SourceModel> m = ParseGguf(b.data(), b.size());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), c.code) << m.status().ToString();
    EXPECT_NE(m.status().message().find(c.message_part), std::string::npos)
        << m.status().ToString();
  }
}

TEST(BadGguf, TruncatedAtEveryLength) {
  std::vector<uint8_t> g = MakeGguf(GoodTensors());
  for (size_t len = 0; len < g.size(); ++len) {
    std::vector<uint8_t> t(g.begin(), g.begin() + len);  // exact-size heap copy for ASan
    Result<SourceModel> m = ParseGguf(t.data(), t.size());
    EXPECT_FALSE(m.ok()) << "length " << len;
    if (!m.ok()) {
      EXPECT_TRUE(m.status().IsCorruption()) << len << ": " << m.status().ToString();
    }
  }
}

TEST(BadGguf, ByteFlipsNeverCrash) {
  std::vector<uint8_t> g = MakeGguf(GoodTensors());
  for (size_t i = 0; i < g.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::vector<uint8_t> t = g;
      t[i] ^= mask;
      (void)ParseGguf(t.data(), t.size());
    }
  }
}

TEST(BadGguf, RealFileTruncated) {
  const std::string path = testing::SharedPath("models/stories260K/stories260K.gguf");
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing shared file " << path;
  std::vector<uint8_t> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(ParseGguf(all.data(), all.size()).ok());
  for (size_t len = 0; len < all.size(); len += (len < 15000 ? 7 : 4093)) {
    std::vector<uint8_t> t(all.begin(), all.begin() + len);
    EXPECT_FALSE(ParseGguf(t.data(), t.size()).ok()) << len;
  }
  std::vector<uint8_t> t(all.begin(), all.end() - 1);
  EXPECT_TRUE(ParseGguf(t.data(), t.size()).status().IsCorruption());
}

std::vector<uint8_t> GoodSafetensors() {
  testing_util::SafetensorsBuilder b;
  b.AddF32("x", {2, 3}, {1, 2, 3, 4, 5, 6});
  b.AddF16("y", {4}, {1, 2, 3, 4});
  return b.Build(R"({"format":"pt"})");
}

std::vector<uint8_t> SafetensorsWithHeader(const std::string& h, size_t data_bytes) {
  Bytes b;
  b.U64(h.size());
  b.Raw(h.data(), h.size());
  std::vector<uint8_t> zeros(data_bytes);
  b.Raw(zeros.data(), zeros.size());
  return b.bytes();
}

TEST(BadSafetensors, Table) {
  {
    std::vector<uint8_t> g = GoodSafetensors();
    Result<SourceModel> m = ParseSafetensors(g.data(), g.size());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->tensors.size(), 2u);
  }
  const std::vector<BadCase> cases = {
      {"too short",
       [] {
         return std::vector<uint8_t>{1, 2, 3};
       },
       StatusCode::kCorruption, "too short"},
      {"header length past end",
       [] {
         auto b = GoodSafetensors();
         Put64(&b, 0, 1ull << 40);
         return b;
       },
       StatusCode::kCorruption, "header length"},
      {"bad json", [] { return SafetensorsWithHeader("{\"x\":", 0); }, StatusCode::kCorruption,
       "JSON"},
      {"not an object", [] { return SafetensorsWithHeader("[]", 0); }, StatusCode::kCorruption,
       "not a JSON object"},
      {"unsupported dtype",
       [] {
         return SafetensorsWithHeader(R"({"w":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
                                      4);
       },
       StatusCode::kNotSupported, "'w': dtype I8"},
      {"offsets past end",
       [] {
         return SafetensorsWithHeader(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                      8);
       },
       StatusCode::kCorruption, "data_offsets"},
      {"size mismatch",
       [] {
         return SafetensorsWithHeader(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                      8);
       },
       StatusCode::kCorruption, "need 12 bytes"},
      {"negative dim",
       [] {
         return SafetensorsWithHeader(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})",
                                      0);
       },
       StatusCode::kCorruption, "shape"},
      {"shape overflow",
       [] {
         return SafetensorsWithHeader(
             R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}})",
             0);
       },
       StatusCode::kCorruption, "overflow"},
      {"missing dtype",
       [] { return SafetensorsWithHeader(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4); },
       StatusCode::kCorruption, "dtype"},
      {"deep nesting", [] { return SafetensorsWithHeader(std::string(5000, '['), 0); },
       StatusCode::kCorruption, "nesting"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<uint8_t> b = c.make();
    Result<SourceModel> m = ParseSafetensors(b.data(), b.size());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), c.code) << m.status().ToString();
    EXPECT_NE(m.status().message().find(c.message_part), std::string::npos)
        << m.status().ToString();
  }
  std::vector<uint8_t> g = GoodSafetensors();
  for (size_t len = 0; len < g.size(); ++len) {
    std::vector<uint8_t> t(g.begin(), g.begin() + len);
    EXPECT_FALSE(ParseSafetensors(t.data(), t.size()).ok()) << len;
  }
  for (size_t i = 0; i < g.size(); ++i) {
    std::vector<uint8_t> t = g;
    t[i] ^= 0xA5;
    (void)ParseSafetensors(t.data(), t.size());
  }
}

// A llama2.c checkpoint: dim 8, hidden 12, 1 layer, 2 heads, 1 KV head,
// vocab 6, seq 4 -> 568 floats after the header (shared classifier).
std::vector<uint8_t> Llama2c(int32_t vocab, size_t floats, std::vector<int32_t> hdr = {}) {
  if (hdr.empty()) hdr = {8, 12, 1, 2, 1, vocab, 4};
  Bytes b;
  for (int32_t v : hdr) b.U32(static_cast<uint32_t>(v));
  for (size_t i = 0; i < floats; ++i) b.F32(0.01f * static_cast<float>(i));
  return b.bytes();
}

Status ImportBytes(const std::vector<uint8_t>& bytes, const std::string& name = "model.bin") {
  const std::string dir = testing::TempDir();
  EXPECT_TRUE(testing_util::WriteFile(dir + "/" + name, bytes));
  Result<SourceModel> m = ImportModel(dir + "/" + name);
  return m.ok() ? Status::OK() : m.status();
}

TEST(BadLlama2c, Table) {
  {
    const std::string dir = testing::TempDir();
    ASSERT_TRUE(testing_util::WriteFile(dir + "/m.bin", Llama2c(6, 568)));
    Result<SourceModel> m = ImportModel(dir + "/m.bin");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->tensors.size(), 11u);
    EXPECT_EQ(m->info.tokenizer.kind, TokenizerKind::kNone);
    ASSERT_TRUE(testing_util::WriteFile(dir + "/u.bin", Llama2c(-6, 568 + 48)));
    m = ImportModel(dir + "/u.bin");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_FALSE(m->info.hparams.tied_embeddings);
    EXPECT_EQ(m->tensors.back().name, "output.weight");
  }
  Status s = ImportBytes(Llama2c(6, 567));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("implies 2300 bytes, file has 2296"), std::string::npos)
      << s.ToString();
  s = ImportBytes(Llama2c(-6, 568));  // untied header, tied size
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("untied"), std::string::npos) << s.ToString();
  s = ImportLlama2c("/nonexistent/model.bin").status();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(testing_util::WriteFile(dir + "/neg.bin", Llama2c(6, 568, {8, -12, 1, 2, 1, 6, 4})));
  s = ImportLlama2c(dir + "/neg.bin").status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("hidden_dim = -12"), std::string::npos);
  ASSERT_TRUE(testing_util::WriteFile(dir + "/heads.bin", Llama2c(6, 568, {8, 12, 1, 3, 1, 6, 4})));
  EXPECT_TRUE(ImportLlama2c(dir + "/heads.bin").status().IsCorruption());
  ASSERT_TRUE(testing_util::WriteFile(
      dir + "/huge.bin", Llama2c(6, 10, {1 << 30, 1 << 30, 1 << 30, 1, 1, 1 << 30, 1 << 30})));
  s = ImportLlama2c(dir + "/huge.bin").status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  ASSERT_TRUE(testing_util::WriteFile(dir + "/short.bin", std::string("abc")));
  EXPECT_TRUE(ImportLlama2c(dir + "/short.bin").status().IsCorruption());
  // Not plausible as any format.
  s = ImportBytes(std::vector<uint8_t>(100, 0xEE));
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_TRUE(ImportModel("/nonexistent/x.gguf").status().IsNotFound());
}

TEST(BadTokenizer, Llama2cBin) {
  const std::string dir = testing::TempDir();
  ASSERT_TRUE(testing_util::WriteFile(dir + "/m.bin", Llama2c(6, 568)));
  Bytes tok;
  tok.U32(3);
  for (int i = 0; i < 5; ++i) {  // 5 tokens, the model wants 6
    tok.F32(-1.0f * i);
    tok.U32(1);
    tok.U8(static_cast<uint8_t>('a' + i));
  }
  ASSERT_TRUE(testing_util::WriteFile(dir + "/tokenizer.bin", tok.bytes()));
  Status s = ImportLlama2c(dir + "/m.bin").status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  Result<TokenizerData> t = ImportTokenizer(dir + "/tokenizer.bin");  // standalone: all 5
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->tokens.size(), 5u);
  EXPECT_EQ(t->tokens[4], "e");
  EXPECT_EQ(t->scores[4], -4.0f);
  Bytes bad;
  bad.U32(3);
  bad.F32(0);
  bad.U32(0x7FFFFFFF);  // token length past the end
  ASSERT_TRUE(testing_util::WriteFile(dir + "/bad.bin", bad.bytes()));
  t = ImportTokenizer(dir + "/bad.bin");
  EXPECT_TRUE(t.status().IsCorruption()) << t.status().ToString();
  std::vector<uint8_t> full = tok.bytes();
  for (size_t len = 0; len < full.size(); ++len) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + len);
    ASSERT_TRUE(testing_util::WriteFile(dir + "/cut.bin", cut));
    Result<TokenizerData> r = ImportTokenizer(dir + "/cut.bin");
    // Whole tokens (9 bytes each after the 4-byte header) parse; a cut
    // inside a token, or no token at all, is an error.
    const bool whole = len >= 13 && (len - 4) % 9 == 0;
    EXPECT_EQ(r.ok(), whole) << len;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsCorruption()) << len;
    }
  }
}

TEST(BadTokenizer, HfJson) {
  const std::string dir = testing::TempDir();
  const std::vector<std::pair<std::string, StatusCode>> cases = {
      {R"({"model":{"vocab":{"a":0,"c":2}}})", StatusCode::kCorruption},  // gap
      {R"({"model":{"vocab":{"a":0,"b":7}}})", StatusCode::kCorruption},  // out of range
      {R"({"model":{"vocab":{"a":0,"b":0}}})", StatusCode::kCorruption},  // id reused
      {R"({"model":{"vocab":{"a":-1}}})", StatusCode::kCorruption},
      {R"({"model":{"vocab":{"a":"0"}}})", StatusCode::kCorruption},
      {R"({"model":{"vocab":[]}})", StatusCode::kCorruption},
      {R"({"model":{"vocab":{"a":0},"merges":[1]}})", StatusCode::kCorruption},
      {R"({"model":{"type":"Unigram","vocab":[]}})", StatusCode::kNotSupported},
      {R"({"model":{"vocab":{"a":0}}, "added_tokens":[{"id":1}]})", StatusCode::kCorruption},
      {R"({"model":)", StatusCode::kCorruption},
      // A repeated vocabulary string, and flags of the wrong JSON type
      // (found by reviewing the importer for issue 11).
      {R"({"model":{"vocab":{"a":0,"a":1}}})", StatusCode::kCorruption},
      {R"({"model":{"vocab":{"a":0},"byte_fallback":"true"}})", StatusCode::kCorruption},
      {R"({"model":{"vocab":{"a":0}}, "added_tokens":[{"id":1,"content":"b","special":1}]})",
       StatusCode::kCorruption},
  };
  for (const auto& [text, code] : cases) {
    SCOPED_TRACE(text);
    ASSERT_TRUE(testing_util::WriteFile(dir + "/tokenizer.json", text));
    Result<TokenizerData> t = ImportTokenizer(dir + "/tokenizer.json");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), code) << t.status().ToString();
  }
}

}  // namespace
}  // namespace tqf
