// The grids of distillation (finetune_grid.h).
#include "finetune_grid.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tqf::rt::distill {
namespace {

// Each symbol's cost in bits, -log2 of its share of the histogram; an
// unused symbol is priced as half an occurrence.
std::vector<float> SymbolBits(const std::vector<uint64_t>& counts) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  std::vector<float> bits(counts.size(), 0.0f);
  for (size_t i = 0; i < counts.size() && total > 0; ++i) {
    const double share = counts[i] ? double(counts[i]) : 0.5;
    bits[i] = float(-std::log2(share / double(total)));
  }
  return bits;
}

// The symbols a tensor's codes are made of: VQ indices, or codes + 128.
std::vector<uint64_t> Histogram(const Grid& g) {
  const QuantizedTensor& q = *g.r->quantized;
  std::vector<uint64_t> counts(256, 0);
  if (g.codebook) {
    for (uint8_t i : q.vq_indices) ++counts[i];
  } else {
    for (uint8_t c : q.data) ++counts[size_t(int8_t(c) + 128)];
  }
  return counts;
}

// A tensor's codes priced with the quantizers' histogram (bits per symbol
// as Grid::bits): what a table made for the old codes would spend on the
// new ones, never less than their own entropy. Rates are kept on this
// rather than the new codes' entropy because the codec shares tables
// between tensors: on stories260K at 3.5 bits, codes with 0.37% less
// entropy than the quantizers' still coded 0.54% larger.
double PricedBits(const Grid& g) {
  const std::vector<uint64_t> h = Histogram(g);
  double bits = 0.0;
  for (size_t i = 0; i < h.size(); ++i) bits += double(h[i]) * g.bits[i];
  return bits;
}

// The level of `levels` within [lo, hi] that minimises the squared
// distance to x plus lambda times its cost in bits (ties to the lower).
int BestLevel(const Grid& g, float x, int lo, int hi) {
  const std::vector<int>& levels = g.levels;
  auto first = std::lower_bound(levels.begin(), levels.end(), lo);
  auto last = std::upper_bound(levels.begin(), levels.end(), hi);
  auto it = std::lower_bound(first, last, x, [](int l, float v) { return float(l) < v; });
  // The two levels on each side of x are the only ones a cost under a few
  // squared steps can prefer.
  auto from = it - std::min<ptrdiff_t>(2, it - first);
  auto to = it + std::min<ptrdiff_t>(2, last - it);
  int best = *from;
  float best_cost = INFINITY;
  for (auto l = from; l != to; ++l) {
    const float dx = x - float(*l);
    const float cost = dx * dx + g.lambda * g.bits[size_t(*l + 128)];
    if (cost < best_cost) best_cost = cost, best = *l;
  }
  return best;
}

// The median distance from an entry of `cb` to its nearest other entry
// (1 when it has a single entry or all are equal).
float CellOf(const VqCodebook& cb) {
  std::vector<float> nearest;
  for (uint32_t a = 0; a < cb.entries; ++a) {
    float best = INFINITY;
    for (uint32_t b = 0; b < cb.entries; ++b) {
      float dist = 0.0f;
      for (uint32_t i = 0; i < cb.dim; ++i) {
        const float x =
            float(cb.vectors[size_t{a} * cb.dim + i]) - float(cb.vectors[size_t{b} * cb.dim + i]);
        dist += x * x;
      }
      if (b != a && dist > 0.0f) best = std::min(best, dist);
    }
    if (std::isfinite(best)) nearest.push_back(std::sqrt(best));
  }
  if (nearest.empty()) return 1.0f;
  std::nth_element(nearest.begin(), nearest.begin() + nearest.size() / 2, nearest.end());
  return std::max(1.0f, nearest[nearest.size() / 2]);
}

}  // namespace

void ReadScales(Grid* g) {
  const std::vector<float>& params = g->r->quantized->params;
  g->scale.resize(g->blocks());
  for (size_t k = 0; k < g->blocks(); ++k) g->scale[k] = params[g->ParamOf(k)];
}

Result<Grid> GridOf(RefinableTensor* r, int index) {
  Grid g;
  g.r = r;
  g.index = index;
  const QuantizedTensor& q = *r->quantized;
  g.rows = r->source->rows(), g.cols = r->source->cols();
  g.codebook = r->codebook;
  g.block = q.quant == QuantKind::kBlock ? q.quant_block : g.cols;
  const VqCodebook* cb = g.codebook;
  bool vq_ok =
      cb == nullptr || (cb->dim > 0 && cb->dim <= 8 && cb->entries > 0 && cb->entries <= 256 &&
                        cb->vectors.size() == size_t{cb->entries} * cb->dim &&
                        g.block % cb->dim == 0 && q.vq_indices.size() * cb->dim == q.data.size());
  for (size_t i = 0; vq_ok && cb && i < q.vq_indices.size(); ++i) {
    vq_ok = q.vq_indices[i] < cb->entries;
  }
  if (g.block == 0 || q.dtype != DType::kI8 || q.data.size() != g.rows * g.cols || !vq_ok ||
      q.params.size() != NumQuantParams(q.quant, q.quant_block, g.rows, g.cols)) {
    return Status::InvalidArgument("fine-tuning: tensor '" + r->source->name +
                                   "' is not a low-bit tensor it can refine");
  }
  if (q.quant != QuantKind::kTensorMinMax && q.quant != QuantKind::kChannel &&
      q.quant != QuantKind::kBlock) {
    return Status::InvalidArgument("fine-tuning: tensor '" + r->source->name +
                                   "' is not quantized");
  }
  g.quant = q.quant;
  g.blocks_per_row = (g.cols + g.block - 1) / g.block;
  // kTensorMinMax's second param is its zero point; no other kind has one.
  g.zero.assign(g.blocks(), q.quant == QuantKind::kTensorMinMax ? q.params[1] : 0.0f);
  ReadScales(&g);
  g.lo.assign(g.blocks(), 127), g.hi.assign(g.blocks(), -128);
  bool seen[256] = {false};
  const int8_t* c = reinterpret_cast<const int8_t*>(q.data.data());
  for (size_t row = 0; row < g.rows; ++row) {
    for (size_t b = 0; b < g.blocks_per_row; ++b) {
      const size_t k = row * g.blocks_per_row + b;
      for (size_t col = b * g.block; col < std::min(g.cols, (b + 1) * g.block); ++col) {
        const int8_t v = c[row * g.cols + col];
        g.lo[k] = std::min(g.lo[k], v), g.hi[k] = std::max(g.hi[k], v);
        seen[v + 128] = true;
      }
    }
  }
  for (int v = 0; v < 256; ++v) {
    if (seen[v]) g.levels.push_back(v - 128);
  }
  g.log8_base = q.params_format == ParamsFormat::kLog8 ? q.log8_base : 0.0f;
  const size_t scales = g.blocks() ? g.ParamOf(g.blocks() - 1) + 1 : 0;
  for (size_t p = 0; p < scales; ++p) {
    const float s = q.params[p];
    g.log_scale.push_back(s > 0.0f && std::isfinite(s) ? std::log2(s) : -INFINITY);
  }
  if (g.codebook) g.cell = CellOf(*g.codebook);
  g.bits = SymbolBits(Histogram(g));
  g.priced = PricedBits(g);
  return g;
}

void Project(const Grid& g, const float* latent, float* out) {
  QuantizedTensor& q = *g.r->quantized;
  int8_t* codes = reinterpret_cast<int8_t*>(q.data.data());
  const uint32_t d = g.codebook ? g.codebook->dim : 1;
#pragma omp parallel for schedule(static)
  for (long rl = 0; rl < long(g.rows); ++rl) {
    const size_t row = size_t(rl);
    float u[8];  // a VQ vector (GridOf: dim <= 8)
    for (size_t col = 0; col < g.cols; col += d) {
      const size_t k = row * g.blocks_per_row + col / g.block, e = row * g.cols + col;
      const float s = g.scale[k];
      if (g.codebook == nullptr) {
        const int c = s > 0.0f && std::isfinite(latent[e])
                          ? BestLevel(g, latent[e], g.lo[k], g.hi[k])
                          : codes[e];
        codes[e] = static_cast<int8_t>(c);
        out[e] = s * (float(c) - g.zero[k]);
        continue;
      }
      bool finite = s > 0.0f;
      for (uint32_t i = 0; i < d; ++i) {
        u[i] = finite ? latent[e + i] : 0.0f;
        finite = finite && std::isfinite(u[i]);
      }
      const int8_t* vec = g.codebook->vectors.data();
      const float rate = g.lambda * g.cell * g.cell;  // lambda is per squared cell
      uint32_t best = q.vq_indices[e / d];
      float best_d = std::numeric_limits<float>::infinity();
      for (uint32_t j = 0; j < g.codebook->entries && finite; ++j) {
        float dist = 0.0f;
        for (uint32_t i = 0; i < d; ++i) {
          const float x = u[i] - float(vec[size_t{j} * d + i]);
          dist += x * x;
        }
        dist += rate * g.bits[j];
        if (dist < best_d) best_d = dist, best = j;
      }
      q.vq_indices[e / d] = static_cast<uint8_t>(best);
      for (uint32_t i = 0; i < d; ++i) {
        codes[e + i] = vec[size_t{best} * d + i];
        out[e + i] = s * float(codes[e + i]);
      }
    }
  }
}

void ProjectScales(Grid* g) {
  std::vector<float>& params = g->r->quantized->params;
  for (size_t p = 0; p < g->log_scale.size(); ++p) {
    if (!std::isfinite(g->log_scale[p])) continue;
    const float s = std::exp2(g->log_scale[p]);
    params[p] = g->log8_base > 0.0f ? Log8Scale(g->log8_base, NearestLog8Code(g->log8_base, s)) : s;
  }
  ReadScales(g);
}

void AdjustRate(Grid* g) {
  if (PricedBits(*g) > g->priced) {
    g->lambda = std::min(std::max(g->lambda * 1.5f, 1e-3f), 1e3f);
  } else {
    g->lambda *= 0.8f;
  }
}

double CodeBits(const std::vector<Grid>& grids) {
  double bits = 0.0;
  for (const Grid& g : grids) bits += PricedBits(g);
  return bits;
}

void InitLatent(const Grid& g, const float* source, float* latent) {
  const QuantizedTensor& q = *g.r->quantized;
  const int8_t* codes = reinterpret_cast<const int8_t*>(q.data.data());
  const float kInside = 0.02f;  // of a code step
  for (size_t e = 0; e < q.data.size(); ++e) latent[e] = float(codes[e]);
  for (size_t row = 0; row < g.rows; ++row) {
    for (size_t col = 0; col < g.cols; ++col) {
      const size_t k = row * g.blocks_per_row + col / g.block, e = row * g.cols + col;
      const float s = g.scale[k];
      if (!(s > 0.0f)) continue;
      if (g.codebook != nullptr) continue;  // vectors: handled below
      const int c = codes[e];
      auto it = std::lower_bound(g.levels.begin(), g.levels.end(), c);
      float lo = -INFINITY, hi = INFINITY;
      if (it != g.levels.begin() && *(it - 1) >= g.lo[k]) lo = 0.5f * float(*(it - 1) + c);
      if (it + 1 != g.levels.end() && *(it + 1) <= g.hi[k]) hi = 0.5f * float(*(it + 1) + c);
      float x = source[e] / s + g.zero[k];
      latent[e] = std::min(std::max(x, lo + kInside), hi - kInside);
    }
  }
  if (g.codebook == nullptr) return;
  // A vector keeps the source's values when they are nearest its code's
  // entry already, else its entry's.
  const uint32_t d = g.codebook->dim;
  for (size_t e = 0; e < q.data.size(); e += d) {
    const size_t row = e / g.cols, col = e % g.cols;
    const float s = g.scale[row * g.blocks_per_row + col / g.block];
    if (!(s > 0.0f)) continue;
    float best_d = INFINITY;
    uint32_t best = 0;
    for (uint32_t j = 0; j < g.codebook->entries; ++j) {
      float dist = 0.0f;
      for (uint32_t i = 0; i < d; ++i) {
        const float x = source[e + i] / s - float(g.codebook->vectors[size_t{j} * d + i]);
        dist += x * x;
      }
      if (dist < best_d) best_d = dist, best = j;
    }
    const int8_t* mine = &g.codebook->vectors[size_t{q.vq_indices[e / d]} * d];
    if (std::equal(mine, mine + d, &g.codebook->vectors[size_t{best} * d])) {
      for (uint32_t i = 0; i < d; ++i) latent[e + i] = source[e + i] / s;
    }
  }
}

void GridGradients(const Grid& g, const std::vector<float>& gw, std::vector<float>* g_latent,
                   std::vector<float>* g_scale) {
  const int8_t* codes = reinterpret_cast<const int8_t*>(g.r->quantized->data.data());
  g_latent->resize(gw.size());
  std::vector<double> per_block(g.blocks(), 0.0);
#pragma omp parallel for schedule(static)
  for (long rl = 0; rl < long(g.rows); ++rl) {
    for (size_t col = 0; col < g.cols; ++col) {
      const size_t k = size_t(rl) * g.blocks_per_row + col / g.block, e = size_t(rl) * g.cols + col;
      (*g_latent)[e] = gw[e] * g.scale[k];
      per_block[k] += double(gw[e]) * (float(codes[e]) - g.zero[k]) * g.scale[k];
    }
  }
  std::vector<double> sum(g.log_scale.size(), 0.0);
  for (size_t k = 0; k < g.blocks(); ++k) sum[g.ParamOf(k)] += per_block[k];  // in order
  g_scale->resize(sum.size());
  for (size_t p = 0; p < sum.size(); ++p) (*g_scale)[p] = float(sum[p] * std::log(2.0));
}

}  // namespace tqf::rt::distill
