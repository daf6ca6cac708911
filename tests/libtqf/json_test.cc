// Tests for the internal JSON parser (tqf/internal/json.h): valid and
// invalid documents, escapes, the depth limit, truncation at every length,
// the shared Llama 3 tokenizer.json; and the escaping of untrusted strings
// for JSON and terminal output (tqf/internal/text.h).
#include "tqf/internal/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "test_util.h"
#include "tqf/internal/text.h"

namespace tqf::json {
namespace {

Value MustParse(const std::string& text) {
  Result<Value> r = Parse(text);
  EXPECT_TRUE(r.ok()) << text << " -> " << r.status().ToString();
  return r.ok() ? std::move(r).value() : Value();
}

void ExpectCorrupt(const std::string& text) {
  Result<Value> r = Parse(text);
  EXPECT_FALSE(r.ok()) << "accepted: " << text;
  if (!r.ok()) {
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    EXPECT_NE(r.status().message().find("at byte"), std::string::npos) << r.status().ToString();
  }
}

TEST(Json, Scalars) {
  EXPECT_TRUE(MustParse("null").is_null());
  EXPECT_TRUE(MustParse(" true ").as_bool());
  EXPECT_FALSE(MustParse("false").as_bool());
  EXPECT_TRUE(MustParse("false").is_bool());
  Value n = MustParse("-12");
  EXPECT_TRUE(n.is_int());
  EXPECT_EQ(n.as_int(), -12);
  EXPECT_DOUBLE_EQ(n.as_double(), -12.0);
  Value f = MustParse("1.5e3");
  EXPECT_FALSE(f.is_int());
  EXPECT_DOUBLE_EQ(f.as_double(), 1500.0);
  EXPECT_DOUBLE_EQ(MustParse("0.25").as_double(), 0.25);
  EXPECT_DOUBLE_EQ(MustParse("-0").as_double(), 0.0);
  EXPECT_EQ(MustParse("9223372036854775807").as_int(), INT64_MAX);
  Value big = MustParse("9223372036854775808");  // does not fit int64
  EXPECT_FALSE(big.is_int());
  EXPECT_DOUBLE_EQ(big.as_double(), 9223372036854775808.0);
  EXPECT_TRUE(std::isinf(MustParse("1e999").as_double()));
  EXPECT_EQ(MustParse("1e-999").as_double(), 0.0);
}

TEST(Json, ArraysAndObjects) {
  Value v = MustParse(R"({"a": [1, 2, {"b": null}], "c": "x", "a": 5, "e": {}, "f": []})");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.size(), 5u);
  ASSERT_NE(v.Find("a"), nullptr);
  EXPECT_TRUE(v.Find("a")->is_array());  // first of duplicate keys
  EXPECT_EQ(v.Find("a")->size(), 3u);
  EXPECT_TRUE(v.Find("a")->items()[2].Find("b")->is_null());
  EXPECT_EQ(v.Find("c")->as_string(), "x");
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_TRUE(v.Find("e")->is_object());
  EXPECT_EQ(v.Find("f")->size(), 0u);
  EXPECT_EQ(v.keys()[2], "a");
}

TEST(Json, Escapes) {
  EXPECT_EQ(MustParse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(MustParse(R"("\u0041\u00e9\u20ac")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(MustParse(R"("\u0000")").as_string(), std::string(1, '\0'));
  // U+1F600 as a surrogate pair.
  EXPECT_EQ(MustParse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("\uD83D\uDE00")").as_string(), "\xF0\x9F\x98\x80");
  // Raw UTF-8 passes through.
  EXPECT_EQ(MustParse("\"\xC4\xA0t\"").as_string(), "\xC4\xA0t");
}

TEST(Json, InvalidDocuments) {
  for (const char* bad : {"",
                          " ",
                          "{",
                          "}",
                          "[1,]",
                          "[1 2]",
                          "{\"a\" 1}",
                          "{\"a\":}",
                          "{a:1}",
                          "{\"a\":1,}",
                          "tru",
                          "nul",
                          "falsey",
                          "01",
                          "1.",
                          ".5",
                          "-",
                          "1e",
                          "1e+",
                          "+1",
                          "\"abc",
                          "\"\\x\"",
                          "\"\\u12\"",
                          "\"\\u12g4\"",
                          "\"\\ud800\"",
                          "\"\\ud800\\u0041\"",
                          "\"\\udc00\"",
                          "\"a\nb\"",
                          "[1] 2",
                          "{} {}",
                          "NaN",
                          "Infinity",
                          "[\"a\" \"b\"]",
                          "\"\\"}) {
    SCOPED_TRACE(bad);
    ExpectCorrupt(bad);
  }
}

TEST(Json, ErrorNamesByteOffset) {
  Result<Value> r = Parse("[1, 2, x]");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("at byte 7"), std::string::npos) << r.status().ToString();
}

TEST(Json, DepthLimit) {
  ParseOptions opt;
  opt.max_depth = 10;
  std::string ok = std::string(10, '[') + std::string(10, ']');
  EXPECT_TRUE(Parse(ok, opt).ok());
  std::string deep = std::string(11, '[') + std::string(11, ']');
  Result<Value> r = Parse(deep, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("nesting"), std::string::npos);
  // The default limit stops a stack-smashing document.
  std::string huge(1 << 20, '[');
  EXPECT_TRUE(Parse(huge).status().IsCorruption());
  std::string objs;
  for (int i = 0; i < 100000; ++i) objs += "{\"a\":";
  EXPECT_TRUE(Parse(objs).status().IsCorruption());
}

TEST(Json, TruncationAtEveryLengthNeverCrashes) {
  const std::string doc =
      R"({"version":"1.0","model":{"type":"BPE","vocab":{"a":0,"b\u00e9":1,"\ud83d\ude00":2},)"
      R"("merges":["a b",["b","c"]]},"n":[-1.5e-3,0,true,false,null],"s":"x\ty\\z"})";
  ASSERT_TRUE(Parse(doc).ok());
  for (size_t len = 0; len < doc.size(); ++len) {
    Result<Value> r = Parse(std::string_view(doc.data(), len));
    EXPECT_FALSE(r.ok()) << "prefix of length " << len << " accepted";
  }
  // Byte flips: any result is fine, as long as nothing crashes.
  for (size_t i = 0; i < doc.size(); ++i) {
    std::string d = doc;
    d[i] = static_cast<char>(d[i] ^ 0x5a);
    (void)Parse(d);
  }
}

// Parse speed is measured by bench/tokenizer_bench.cc (BM_JsonParseLlama3Tokenizer).
TEST(Json, ParsesLlama3Tokenizer) {
  const std::string path = testing::SharedPath("models/llama3-tokenizer/tokenizer.json");
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing shared file " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  Result<Value> r = Parse(ss.str());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Value* model = r->Find("model");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Find("vocab")->size(), 128000u);
  EXPECT_EQ(model->Find("merges")->size(), 280147u);
}

// Issue 11, defect 9: --json output must stay JSON and terminal output must
// carry no control sequences, whatever bytes a file's names hold.
TEST(TextEscaping, JsonEscapeAlwaysGivesValidJson) {
  const std::string nasty = std::string("a\"b\\c\x1b]0;x\x07\n\x7f\xff\xfe") + "\xc3" +
                            "\xe6\x9d\xb1" /* valid 東 */ + std::string(1, '\0') + "end";
  const std::string doc = "{\"k\": \"" + JsonEscape(nasty) + "\"}";
  Result<Value> r = Parse(doc);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << " in " << doc;
  const std::string& back = r->Find("k")->as_string();
  EXPECT_EQ(back, std::string("a\"b\\c\x1b]0;x\x07\n\x7f\\xff\\xfe\\xc3\xe6\x9d\xb1") +
                      std::string(1, '\0') + "end");
  EXPECT_EQ(JsonNumber(std::numeric_limits<float>::infinity()), "null");
  EXPECT_EQ(JsonNumber(std::nanf("")), "null");
  EXPECT_EQ(JsonNumber(1e-5f), "1e-05");
  EXPECT_EQ(JsonNumber(10000.0f), "10000");
}

TEST(TextEscaping, TerminalSafeRemovesControlSequences) {
  const std::string out = TerminalSafe(std::string("ok \x1b[31mred\x07 \xc2\x9b \xff tab\t 東"));
  for (char c : out) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_FALSE(u < 0x20 || u == 0x7f) << "control byte " << int(u) << " in " << out;
  }
  EXPECT_EQ(out, "ok \\x1b[31mred\\x07 \\xc2\\x9b \\xff tab\\t 東");
}

}  // namespace
}  // namespace tqf::json
