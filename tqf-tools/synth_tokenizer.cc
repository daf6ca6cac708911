// The shapes `tqf synth` knows and the small byte-level vocabulary of its
// synthetic models (see synth.h).
#include <string>

#include "synth.h"
#include "tqf/internal/utf8.h"

namespace tqf::tools {
namespace {

const SynthShape kShapes[] = {
    // meta-llama/Llama-3.2-1B config.json.
    {"llama-3.2-1b", "Llama 3.2 1B: 16 layers, dim 2048, ffn 8192, 32/8 heads, vocab 128256, tied",
     16, 2048, 8192, 32, 8, 128256, 131072, true, 500000.0f, 1e-5f, 32.0f, 1.0f, 4.0f, 8192},
    // HuggingFaceTB/SmolLM-135M config.json.
    {"smollm-135m", "SmolLM 135M: 30 layers, dim 576, ffn 1536, 9/3 heads, vocab 49152, tied", 30,
     576, 1536, 9, 3, 49152, 2048, true, 10000.0f, 1e-5f, 0.0f, 0.0f, 0.0f, 0},
    // For tests: small, untied, grouped-query attention.
    {"tiny", "for tests: 2 layers, dim 64, ffn 192, 4/2 heads, vocab 512, untied", 2, 64, 192, 4, 2,
     512, 256, false, 10000.0f, 1e-5f, 0.0f, 0.0f, 0.0f, 0},
    // For interop tests: every row a whole number of llama.cpp's 256-blocks
    // (K-quants), head_dim 64.
    {"tiny256", "for tests: 2 layers, dim 256, ffn 512, 4/2 heads, vocab 512, untied", 2, 256, 512,
     4, 2, 512, 512, false, 10000.0f, 1e-5f, 0.0f, 0.0f, 0.0f, 0},
    // For interop tests: tiny256 with Llama 3 rope scaling whose original
    // context is 32 positions, so the scaling changes attention within a
    // few dozen positions.
    {"tiny-llama3", "for tests: tiny256 with Llama 3 rope scaling (factor 8, original context 32)",
     2, 256, 512, 4, 2, 512, 512, false, 500000.0f, 1e-5f, 8.0f, 1.0f, 4.0f, 32},
};

// GPT-2's byte-to-unicode character for `b`, as UTF-8.
std::string ByteChar(int b) {
  std::string s;
  AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &s);
  return s;
}

// Filler word number `i`: " " + a letter string of length >= 3 in
// bijective base 26 (offset past the 702 strings of 1 and 2 letters), so
// fillers are unique and differ from every merge token.
std::string FillerToken(uint64_t i) {
  uint64_t n = i + 703;
  std::string word;
  while (n > 0) {
    --n;
    word.insert(word.begin(), static_cast<char>('a' + n % 26));
    n /= 26;
  }
  return ByteChar(' ') + word;
}

}  // namespace

const SynthShape* SynthShapes(size_t* count) {
  *count = sizeof(kShapes) / sizeof(kShapes[0]);
  return kShapes;
}

const SynthShape* FindSynthShape(const std::string& name) {
  for (const SynthShape& s : kShapes) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

TokenizerData SynthTokenizer(uint32_t vocab_size) {
  TokenizerData tok;
  tok.kind = TokenizerKind::kByteLevelBpe;
  tok.pre_split_regex = "llama-bpe";
  const uint32_t n_special = vocab_size >= 4096 ? 256 : 2;
  const uint32_t special_start = vocab_size - n_special;
  for (int b = 0; b < 256; ++b) tok.tokens.push_back(ByteChar(b));
  // Merges: " a".." z", then "aa".."zz", while there is room.
  const std::string space = ByteChar(' ');
  for (char a = 'a'; a <= 'z' && tok.tokens.size() < special_start; ++a) {
    tok.merges.push_back(space + " " + a);
    tok.tokens.push_back(space + a);
  }
  for (char a = 'a'; a <= 'z'; ++a) {
    for (char b = 'a'; b <= 'z' && tok.tokens.size() < special_start; ++b) {
      tok.merges.push_back(std::string(1, a) + " " + b);
      tok.tokens.push_back(std::string(1, a) + b);
    }
  }
  for (uint64_t i = 0; tok.tokens.size() < special_start; ++i) tok.tokens.push_back(FillerToken(i));
  tok.tokens.push_back("<|begin_of_text|>");
  tok.tokens.push_back("<|end_of_text|>");
  for (uint32_t i = 0; tok.tokens.size() < vocab_size; ++i) {
    tok.tokens.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  }
  tok.token_types.assign(vocab_size, 1);                                         // normal
  for (uint32_t i = special_start; i < vocab_size; ++i) tok.token_types[i] = 3;  // control
  tok.bos_id = static_cast<int32_t>(special_start);
  tok.eos_id = static_cast<int32_t>(special_start + 1);
  tok.add_bos = true;
  return tok;
}

void PadTokenizer(uint32_t vocab_size, TokenizerData* tok) {
  for (uint64_t i = 0; tok->tokens.size() < vocab_size; ++i) {
    tok->tokens.push_back("<|synth_pad_" + std::to_string(i) + "|>");
    if (!tok->token_types.empty()) tok->token_types.push_back(5);  // unused
    if (!tok->scores.empty()) tok->scores.push_back(0.0f);
  }
}

}  // namespace tqf::tools
