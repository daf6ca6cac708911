// Tokenizer tests: known encodings of the Llama 2, llama2.c (stories260K)
// and Llama 3 vocabularies, round trips, the fast merge loop against naive
// re-implementations of llama2.c and GPT-2 BPE on random texts, the
// hand-written pre-tokenizer against the regex, and bad tokenizer data.
#include "tqf/rt/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "test_util.h"
#include "tokenizer_internal.h"
#include "tqf/import.h"
#include "unicode_classes.h"

namespace tqf::rt {
namespace {

using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> Load(const std::string& rel) {
  auto data = ImportTokenizer(testing::SharedPath(rel));
  EXPECT_TRUE(data.ok()) << rel << ": " << data.status().ToString();
  if (!data.ok()) return nullptr;
  auto tok = Tokenizer::Create(*data);
  EXPECT_TRUE(tok.ok()) << rel << ": " << tok.status().ToString();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

const char kStories[] = "models/stories260K/tok512.bin";
const char kLlama2[] = "models/llama2-tokenizer/tokenizer.bin";
const char kLlama3[] = "models/llama3-tokenizer/tokenizer.json";

// llama2.c's encode(), transcribed: O(n^2) merging by best score.
Ids NaiveLlama2cEncode(const TokenizerData& t, const std::string& text, bool bos) {
  std::unordered_map<std::string, int32_t> lut;
  for (size_t i = 0; i < t.tokens.size(); ++i) lut.emplace(t.tokens[i], static_cast<int32_t>(i));
  auto lookup = [&](const std::string& s) {
    auto it = lut.find(s);
    return it == lut.end() ? -1 : it->second;
  };
  Ids tokens;
  if (bos) tokens.push_back(1);
  if (!text.empty()) tokens.push_back(lookup(" "));
  std::string buf;
  for (size_t c = 0; c < text.size(); ++c) {
    if ((text[c] & 0xC0) != 0x80) buf.clear();
    buf.push_back(text[c]);
    if (c + 1 < text.size() && (text[c + 1] & 0xC0) == 0x80 && buf.size() < 4) continue;
    int32_t id = lookup(buf);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (char b : buf) tokens.push_back(static_cast<uint8_t>(b) + 3);
    }
    buf.clear();
  }
  while (true) {
    float best_score = -1e10f;
    int32_t best_id = -1;
    int best_idx = -1;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      int32_t id = lookup(t.tokens[tokens[i]] + t.tokens[tokens[i + 1]]);
      if (id != -1 && t.scores[id] > best_score) {
        best_score = t.scores[id];
        best_id = id;
        best_idx = static_cast<int>(i);
      }
    }
    if (best_idx == -1) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + best_idx + 1);
  }
  return tokens;
}

// Random text mixing ASCII words, punctuation, whitespace runs, multi-byte
// characters, digits and (optionally) invalid UTF-8 bytes.
std::string RandomText(std::mt19937* rng, size_t len, bool invalid_bytes) {
  static const char* kParts[] = {"the",  "The",  " a",      " time", "Once",  " upon", "ing",  "ed",
                                 " ",    "  ",   "\n",      "\n\n",  "\t",    "'s",    "'LL",  "!",
                                 ",",    ".",    "...",     "42",    "12345", "é",     "ö",    "—",
                                 "東京", "🙂", "Ünïcödé", "ß",     "٣",     "½",     "\r\n", "__",
                                 "()",   " '",   "x",       "q",     "zz",    "<",     "|>"};
  std::string s;
  std::uniform_int_distribution<size_t> pick(0, std::size(kParts) - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  while (s.size() < len) {
    if (invalid_bytes && (*rng)() % 23 == 0) {
      s.push_back(static_cast<char>(byte(*rng)));
    } else {
      s += kParts[pick(*rng)];
    }
  }
  return s;
}

TEST(Unicode, Classes) {
  EXPECT_TRUE(IsLetter('a'));
  EXPECT_TRUE(IsLetter(0xE9));    // é
  EXPECT_TRUE(IsLetter(0x6771));  // 東
  EXPECT_FALSE(IsLetter('1'));
  EXPECT_TRUE(IsNumber(0x663));  // Arabic-Indic three
  EXPECT_TRUE(IsNumber(0xBD));   // ½ (No)
  EXPECT_FALSE(IsNumber(0x1F642));
  EXPECT_TRUE(IsWhiteSpace(0x3000));
  EXPECT_TRUE(IsWhiteSpace(0x85));
  EXPECT_FALSE(IsWhiteSpace(0x1C));  // Python's isspace() says yes; White_Space says no
  EXPECT_FALSE(IsWhiteSpace(0x200B));
  EXPECT_EQ(ByteToCodepoint(' '), 0x120u);
  EXPECT_EQ(ByteToCodepoint('\n'), 0x10Au);
  EXPECT_EQ(ByteToCodepoint('A'), static_cast<uint32_t>('A'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(CodepointToByte(ByteToCodepoint(b)), b);
}

TEST(PreSplit, MatchesLlama3Regex) {
  // Expected pieces from Python's `regex` module with the Llama 3 pattern.
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"Hello world!", {"Hello", " world", "!"}},
      {"  hi\n\n there  ", {" ", " hi", "\n\n", " there", "  "}},
      {"I'M here, you'LL see's 'sa",
       {"I", "'M", " here", ",", " you", "'LL", " see", "'s", " '", "sa"}},
      {"12345 abc 1.5e10", {"123", "45", " abc", " ", "1", ".", "5", "e", "10"}},
      {"héllo wörld — 東京 🙂", {"héllo", " wörld", " —", " 東京", " 🙂"}},
      {"a\r\n\r\n  b\t\tc", {"a", "\r\n\r\n", " ", " b", "\t", "\tc"}},
      {"x  \n y", {"x", "  \n", " y"}},
      {"__init__()", {"__", "init", "__()"}},
      {" !!!\n\nfoo", {" !!!\n\n", "foo"}},
      {"٣٤٥ ½", {"٣٤٥", " ", "½"}},
  };
  for (const auto& [text, want] : cases) {
    std::vector<std::string_view> got;
    tokenizer_internal::PreSplit(text, PreTokenizer::kLlama3, &got);
    EXPECT_EQ(std::vector<std::string>(got.begin(), got.end()), want) << text;
  }
}

TEST(SentencePiece, Stories260KOnceUponATime) {
  auto tok = Load(kStories);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 512);
  // What llama2.c's encode() gives (checked against NaiveLlama2cEncode).
  EXPECT_EQ(tok->Encode("Once upon a time", true), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->Decode({1, 403, 407, 261, 378}), "Once upon a time");
}

TEST(SentencePiece, Llama2KnownEncodings) {
  auto tok = Load(kLlama2);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->Encode("Once upon a time", true), (Ids{1, 9038, 2501, 263, 931}));
  // The emoji is not in the vocabulary: byte fallback <0xF0><0x9F><0x99><0x82>.
  Ids ids = tok->Encode("héllo wörld — 東京 🙂", true);
  EXPECT_EQ(ids, (Ids{1, 298, 3610, 417, 281, 1340, 430, 813, 29871, 30591, 30675, 29871, 243, 162,
                      156, 133}));
  EXPECT_EQ(tok->Decode(ids), "héllo wörld — 東京 🙂");
}

TEST(SentencePiece, RoundTrips) {
  for (const char* file : {kStories, kLlama2}) {
    auto tok = Load(file);
    ASSERT_NE(tok, nullptr);
    for (const std::string text :
         {"", "a", "Hello, world!\n", "  leading and trailing  ", "héllo wörld — 東京 🙂",
          "tab\tnew\nline\r\n", "\x01\x7f", "Ünïcödé ß ٣ ½ ∑∫ 𝔘"}) {
      for (bool bos : {false, true}) {
        Ids ids = tok->Encode(text, bos);
        EXPECT_EQ(tok->Decode(ids), text) << file << " '" << text << "'";
        std::string streamed;
        int32_t prev = -1;
        for (int32_t id : ids) {
          streamed += tok->DecodePiece(prev, id);
          prev = id;
        }
        if (bos) {  // llama2.c strips the dummy prefix only after BOS
          EXPECT_EQ(streamed, text) << file << " '" << text << "'";
        }
      }
    }
  }
}

TEST(SentencePiece, DecodePieceLikeLlama2c) {
  auto tok = Load(kLlama2);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->DecodePiece(1, 9038), "Once");  // space dropped after BOS
  EXPECT_EQ(tok->DecodePiece(9038, 2501), " upon");
  EXPECT_EQ(tok->DecodePiece(9038, 13), "\n");   // <0x0A>
  EXPECT_EQ(tok->DecodePiece(9038, 1), "");      // BOS is special
  EXPECT_EQ(tok->DecodePiece(9038, 32000), "");  // out of range
  EXPECT_TRUE(tok->IsSpecial(1));
  EXPECT_TRUE(tok->IsSpecial(2));
  EXPECT_FALSE(tok->IsSpecial(9038));
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
}

TEST(SentencePiece, MatchesNaiveLlama2cOnRandomTexts) {
  for (const char* file : {kStories, kLlama2}) {
    auto data = ImportTokenizer(testing::SharedPath(file));
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    auto tok = Tokenizer::Create(*data);
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 60; ++iter) {
      std::string text = RandomText(&rng, 1 + rng() % 300, iter % 2 == 1);
      bool bos = iter % 3 != 0;
      ASSERT_EQ((*tok)->Encode(text, bos), NaiveLlama2cEncode(*data, text, bos))
          << file << " iteration " << iter;
      if (iter % 2 == 0) {  // texts without invalid UTF-8 come back exactly
        EXPECT_EQ((*tok)->Decode((*tok)->Encode(text, bos)), text);
      }
    }
  }
}

// stories260K.gguf carries the same vocabulary as tok512.bin (GGUF spells
// spaces U+2581 and types its tokens); both must encode alike.
TEST(SentencePiece, GgufTokenizerMatchesTokenizerBin) {
  auto bin = Load(kStories);
  auto model = ImportModel(testing::SharedPath("models/stories260K/stories260K.gguf"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto gguf = Tokenizer::Create(model->info.tokenizer);
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  ASSERT_NE(bin, nullptr);
  std::mt19937 rng(11);
  for (int iter = 0; iter < 30; ++iter) {
    std::string text = RandomText(&rng, 1 + rng() % 200, false);
    Ids ids = (*gguf)->Encode(text, true);
    ASSERT_EQ(ids, bin->Encode(text, true)) << iter;
    EXPECT_EQ((*gguf)->Decode(ids), text) << iter;
  }
}

// Speed on long texts is measured by bench/tokenizer_bench.cc.
TEST(SentencePiece, LongTextRoundTrips) {
  auto tok = Load(kLlama2);
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(7);
  std::string text = RandomText(&rng, 30000, false);
  Ids ids = tok->Encode(text, true);
  EXPECT_EQ(tok->Decode(ids), text);
}

TEST(ByteLevel, Llama3KnownEncodings) {
  auto tok = Load(kLlama3);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 128256);
  EXPECT_EQ(tok->bos_id(), 128000);
  EXPECT_EQ(tok->Encode("Hello world!", false), (Ids{9906, 1917, 0}));
  EXPECT_EQ(tok->Encode("Once upon a time", false), (Ids{12805, 5304, 264, 892}));
  EXPECT_EQ(tok->Encode(" 12345 tokens", false), (Ids{220, 4513, 1774, 11460}));
  EXPECT_EQ(tok->Encode("Hello world!", true), (Ids{128000, 9906, 1917, 0}));
}

TEST(ByteLevel, SpecialTokensOnlyWithParseSpecial) {
  auto tok = Load(kLlama3);
  ASSERT_NE(tok, nullptr);
  const std::string text = "<|begin_of_text|>Hello world!<|eot_id|>";
  Ids parsed = tok->Encode(text, false, /*parse_special=*/true);
  ASSERT_EQ(parsed.size(), 5u);
  EXPECT_EQ(parsed[0], 128000);
  EXPECT_EQ((Ids{parsed[1], parsed[2], parsed[3]}), (Ids{9906, 1917, 0}));
  EXPECT_TRUE(tok->IsSpecial(parsed[4]));
  EXPECT_EQ(tok->TokenText(parsed[4]), "<|eot_id|>");
  EXPECT_EQ(tok->Decode(parsed), "Hello world!");
  EXPECT_EQ(tok->Decode(parsed, /*render_special=*/true), text);
  Ids plain = tok->Encode(text, false);
  for (int32_t id : plain) EXPECT_FALSE(tok->IsSpecial(id));
  EXPECT_EQ(tok->Decode(plain), text);
}

TEST(ByteLevel, RoundTripsAnyBytes) {
  auto tok = Load(kLlama3);
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(99);
  for (int iter = 0; iter < 40; ++iter) {
    std::string text = RandomText(&rng, 1 + rng() % 400, iter % 2 == 1);
    Ids ids = tok->Encode(text, true);
    EXPECT_EQ(tok->Decode(ids), text) << iter;
    std::string streamed;
    for (size_t i = 0; i < ids.size(); ++i)
      streamed += tok->DecodePiece(i ? ids[i - 1] : -1, ids[i]);
    EXPECT_EQ(streamed, text) << iter;
  }
}

// GPT-2 BPE done naively: each pre-split piece, unless it is a token
// itself, merged by repeatedly taking the lowest-ranked adjacent pair.
TEST(ByteLevel, MatchesNaiveBpeOnRandomTexts) {
  auto data = ImportTokenizer(testing::SharedPath(kLlama3));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  auto tok = Tokenizer::Create(*data);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  std::unordered_map<std::string, int32_t> vocab, rank;
  for (size_t i = 0; i < data->tokens.size(); ++i) vocab.emplace(data->tokens[i], i);
  for (size_t r = 0; r < data->merges.size(); ++r) rank.emplace(data->merges[r], r);
  std::mt19937 rng(5);
  for (int iter = 0; iter < 40; ++iter) {
    std::string text = RandomText(&rng, 1 + rng() % 400, iter % 2 == 1);
    std::vector<std::string_view> words;
    tokenizer_internal::PreSplit(text, PreTokenizer::kLlama3, &words);
    Ids want;
    for (std::string_view w : words) {
      std::vector<std::string> syms;
      for (char c : w) {
        syms.emplace_back();
        AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(c)), &syms.back());
      }
      std::string whole;
      for (const auto& s : syms) whole += s;
      if (vocab.count(whole)) {
        want.push_back(vocab[whole]);
        continue;
      }
      while (true) {
        int best = -1, best_rank = INT32_MAX;
        for (size_t i = 0; i + 1 < syms.size(); ++i) {
          auto it = rank.find(syms[i] + " " + syms[i + 1]);
          if (it != rank.end() && it->second < best_rank) best_rank = it->second, best = i;
        }
        if (best < 0) break;
        syms[best] += syms[best + 1];
        syms.erase(syms.begin() + best + 1);
      }
      for (const auto& s : syms) want.push_back(vocab.at(s));
    }
    ASSERT_EQ((*tok)->Encode(text, false), want) << iter;
  }
}

// The first 200,000 bytes of WikiText-2 (test), encoded by a Python
// reference (the `regex` module's findall with the Llama 3 pattern, then
// rank-ordered BPE with ignore_merges): 45,735 ids whose space-separated
// decimal text has FNV-1a-64 hash 0x714737f36069cc3f.
TEST(ByteLevel, WikiTextMatchesPythonReference) {
  auto tok = Load(kLlama3);
  ASSERT_NE(tok, nullptr);
  FILE* f = std::fopen(testing::SharedPath("eval/text/wikitext-2-raw-test.txt").c_str(), "rb");
  ASSERT_NE(f, nullptr) << "missing WikiText-2 under the shared directory";
  std::string text(200000, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), f));
  std::fclose(f);
  ASSERT_EQ(text.size(), 200000u);
  Ids ids = tok->Encode(text, false);
  std::string joined;
  for (size_t i = 0; i < ids.size(); ++i) joined += (i ? " " : "") + std::to_string(ids[i]);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : joined) hash = (hash ^ c) * 0x100000001b3ull;
  EXPECT_EQ(ids.size(), 45735u);
  EXPECT_EQ(hash, 0x714737f36069cc3full);
  EXPECT_EQ(tok->Decode(ids), text);
}

TEST(ByteLevel, LongTextRoundTrips) {
  auto tok = Load(kLlama3);
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(3);
  std::string text = RandomText(&rng, 30000, true);
  text += std::string(20000, ' ') + std::string(20000, 'a');  // long single pieces
  Ids ids = tok->Encode(text, false);
  EXPECT_EQ(tok->Decode(ids), text);
}

// A hand-made byte-level vocabulary: bytes, then merges "a b" -> "ab",
// "ab c" -> "abc", and a special token.
TokenizerData SmallByteLevel() {
  TokenizerData d;
  d.kind = TokenizerKind::kByteLevelBpe;
  for (int b = 0; b < 256; ++b) {
    d.tokens.emplace_back();
    AppendUtf8(ByteToCodepoint(b), &d.tokens.back());
  }
  d.tokens.push_back("ab");
  d.tokens.push_back("abc");
  d.tokens.push_back("<|end|>");
  d.merges = {"a b", "ab c"};
  d.eos_id = 258;
  return d;
}

TEST(ByteLevel, SmallVocabulary) {
  auto tok = Tokenizer::Create(SmallByteLevel());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("abcab", false), (Ids{257, 256}));
  EXPECT_EQ((*tok)->Encode("x abc", false), (Ids{'x', ' ', 257}));  // " abc": no merge with ' '
  EXPECT_TRUE((*tok)->IsSpecial(258));
  EXPECT_EQ((*tok)->bos_id(), -1);
  EXPECT_EQ((*tok)->Encode("abc", true), (Ids{257}));  // no BOS in this vocabulary
}

TEST(TokenizerCreate, RejectsBadData) {
  TokenizerData none;
  EXPECT_TRUE(Tokenizer::Create(none).status().IsNotSupported());

  TokenizerData spm;
  spm.kind = TokenizerKind::kSentencePieceBpe;
  EXPECT_TRUE(Tokenizer::Create(spm).status().IsInvalidArgument());  // no tokens
  spm.tokens = {"<unk>", "a", "b"};
  EXPECT_TRUE(Tokenizer::Create(spm).status().IsInvalidArgument());  // no scores
  spm.scores = {0, 0, 0};
  spm.bos_id = 3;
  EXPECT_TRUE(Tokenizer::Create(spm).status().IsInvalidArgument());  // bos out of range
  spm.bos_id = -1;
  spm.token_types = {1, 1};
  EXPECT_TRUE(Tokenizer::Create(spm).status().IsInvalidArgument());  // types length
  spm.token_types.clear();
  EXPECT_TRUE(Tokenizer::Create(spm).ok());

  TokenizerData bpe = SmallByteLevel();
  bpe.merges.push_back("abc");
  EXPECT_TRUE(Tokenizer::Create(bpe).status().IsCorruption());
  bpe.merges.back() = "abc zz";
  EXPECT_TRUE(Tokenizer::Create(bpe).status().IsCorruption());
  bpe = SmallByteLevel();
  bpe.pre_split_regex = "\\w+";
  EXPECT_TRUE(Tokenizer::Create(bpe).status().IsNotSupported());
}

TEST(SentencePiece, GgufSpellingWithU2581) {
  // GGUF spells spaces as U+2581; it must encode like tokenizer.bin's ' '.
  TokenizerData d;
  d.kind = TokenizerKind::kSentencePieceBpe;
  d.tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "\xE2\x96\x81hi"};
  d.scores = {0, 0, 0, -1, -2, -2, -3, -4};
  d.token_types = {2, 3, 3, 1, 1, 1, 1, 1};
  d.unk_id = 0;
  d.bos_id = 1;
  d.eos_id = 2;
  auto tok = Tokenizer::Create(d);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("hi", true), (Ids{1, 7}));
  EXPECT_EQ((*tok)->Decode({1, 7}), "hi");
  // No byte tokens: unknown characters become <unk> and decode to nothing.
  EXPECT_EQ((*tok)->Encode("hx", false), (Ids{6, 0}));
  EXPECT_EQ((*tok)->Encode("<s>hi", false, /*parse_special=*/true), (Ids{1, 7}));
}

}  // namespace
}  // namespace tqf::rt
