// The low-bit quantizers (format 1.2): scalar groups with a searched scale,
// entropy-constrained uniform steps, and vector quantization, each with or
// without GPTQ error compensation. See quantize.h for the schemes.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "quant/lowbit_internal.h"
#include "tqf/quantize.h"

namespace tqf {
namespace {

using quant_internal::ColumnStep;
using quant_internal::RunGptq;

// llama.cpp's IQ4_NL grid (kvalues_iq4nl): 16 non-uniform int8 levels,
// denser near zero, as weights are.
constexpr std::array<int8_t, 16> kNf4Grid = {-127, -104, -83, -65, -49, -35, -22, -10,
                                             1,    13,   25,  38,  53,  69,  89,  113};

// Per-column importance, mean 1: the Hessian's diagonal, the caller's
// weights, or all 1.
std::vector<float> ColumnImportance(const QuantizeInput& in, size_t cols) {
  std::vector<float> imp(cols, 1.0f);
  if (in.hessian != nullptr) {
    for (size_t c = 0; c < cols; ++c) imp[c] = std::max(in.hessian[c * cols + c], 0.0f);
  } else if (in.importance != nullptr) {
    for (size_t c = 0; c < cols; ++c) imp[c] = std::max(in.importance[c], 0.0f);
  }
  double mean = 0.0;
  for (float v : imp) mean += v;
  mean /= static_cast<double>(std::max<size_t>(cols, 1));
  for (float& v : imp) v = mean > 0.0 ? static_cast<float>(v / mean) + 1e-6f : 1.0f;
  return imp;
}

// Groups of `group` elements along each row (0 or >= cols: one per row).
struct Groups {
  size_t size = 0, per_row = 0;
  bool per_row_scale = true;  // QuantKind::kChannel rather than kBlock
  Groups(uint32_t group, size_t cols) {
    per_row_scale = group == 0 || group >= cols;
    size = per_row_scale ? cols : group;
    per_row = (cols + size - 1) / size;
  }
};

void SetScaleKind(const Groups& g, QuantizedTensor* t) {
  t->quant = g.per_row_scale ? QuantKind::kChannel : QuantKind::kBlock;
  t->quant_block = g.per_row_scale ? 0 : static_cast<uint32_t>(g.size);
  t->params_format = ParamsFormat::kLog8;
}

// Log8 bases must lie in [2^-100, 2^100] (quantize.h).
float ClampBase(double base) { return static_cast<float>(std::clamp(base, 0x1p-100, 0x1p100)); }

// A log8 base under which every scale up to `max_scale` has a code: the
// largest lands near code 248 (2^7.5 above the base).
float Log8BaseFor(double max_scale) {
  if (!(max_scale > 0.0)) return 1.0f;
  return ClampBase(max_scale * std::exp2(-7.5));
}

// ---- scalar levels ----

// The int8 value nearest to x on a scalar grid; for kAsymmetric, codes are
// [0, 2^bits) minus the group's zero point.
struct Levels {
  ScalarGrid grid;
  int lo = 0, hi = 0;  // uniform: allowed int8 range
  int Nearest(float x) const {
    if (grid == ScalarGrid::kNf4) {
      // Midpoints between neighbours; 16 levels: a short scan.
      int k = 0;
      while (k < 15 && x > 0.5f * (kNf4Grid[k] + kNf4Grid[k + 1])) ++k;
      return kNf4Grid[k];
    }
    const float r = std::nearbyint(x);
    return static_cast<int>(std::clamp(r, static_cast<float>(lo), static_cast<float>(hi)));
  }
};

Levels LevelsFor(const QuantSpec& spec, int zero_point) {
  Levels l{spec.grid};
  if (spec.grid == ScalarGrid::kAsymmetric) {
    l.lo = -zero_point;
    l.hi = (1 << spec.bits) - 1 - zero_point;
  } else {
    l.lo = -(1 << (spec.bits - 1));
    l.hi = (1 << (spec.bits - 1)) - 1;
  }
  return l;
}

// Weighted squared error of a group under scale s and levels l.
double GroupError(const float* w, const float* imp, size_t n, float s, const Levels& l) {
  double e = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const float q = s > 0.0f ? static_cast<float>(l.Nearest(w[i] / s)) * s : 0.0f;
    const double d = w[i] - q;
    e += imp[i] * d * d;
  }
  return e;
}

// The scale (on base's log8 grid) and zero point of one group, searched
// around the min/max-based guess for the least weighted error.
struct GroupChoice {
  float scale = 0.0f;
  int zero_point = 0;
};
GroupChoice SearchGroup(const QuantSpec& spec, const float* w, const float* imp, size_t n,
                        float base) {
  float lo = w[0], hi = w[0];
  for (size_t i = 1; i < n; ++i) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
  const float amax = std::max(std::fabs(lo), std::fabs(hi));
  GroupChoice best;
  if (amax == 0.0f) return best;
  double ref;
  if (spec.grid == ScalarGrid::kNf4) {
    ref = amax / 127.0;
  } else if (spec.grid == ScalarGrid::kAsymmetric) {
    ref = std::max(hi - lo, amax * 1e-3f) / ((1 << spec.bits) - 1);
  } else {
    ref = amax / (1 << (spec.bits - 1));
  }
  const int c0 = NearestLog8Code(base, static_cast<float>(ref));
  double best_err = std::numeric_limits<double>::infinity();
  for (int c = std::max(1, c0 - 12); c <= std::min(255, c0 + 4); ++c) {
    const float s = Log8Scale(base, static_cast<uint8_t>(c));
    if (!(s > 0.0f)) continue;
    int z_lo = 0, z_hi = 0;
    if (spec.grid == ScalarGrid::kAsymmetric) {
      const int z0 = static_cast<int>(std::nearbyint(-lo / s));
      z_lo = std::clamp(z0 - 1, 0, (1 << spec.bits) - 1);
      z_hi = std::clamp(z0 + 1, 0, (1 << spec.bits) - 1);
    }
    for (int z = z_lo; z <= z_hi; ++z) {
      const double e = GroupError(w, imp, n, s, LevelsFor(spec, z));
      if (e < best_err) {
        best_err = e;
        best.scale = s;
        best.zero_point = z;
      }
    }
  }
  return best;
}

// W^T (cols x rows) of a row-major matrix.
std::vector<float> Transpose(const float* v, size_t rows, size_t cols) {
  std::vector<float> t(rows * cols);
#pragma omp parallel for schedule(static) if (rows * cols > (1u << 16))
  for (long r = 0; r < static_cast<long>(rows); ++r) {
    for (size_t c = 0; c < cols; ++c) t[c * rows + r] = v[static_cast<size_t>(r) * cols + c];
  }
  return t;
}

std::vector<size_t> NaturalOrder(size_t cols) {
  std::vector<size_t> o(cols);
  for (size_t i = 0; i < cols; ++i) o[i] = i;
  return o;
}

Result<QuantizedTensor> QuantizeScalar(const QuantSpec& spec, const float* v, size_t rows,
                                       size_t cols, const QuantizeInput& in) {
  const Groups g(spec.group, cols);
  const std::vector<float> imp = ColumnImportance(in, cols);
  QuantizedTensor t;
  t.dtype = DType::kI8;
  SetScaleKind(g, &t);
  double amax = 0.0;
  for (size_t i = 0; i < rows * cols; ++i) amax = std::max<double>(amax, std::fabs(v[i]));
  // The largest scale SearchGroup may try: its min/max guess for a group
  // holding the tensor's largest magnitude (asymmetric: spanning +-amax).
  double largest = amax / (1 << (spec.bits - 1));
  if (spec.grid == ScalarGrid::kNf4) largest = amax / 127.0;
  if (spec.grid == ScalarGrid::kAsymmetric) largest = 2.0 * amax / ((1 << spec.bits) - 1);
  t.log8_base = Log8BaseFor(largest * std::exp2(4.0 / 16));
  // Static groups: every scale (and zero point) chosen first, from W itself.
  t.params.assign(rows * g.per_row, 0.0f);
  std::vector<int> zero(rows * g.per_row, 0);
#pragma omp parallel for schedule(dynamic, 16)
  for (long rl = 0; rl < static_cast<long>(rows); ++rl) {
    const size_t r = static_cast<size_t>(rl);
    for (size_t b = 0; b < g.per_row; ++b) {
      const size_t c0 = b * g.size, n = std::min(g.size, cols - c0);
      const GroupChoice gc = SearchGroup(spec, v + r * cols + c0, imp.data() + c0, n, t.log8_base);
      t.params[r * g.per_row + b] = gc.scale;
      zero[r * g.per_row + b] = gc.zero_point;
    }
  }
  t.data.resize(rows * cols);
  int8_t* codes = reinterpret_cast<int8_t*>(t.data.data());
  const ColumnStep step = [&](size_t k, size_t width, float* col) {
    (void)width;
    const size_t c = k;  // width 1: `k` is the original column (set below)
    for (size_t r = 0; r < rows; ++r) {
      const size_t gi = r * g.per_row + c / g.size;
      const float s = t.params[gi];
      const Levels l = LevelsFor(spec, zero[gi]);
      const int q = s > 0.0f ? l.Nearest(col[r] / s) : 0;
      codes[r * cols + c] = static_cast<int8_t>(q);
      col[r] = static_cast<float>(q) * s;
    }
  };
  std::vector<float> wt = Transpose(v, rows, cols);
  const std::vector<size_t> order =
      in.hessian && in.act_order ? quant_internal::ActOrder(in.hessian, cols) : NaturalOrder(cols);
  // RunGptq's step gets positions in `order`; map them back to columns.
  const ColumnStep by_column = [&](size_t k, size_t width, float* col) {
    step(order[k], width, col);
  };
  TQF_RETURN_IF_ERROR(RunGptq(wt.data(), rows, cols, in.hessian, in.damping, order, 1, by_column));
  return t;
}

// ---- entropy-constrained uniform step ----

// Order-0 entropy (bits per code) of round(x / step) clamped to int8, over
// every `stride`-th value.
double CodeEntropy(const float* v, size_t n, size_t stride, double step) {
  std::array<uint64_t, 255> hist{};
  uint64_t total = 0;
  for (size_t i = 0; i < n; i += stride) {
    const double q = std::clamp(std::nearbyint(v[i] / step), -127.0, 127.0);
    hist[static_cast<size_t>(q + 127)]++;
    total++;
  }
  double h = 0.0;
  for (uint64_t c : hist) {
    if (c) h -= static_cast<double>(c) / total * std::log2(static_cast<double>(c) / total);
  }
  return h;
}

double EntropyOfCodes(const int8_t* q, size_t n) {
  std::array<uint64_t, 256> hist{};
  for (size_t i = 0; i < n; ++i) hist[static_cast<uint8_t>(q[i])]++;
  double h = 0.0;
  for (uint64_t c : hist) {
    if (c) h -= static_cast<double>(c) / n * std::log2(static_cast<double>(c) / n);
  }
  return h;
}

// The step whose codes have `bits` of entropy: entropy falls as the step
// grows, so bisect on its logarithm (on a sample of at most ~1M values).
double StepForEntropy(const float* v, size_t n, double bits) {
  double amax = 0.0;
  for (size_t i = 0; i < n; ++i) amax = std::max<double>(amax, std::fabs(v[i]));
  if (amax == 0.0) return 1.0;
  const size_t stride = std::max<size_t>(1, n / (1u << 20));
  double lo = std::log2(amax / 127.0), hi = std::log2(amax) + 1.0;  // step range
  for (int it = 0; it < 48; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (CodeEntropy(v, n, stride, std::exp2(mid)) > bits) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return std::exp2(0.5 * (lo + hi));
}

// Per-row steps on base's log8 grid: `step` (code 128) for every row whose
// largest magnitude fits 127 steps, the smallest grid step that fits it for
// the rest (heavy-tailed rows would otherwise clip).
std::vector<float> RowSteps(const float* v, size_t rows, size_t cols, float base) {
  std::vector<float> steps(rows);
  for (size_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(v[r * cols + c]));
    int code = 128;
    while (code < 255 && amax / Log8Scale(base, static_cast<uint8_t>(code)) > 127.0f) ++code;
    steps[r] = Log8Scale(base, static_cast<uint8_t>(code));
  }
  return steps;
}

Result<QuantizedTensor> QuantizeEntropy(const QuantSpec& spec, const float* v, size_t rows,
                                        size_t cols, const QuantizeInput& in) {
  QuantizedTensor t;
  t.dtype = DType::kI8;
  // x = step_row * q: one step for the tensor, stored per row (log8, one
  // byte each) so that rows with outliers can take a coarser one, or as
  // one step (kTensorMinMax, zero point 0) when none does.
  t.quant = QuantKind::kChannel;
  t.params_format = ParamsFormat::kLog8;
  t.data.resize(rows * cols);
  int8_t* codes = reinterpret_cast<int8_t*>(t.data.data());
  double step = StepForEntropy(v, rows * cols, spec.entropy_bits);
  const std::vector<size_t> order =
      in.hessian && in.act_order ? quant_internal::ActOrder(in.hessian, cols) : NaturalOrder(cols);
  // GPTQ and the coarser steps of outlier rows move the codes' entropy off
  // the estimate: corrections of the step (entropy ~ h - log2 step) bring
  // it back.
  for (int pass = 0; pass < 3; ++pass) {
    t.log8_base = ClampBase(step);
    t.params = RowSteps(v, rows, cols, t.log8_base);
    const ColumnStep col_step = [&](size_t k, size_t width, float* col) {
      (void)width;
      const size_t c = order[k];
      for (size_t r = 0; r < rows; ++r) {
        const float s = t.params[r];
        const float q = std::clamp(std::nearbyint(col[r] / s), -127.0f, 127.0f);
        codes[r * cols + c] = static_cast<int8_t>(q);
        col[r] = q * s;
      }
    };
    std::vector<float> wt = Transpose(v, rows, cols);
    TQF_RETURN_IF_ERROR(RunGptq(wt.data(), rows, cols, in.hessian, in.damping, order, 1, col_step));
    const double got = EntropyOfCodes(codes, rows * cols);
    if (std::fabs(got - spec.entropy_bits) < 0.02) break;
    step *= std::exp2(got - spec.entropy_bits);
  }
  // When no row needed a coarser step, one f32 step (8 bytes) beats a byte
  // per row: on 64-wide rows that byte is 1/8 bit per weight.
  if (std::all_of(t.params.begin(), t.params.end(), [&](float s) { return s == t.log8_base; })) {
    t.quant = QuantKind::kTensorMinMax;
    t.params = {t.log8_base, 0.0f};
    t.params_format = ParamsFormat::kF32;
    t.log8_base = 0.0f;
  }
  return t;
}

// ---- vector quantization ----

Result<QuantizedTensor> QuantizeVq(const QuantSpec& spec, const float* v, size_t rows, size_t cols,
                                   const QuantizeInput& in) {
  const VqCodebook* cb = in.codebook;
  const uint32_t d = spec.vq_dim;
  if (cb == nullptr || cb->dim != d || cb->entries == 0 || cb->entries > 256) {
    return Status::InvalidArgument(QuantSpecName(spec) + ": needs a codebook of " +
                                   std::to_string(d) + "-element vectors");
  }
  if (cols % d != 0) {
    return Status::InvalidArgument(QuantSpecName(spec) + ": rows of " + std::to_string(cols) +
                                   " elements are not whole " + std::to_string(d) +
                                   "-element vectors");
  }
  const Groups g(spec.group, cols);
  const std::vector<float> imp = ColumnImportance(in, cols);
  QuantizedTensor t;
  t.dtype = DType::kI8;
  SetScaleKind(g, &t);
  // Group scale: the group's RMS times what one int8 step of the codebook
  // stands for, on the log8 grid.
  std::vector<double> target(rows * g.per_row, 0.0);
  double max_target = 0.0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < g.per_row; ++b) {
      const size_t c0 = b * g.size, n = std::min(g.size, cols - c0);
      double ss = 0.0;
      for (size_t i = 0; i < n; ++i) ss += double(v[r * cols + c0 + i]) * v[r * cols + c0 + i];
      target[r * g.per_row + b] = std::sqrt(ss / n) * cb->unit;
      max_target = std::max(max_target, target[r * g.per_row + b]);
    }
  }
  t.log8_base = Log8BaseFor(max_target);
  t.params.resize(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    t.params[i] =
        Log8Scale(t.log8_base, NearestLog8Code(t.log8_base, static_cast<float>(target[i])));
  }
  t.data.resize(rows * cols);
  t.vq_indices.resize(rows * cols / d);
  int8_t* codes = reinterpret_cast<int8_t*>(t.data.data());
  const ColumnStep step = [&](size_t k, size_t width, float* col) {
    // `k` is the first of d consecutive columns (natural order).
    std::vector<float> u(d), wimp(imp.begin() + k, imp.begin() + k + d);
    for (size_t r = 0; r < rows; ++r) {
      const float s = t.params[r * g.per_row + k / g.size];
      const int8_t* e = nullptr;
      uint32_t idx = 0;
      if (s > 0.0f) {
        for (uint32_t i = 0; i < d; ++i) u[i] = col[i * rows + r] / s;
        idx = quant_internal::NearestVector(cb->vectors.data(), cb->entries, d, u.data(),
                                            wimp.data());
      } else {
        // An all-zero group: the entry nearest zero.
        std::fill(u.begin(), u.end(), 0.0f);
        idx = quant_internal::NearestVector(cb->vectors.data(), cb->entries, d, u.data(), nullptr);
      }
      e = cb->vectors.data() + size_t{idx} * d;
      t.vq_indices[(r * cols + k) / d] = static_cast<uint8_t>(idx);
      for (uint32_t i = 0; i < d; ++i) {
        codes[r * cols + k + i] = e[i];
        col[i * rows + r] = static_cast<float>(e[i]) * s;
      }
    }
  };
  std::vector<float> wt = Transpose(v, rows, cols);
  TQF_RETURN_IF_ERROR(
      RunGptq(wt.data(), rows, cols, in.hessian, in.damping, NaturalOrder(cols), d, step));
  return t;
}

}  // namespace

Result<QuantizedTensor> QuantizeWithSpec(const QuantSpec& spec, const float* values, size_t rows,
                                         size_t cols, size_t ndim, DType source_dtype,
                                         const uint8_t* source_bytes, const QuantizeInput& input) {
  if (!spec.low_bit() || ndim < 2 || rows * cols == 0) {
    const QuantScheme legacy = spec.low_bit() ? QuantScheme::kRaw : spec.scheme;
    return Quantize(legacy, values, rows, cols, ndim, source_dtype, source_bytes);
  }
  TQF_RETURN_IF_ERROR(CheckFiniteValues(values, rows, cols));
  try {
    switch (spec.scheme) {
      case QuantScheme::kScalar:
        if (spec.bits < 2 || spec.bits > 6 || (spec.grid == ScalarGrid::kNf4 && spec.bits != 4)) {
          return Status::InvalidArgument(QuantSpecName(spec) + ": bits must be 2..6 (nf4: 4)");
        }
        return QuantizeScalar(spec, values, rows, cols, input);
      case QuantScheme::kEntropy: return QuantizeEntropy(spec, values, rows, cols, input);
      case QuantScheme::kVq: return QuantizeVq(spec, values, rows, cols, input);
      default: break;
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("quantizing " + std::to_string(rows) + " x " +
                                     std::to_string(cols) + " with " + QuantSpecName(spec) +
                                     ": out of memory");
  }
  return Status::InvalidArgument("unknown quantizer");
}

}  // namespace tqf
