// Sampler: picks the next token from logits. Greedy when temperature is 0
// (the first index of the largest logit); otherwise softmax(logits / T),
// optionally cut to the smallest set of most likely tokens whose mass
// reaches top_p (nucleus sampling), then one draw from a xorshift64*
// generator seeded by `seed`. The same seed and logits give the same
// tokens on every machine.
//
// Thread-safety: a Sampler holds generator state; one thread at a time.
#ifndef TQF_RUNTIME_SAMPLER_H_
#define TQF_RUNTIME_SAMPLER_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace tqf::rt {

struct SamplerOptions {
  float temperature = 0.0f;  // 0: greedy
  float top_p = 1.0f;        // 1 (or >= 1): no cut
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);

  // The next token. `logits` is used as scratch (overwritten).
  int32_t Sample(std::vector<float>* logits);

  // Uniform float in [0, 1) from the generator (24 bits).
  float NextFloat();

 private:
  SamplerOptions options_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

// Index of the first largest value (0 for an empty vector).
int32_t ArgMax(const std::vector<float>& v);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_SAMPLER_H_
