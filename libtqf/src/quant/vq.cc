// Vector quantization codebooks: training vectors from tensors, weighted
// k-means++ and Lloyd iterations, and int8 rounding (see quantize.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "quant/lowbit_internal.h"
#include "tqf/quantize.h"

namespace tqf {
namespace {

// Squared distance between two dim-vectors.
float Dist2(const float* a, const float* b, uint32_t dim) {
  float d = 0.0f;
  for (uint32_t i = 0; i < dim; ++i) {
    const float x = a[i] - b[i];
    d += x * x;
  }
  return d;
}

// Index of the centroid nearest to x, and the squared distance.
uint32_t Nearest(const float* c, uint32_t k, uint32_t dim, const float* x, float* dist) {
  uint32_t best = 0;
  float best_d = std::numeric_limits<float>::infinity();
  for (uint32_t j = 0; j < k; ++j) {
    const float d = Dist2(c + size_t{j} * dim, x, dim);
    if (d < best_d) best_d = d, best = j;
  }
  if (dist) *dist = best_d;
  return best;
}

// k-means++: the first centre drawn by weight, each next by weight times
// squared distance to the nearest centre chosen so far.
std::vector<float> PlusPlusInit(const float* x, const float* w, size_t n, uint32_t dim, uint32_t k,
                                std::mt19937_64* rng) {
  std::vector<float> c(size_t{k} * dim);
  std::vector<double> d2(n, std::numeric_limits<double>::infinity());
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  auto draw = [&](const std::vector<double>& mass) {
    double total = 0.0;
    for (double m : mass) total += m;
    double t = u01(*rng) * total;
    for (size_t i = 0; i < n; ++i) {
      t -= mass[i];
      if (t <= 0.0) return i;
    }
    return n - 1;
  };
  std::vector<double> mass(n);
  for (size_t i = 0; i < n; ++i) mass[i] = w ? w[i] : 1.0;
  for (uint32_t j = 0; j < k; ++j) {
    const size_t pick = draw(mass);
    std::memcpy(&c[size_t{j} * dim], x + pick * dim, dim * sizeof(float));
#pragma omp parallel for schedule(static) if (n > (1u << 14))
    for (long il = 0; il < static_cast<long>(n); ++il) {
      const size_t i = static_cast<size_t>(il);
      d2[i] = std::min<double>(d2[i], Dist2(x + i * dim, &c[size_t{j} * dim], dim));
      mass[i] = (w ? w[i] : 1.0) * d2[i];
    }
  }
  return c;
}

}  // namespace

VqCodebook TrainVqCodebook(const float* x, const float* w, size_t n, uint32_t dim, uint32_t entries,
                           int iterations, uint64_t seed) {
  VqCodebook cb;
  cb.dim = dim;
  cb.entries = entries;
  if (n == 0 || dim == 0 || entries == 0) {
    cb.vectors.assign(size_t{entries} * dim, 0);
    return cb;
  }
  std::mt19937_64 rng(seed);
  const uint32_t k = static_cast<uint32_t>(std::min<size_t>(entries, n));
  std::vector<float> c = PlusPlusInit(x, w, n, dim, k, &rng);
  std::vector<uint32_t> assign(n);
  std::vector<float> dist(n);
  for (int it = 0; it < iterations; ++it) {
#pragma omp parallel for schedule(static)
    for (long il = 0; il < static_cast<long>(n); ++il) {
      const size_t i = static_cast<size_t>(il);
      assign[i] = Nearest(c.data(), k, dim, x + i * dim, &dist[i]);
    }
    std::vector<double> sum(size_t{k} * dim, 0.0), mass(k, 0.0);
    for (size_t i = 0; i < n; ++i) {
      const double wi = w ? w[i] : 1.0;
      mass[assign[i]] += wi;
      for (uint32_t t = 0; t < dim; ++t) sum[size_t{assign[i]} * dim + t] += wi * x[i * dim + t];
    }
    // Weighted means; an empty cluster takes the point worst served now.
    for (uint32_t j = 0; j < k; ++j) {
      if (mass[j] > 0.0) {
        for (uint32_t t = 0; t < dim; ++t)
          c[size_t{j} * dim + t] = sum[size_t{j} * dim + t] / mass[j];
        continue;
      }
      const size_t far =
          static_cast<size_t>(std::max_element(dist.begin(), dist.end()) - dist.begin());
      std::memcpy(&c[size_t{j} * dim], x + far * dim, dim * sizeof(float));
      dist[far] = 0.0f;
    }
  }
  // int8 on one scale: the largest magnitude becomes 127.
  float cmax = 0.0f;
  for (float v : c) cmax = std::max(cmax, std::fabs(v));
  cb.unit = cmax > 0.0f ? cmax / 127.0f : 1.0f;
  cb.vectors.assign(size_t{entries} * dim, 0);
  for (size_t i = 0; i < c.size(); ++i) {
    cb.vectors[i] =
        static_cast<int8_t>(std::clamp(std::nearbyint(c[i] / cb.unit), -127.0f, 127.0f));
  }
  // Unused entries (fewer training vectors than entries) repeat entry 0.
  for (uint32_t j = k; j < entries; ++j) {
    std::memcpy(&cb.vectors[size_t{j} * dim], &cb.vectors[0], dim);
  }
  return cb;
}

void VqTrainingVectors(const QuantSpec& spec, const float* values, size_t rows, size_t cols,
                       const float* importance, size_t stride, std::vector<float>* x,
                       std::vector<float>* w) {
  const uint32_t d = spec.vq_dim;
  if (d == 0 || cols % d != 0) return;
  const size_t group = spec.group == 0 || spec.group >= cols ? cols : spec.group;
  if (stride == 0) stride = 1;
  size_t counter = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c0 = 0; c0 < cols; c0 += group) {
      const size_t n = std::min(group, cols - c0);
      const float* g = values + r * cols + c0;
      double ss = 0.0, imp = 0.0;
      for (size_t i = 0; i < n; ++i) {
        ss += double(g[i]) * g[i];
        imp += importance ? importance[c0 + i] : 1.0;
      }
      const double rms = std::sqrt(ss / n);
      if (rms == 0.0) continue;
      for (size_t v = 0; v + d <= n; v += d) {
        if (counter++ % stride != 0) continue;
        for (uint32_t i = 0; i < d; ++i) x->push_back(static_cast<float>(g[v + i] / rms));
        w->push_back(static_cast<float>(imp / n));
      }
    }
  }
}

}  // namespace tqf
