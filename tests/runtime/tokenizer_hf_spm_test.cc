// The SentencePiece-style tokenizer.json path (scores derived from merge
// ranks) against the llama2.c tokenizer.bin path on the same vocabulary: a
// tokenizer.json is made from Llama 2's tokenizer.bin the way Hugging Face's
// converter makes one (every split of a token into two tokens is a merge,
// ranked by the token's score), then both must encode alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "test_util.h"
#include "tqf/import.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::rt {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Metaspace(const std::string& t) {
  std::string out;
  for (char c : t) out += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  return out;
}

// Splits of `t` at codepoint boundaries into two vocabulary tokens.
void AddSplits(const std::string& t, float score,
               const std::unordered_map<std::string, int32_t>& ids,
               std::vector<std::pair<float, std::string>>* merges) {
  std::vector<std::pair<std::pair<int32_t, int32_t>, std::string>> local;
  for (size_t i = 1; i < t.size(); ++i) {
    if ((static_cast<unsigned char>(t[i]) & 0xC0) == 0x80) continue;
    auto l = ids.find(t.substr(0, i)), r = ids.find(t.substr(i));
    if (l == ids.end() || r == ids.end()) continue;
    local.push_back({{l->second, r->second}, t.substr(0, i) + " " + t.substr(i)});
  }
  std::sort(local.begin(), local.end());
  for (auto& x : local) merges->emplace_back(score, x.second);
}

// tokenizer.json text for a llama2.c vocabulary (ids 1 and 2: <s>, </s>).
std::string HfJsonFrom(const TokenizerData& bin) {
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < bin.tokens.size(); ++i) {
    tokens.push_back(i == 1 ? "<s>" : i == 2 ? "</s>" : Metaspace(bin.tokens[i]));
    ids.emplace(tokens.back(), static_cast<int32_t>(i));
  }
  std::vector<std::pair<float, std::string>> merges;
  for (size_t i = 3; i < tokens.size(); ++i) AddSplits(tokens[i], bin.scores[i], ids, &merges);
  std::stable_sort(merges.begin(), merges.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string j = R"({"version": "1.0", "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
    {"id": 2, "content": "</s>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing", "single": [
      {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "vocab": {)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    j += (i ? "," : "") + JsonString(tokens[i]) + ":" + std::to_string(i);
  }
  j += "}, \"merges\": [";
  for (size_t i = 0; i < merges.size(); ++i) j += (i ? "," : "") + JsonString(merges[i].second);
  return j + "]}}";
}

TEST(SentencePieceJson, EncodesLikeTokenizerBin) {
  Result<TokenizerData> bin =
      ImportTokenizer(testing::SharedPath("models/llama2-tokenizer/tokenizer.bin"));
  ASSERT_TRUE(bin.ok()) << bin.status().ToString();
  const std::string path = testing::TempDir() + "/llama2_spm_tokenizer.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << HfJsonFrom(*bin);
  }
  Result<TokenizerData> json = ImportTokenizer(path);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->kind, TokenizerKind::kSentencePieceBpe);
  EXPECT_EQ(json->tokens.size(), 32000u);
  EXPECT_EQ(json->bos_id, 1);
  EXPECT_EQ(json->eos_id, 2);
  EXPECT_TRUE(json->add_bos);
  auto a = Tokenizer::Create(*bin);
  auto b = Tokenizer::Create(*json);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<std::string> texts = {
      "Hello world",
      "Once upon a time, there was a little girl named Lily.",
      " leading space",
      "   three leading spaces",
      "two  spaces and a tab\there",
      "new\nlines\n\nand more",
      "unicode: caf\xC3\xA9 na\xC3\xAFve \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80 emoji",
      "byte fallback: \xF0\x9F\xA6\x99 \xE1\x9A\xA0 \xEA\xAF\x8D",
      "numbers 1234567890 and punctuation!?;:'\"()[]{}",
      "code: int main() { return 0; }",
      "",
      "a",
  };
  for (const std::string& t : texts) {
    const std::vector<int32_t> want = (*a)->Encode(t, true);
    EXPECT_EQ((*b)->Encode(t, true), want) << "'" << t << "'";
    EXPECT_EQ((*b)->Decode(want), (*a)->Decode(want)) << "'" << t << "'";
  }
  // A known Llama 2 encoding (SentencePiece / Hugging Face give these ids).
  EXPECT_EQ((*b)->Encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tqf::rt
