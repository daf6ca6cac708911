// Sampler: greedy, temperature and top-p sampling with a seeded
// xorshift64* generator (llama2.c's), see sampler.h.
#include "tqf/rt/sampler.h"

#include <algorithm>
#include <cmath>

namespace tqf::rt {
namespace {

// splitmix64: spreads any seed (including 0) into a non-zero state.
uint64_t MixSeed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x ? x : 0x2545f4914f6cdd1dull;
}

}  // namespace

int32_t ArgMax(const std::vector<float>& v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

Sampler::Sampler(const SamplerOptions& options)
    : options_(options), state_(MixSeed(options.seed)) {}

float Sampler::NextFloat() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint32_t r = static_cast<uint32_t>((state_ * 0x2545f4914f6cdd1dull) >> 32);
  return static_cast<float>(r >> 8) / 16777216.0f;
}

int32_t Sampler::Sample(std::vector<float>* logits) {
  std::vector<float>& p = *logits;
  if (p.empty()) return 0;
  if (!(options_.temperature > 0.0f)) return ArgMax(p);
  // Softmax at temperature T (in double for the normalizer).
  const float mx = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (float& x : p) {
    x = std::exp((x - mx) / options_.temperature);
    sum += x;
  }
  for (float& x : p) x = static_cast<float>(x / sum);
  const float r = NextFloat();
  if (!(options_.top_p > 0.0f) || options_.top_p >= 1.0f) {
    float cdf = 0.0f;
    for (size_t i = 0; i < p.size(); ++i) {
      cdf += p[i];
      if (r < cdf) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(p.size() - 1);
  }
  // Nucleus: tokens below (1 - top_p) / (n - 1) can never be in it.
  const float cutoff =
      (1.0f - options_.top_p) / static_cast<float>(p.size() - 1 ? p.size() - 1 : 1);
  candidates_.clear();
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] >= cutoff) candidates_.emplace_back(p[i], static_cast<int32_t>(i));
  }
  if (candidates_.empty()) return ArgMax(p);
  std::sort(candidates_.begin(), candidates_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  float cum = 0.0f;
  size_t last = candidates_.size() - 1;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cum += candidates_[i].first;
    if (cum > options_.top_p) {
      last = i;
      break;
    }
  }
  const float target = r * cum;
  float cdf = 0.0f;
  for (size_t i = 0; i <= last; ++i) {
    cdf += candidates_[i].first;
    if (target < cdf) return candidates_[i].second;
  }
  return candidates_[last].second;
}

}  // namespace tqf::rt
