// Tokenizer speed: parsing tokenizer.json, and encoding long texts, and its growth with the text's
// length (Google Benchmark fits the complexity: it must stay near linear;
// a quadratic merge loop or pre-tokenizer shows as O(N^2)).
//   build/bin/tokenizer_bench
// Texts: random mixes of words, whitespace, digits and non-ASCII (as the
// unit tests use), plus, for the byte-level BPE, one long run of spaces and
// one of 'a' (single pre-tokenizer pieces of N/4 bytes each).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "tqf/import.h"
#include "tqf/internal/json.h"
#include "tqf/rt/tokenizer.h"

namespace {

std::string SharedPath(const std::string& rel) {
  const char* env = std::getenv("TQF_SHARED_DIR");
  return std::string(env && *env ? env : TQF_SHARED_DIR) + "/" + rel;
}

std::string RandomText(size_t len, uint32_t seed) {
  static const char* kParts[] = {
      "the", " a", " time", "Once",  " upon", "ing",  "ed",   " ", "  ",   "\n", "\t", "'s", "!",
      ",",   ".",  "42",    "12345", "é",     "東京", "🙂", "ß", "\r\n", "()", "x",  "zz"};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, std::size(kParts) - 1);
  std::string s;
  while (s.size() < len) s += kParts[pick(rng)];
  return s;
}

std::unique_ptr<tqf::rt::Tokenizer> Load(const char* rel) {
  auto data = tqf::ImportTokenizer(SharedPath(rel));
  if (!data.ok()) return nullptr;
  auto tok = tqf::rt::Tokenizer::Create(*data);
  return tok.ok() ? std::move(tok).value() : nullptr;
}

void Encode(benchmark::State& state, const char* rel, bool long_pieces) {
  static std::unique_ptr<tqf::rt::Tokenizer> tok;
  static const char* loaded = nullptr;
  if (loaded != rel) {
    tok = Load(rel);
    loaded = rel;
  }
  if (tok == nullptr) {
    state.SkipWithError((std::string("cannot load ") + SharedPath(rel)).c_str());
    return;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  std::string text = RandomText(long_pieces ? n / 2 : n, 7);
  if (long_pieces) text += std::string(n / 4, ' ') + std::string(n / 4, 'a');
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = tok->Encode(text, false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.SetComplexityN(static_cast<int64_t>(text.size()));
}

void BM_SentencePieceLlama2(benchmark::State& state) {
  Encode(state, "models/llama2-tokenizer/tokenizer.bin", false);
}
void BM_ByteLevelLlama3(benchmark::State& state) {
  Encode(state, "models/llama3-tokenizer/tokenizer.json", true);
}

// Parsing the Llama 3 tokenizer.json (6 MB: 128K vocabulary entries, 280K
// merges) with the internal JSON parser, as ImportTokenizer does.
void BM_JsonParseLlama3Tokenizer(benchmark::State& state) {
  std::ifstream in(SharedPath("models/llama3-tokenizer/tokenizer.json"), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  for (auto _ : state) {
    auto r = tqf::json::Parse(text);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

BENCHMARK(BM_JsonParseLlama3Tokenizer)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SentencePieceLlama2)->RangeMultiplier(4)->Range(1 << 12, 1 << 16)->Complexity();
BENCHMARK(BM_ByteLevelLlama3)->RangeMultiplier(4)->Range(1 << 12, 1 << 16)->Complexity();

}  // namespace

BENCHMARK_MAIN();
