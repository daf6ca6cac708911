// Llama 3 rotary-frequency scaling, the one copy the runtime (which applies
// it) and the GGUF exporter (which writes it as llama.cpp's divisors) share.
// Thread-safety: pure functions.
#ifndef TQF_INTERNAL_ROPE_H_
#define TQF_INTERNAL_ROPE_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "tqf/types.h"

namespace tqf {

// llama.cpp's form of frequency scaling: one divisor per rotary frequency,
// theta_i = pos * base^(-2i/head_dim) / divisor_i (its converter writes
// Llama 3's scaling this way, with no scaling keys).
inline constexpr char kRopeFreqsTensor[] = "rope_freqs.weight";

// Llama 3's scaling of inverse frequency `freq` (hp.rope_scaling_factor >
// 0): unchanged above the high-frequency wavelength bound, divided by the
// factor below the low one, interpolated between.
inline float Llama3ScaleFrequency(float freq, const Hyperparameters& hp) {
  const float kPi = 3.14159265358979323846f;
  const float old_ctx = static_cast<float>(hp.rope_original_context);
  const float low_wavelen = old_ctx / hp.rope_low_freq_factor;
  const float high_wavelen = old_ctx / hp.rope_high_freq_factor;
  const float wavelen = 2.0f * kPi / freq;
  if (wavelen < high_wavelen) return freq;
  if (wavelen > low_wavelen) return freq / hp.rope_scaling_factor;
  const float smooth = (old_ctx / wavelen - hp.rope_low_freq_factor) /
                       (hp.rope_high_freq_factor - hp.rope_low_freq_factor);
  return (1.0f - smooth) * freq / hp.rope_scaling_factor + smooth * freq;
}

// The divisors rope_freqs.weight holds for Llama 3 scaling (head_dim / 2
// values: base frequency / scaled frequency), or none when hp has none.
inline std::vector<float> Llama3RopeDivisors(const Hyperparameters& hp, uint32_t head_dim) {
  std::vector<float> d;
  if (!(hp.rope_scaling_factor > 0.0f) || head_dim < 2) return d;
  for (uint32_t i = 0; i < head_dim / 2; ++i) {
    const float freq =
        1.0f / std::pow(hp.rope_theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
    d.push_back(freq / Llama3ScaleFrequency(freq, hp));
  }
  return d;
}

}  // namespace tqf

#endif  // TQF_INTERNAL_ROPE_H_
