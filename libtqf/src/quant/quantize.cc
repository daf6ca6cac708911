// Quantizers (tensor-minmax, channel, block32) and their inverse. Formulas: see QuantKind in
// types.h.
//
// Arithmetic is done in double and the stored parameters are rounded to
// float once, so the only error beyond half a quantization step comes from
// those float roundings; QuantErrorBound adds that slack explicitly.
#include "tqf/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "tqf/internal/half.h"

namespace tqf {
namespace {

constexpr uint32_t kBlock32 = 32;

// Relative slack for float rounding of params, products and the division
// x/scale: a few float ulps of the largest magnitude involved.
constexpr double kSlackUlps = 4.0 * std::numeric_limits<float>::epsilon();

inline int RoundClamp(double v, int lo, int hi) {
  double r = std::nearbyint(v);
  if (r < lo) return lo;
  if (r > hi) return hi;
  return static_cast<int>(r);
}

// Scale for a symmetric absmax quantizer: absmax/127; 0 for an all-zero
// group (every q is then 0, so dequantization gives exact zeros); never a
// float underflow to 0 when absmax > 0.
inline float SymmetricScale(double absmax) {
  if (absmax == 0.0) return 0.0f;
  float s = static_cast<float>(absmax / 127.0);
  if (s == 0.0f) s = std::numeric_limits<float>::denorm_min();
  return s;
}

inline void QuantizeRun(const float* x, size_t n, float scale, int8_t* q) {
  if (scale == 0.0f) {
    std::memset(q, 0, n);
    return;
  }
  const double inv = 1.0 / static_cast<double>(scale);
  for (size_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>(RoundClamp(x[i] * inv, -127, 127));
}

}  // namespace

Status CheckFiniteValues(const float* v, size_t rows, size_t cols) {
  const size_t n = rows * cols;
  size_t bad = n;
#pragma omp parallel for reduction(min : bad) schedule(static) if (n > (1u << 16))
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i]) && i < bad) bad = i;
  }
  if (bad == n) return Status::OK();
  const float x = v[bad];
  return Status::InvalidArgument(
      std::string("non-finite value ") + (std::isnan(x) ? "NaN" : "Inf") + " at row " +
      std::to_string(bad / cols) + ", column " + std::to_string(bad % cols) + " (element " +
      std::to_string(bad) + "); only finite values can be quantized");
}

namespace {

void QuantizeMinMax(const float* v, size_t n, QuantizedTensor* t) {
  float lo = v[0], hi = v[0];
#pragma omp parallel for reduction(min                 \
                                   : lo) reduction(max \
                                                   : hi) schedule(static) if (n > (1u << 16))
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  double scale_d = (static_cast<double>(hi) - static_cast<double>(lo)) / 255.0;
  float scale = static_cast<float>(scale_d);
  if (scale == 0.0f) scale = (scale_d == 0.0) ? 1.0f : std::numeric_limits<float>::denorm_min();
  const double s = scale;
  const float zp = static_cast<float>(std::nearbyint(-128.0 - lo / s));
  t->params = {scale, zp};
  int8_t* q = reinterpret_cast<int8_t*>(t->data.data());
  const double zpd = zp;
#pragma omp parallel for schedule(static) if (n > (1u << 16))
  for (size_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>(RoundClamp(v[i] / s + zpd, -128, 127));
}

void QuantizeChannel(const float* v, size_t rows, size_t cols, QuantizedTensor* t) {
  t->params.resize(rows);
  int8_t* q = reinterpret_cast<int8_t*>(t->data.data());
#pragma omp parallel for schedule(static) if (rows * cols > (1u << 16))
  for (size_t r = 0; r < rows; ++r) {
    const float* x = v + r * cols;
    float absmax = 0.0f;
    for (size_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(x[c]));
    const float scale = SymmetricScale(absmax);
    t->params[r] = scale;
    QuantizeRun(x, cols, scale, q + r * cols);
  }
}

void QuantizeBlocks(const float* v, size_t rows, size_t cols, uint32_t block, QuantizedTensor* t) {
  const size_t nb = (cols + block - 1) / block;
  t->params.resize(rows * nb);
  int8_t* q = reinterpret_cast<int8_t*>(t->data.data());
#pragma omp parallel for schedule(static) if (rows * cols > (1u << 16))
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < nb; ++b) {
      const size_t c0 = b * block;
      const size_t len = std::min<size_t>(block, cols - c0);
      const float* x = v + r * cols + c0;
      float absmax = 0.0f;
      for (size_t i = 0; i < len; ++i) absmax = std::max(absmax, std::fabs(x[i]));
      const float scale = SymmetricScale(absmax);
      t->params[r * nb + b] = scale;
      QuantizeRun(x, len, scale, q + r * cols + c0);
    }
  }
}

}  // namespace

// ---- names ----

const char* QuantSchemeName(QuantScheme s) {
  switch (s) {
    case QuantScheme::kRaw: return "raw";
    case QuantScheme::kTensorMinMax: return "tensor-minmax";
    case QuantScheme::kChannel: return "channel";
    case QuantScheme::kBlock32: return "block32";
    case QuantScheme::kScalar: return "scalar";
    case QuantScheme::kEntropy: return "entropy";
    case QuantScheme::kVq: return "vq";
  }
  return "unknown";
}

Result<QuantScheme> ParseQuantScheme(std::string_view name) {
  for (QuantScheme s : {QuantScheme::kRaw, QuantScheme::kTensorMinMax, QuantScheme::kChannel,
                        QuantScheme::kBlock32}) {
    if (name == QuantSchemeName(s)) return s;
  }
  return Status::InvalidArgument("unknown quantizer '" + std::string(name) +
                                 "' (expected raw, tensor-minmax, channel or block32)");
}

// ---- quantize / dequantize ----

Result<QuantizedTensor> Quantize(QuantScheme scheme, const float* values, size_t rows, size_t cols,
                                 size_t ndim, DType source_dtype, const uint8_t* source_bytes) {
  if (cols != 0 && rows > std::numeric_limits<size_t>::max() / 4 / cols) {
    return Status::InvalidArgument("Quantize: " + std::to_string(rows) + " x " +
                                   std::to_string(cols) + " elements overflow size_t");
  }
  const size_t n = rows * cols;
  if (n > 0 && values == nullptr) return Status::InvalidArgument("Quantize: values is null");
  QuantizedTensor t;
  try {
    const bool keep_source = scheme == QuantScheme::kRaw && ndim >= 2 && source_bytes != nullptr &&
                             (source_dtype == DType::kF32 || source_dtype == DType::kF16 ||
                              source_dtype == DType::kBF16);
    if (keep_source) {
      t.dtype = source_dtype;
      const size_t bytes = n * DTypeSize(source_dtype);
      t.data.assign(source_bytes, source_bytes + bytes);
      return t;
    }
    if (scheme == QuantScheme::kRaw || ndim < 2 || n == 0) {
      t.dtype = DType::kF32;
      t.data.resize(n * 4);
      if (n) std::memcpy(t.data.data(), values, n * 4);
      return t;
    }
    TQF_RETURN_IF_ERROR(CheckFiniteValues(values, rows, cols));
    t.dtype = DType::kI8;
    t.data.resize(n);
    switch (scheme) {
      case QuantScheme::kTensorMinMax:
        t.quant = QuantKind::kTensorMinMax;
        QuantizeMinMax(values, n, &t);
        break;
      case QuantScheme::kChannel:
        t.quant = QuantKind::kChannel;
        QuantizeChannel(values, rows, cols, &t);
        break;
      case QuantScheme::kBlock32:
        t.quant = QuantKind::kBlock;
        t.quant_block = kBlock32;
        QuantizeBlocks(values, rows, cols, kBlock32, &t);
        break;
      case QuantScheme::kRaw: break;  // handled above
      default:
        return Status::InvalidArgument(std::string("Quantize: ") + QuantSchemeName(scheme) +
                                       " needs QuantizeWithSpec");
    }
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("Quantize: out of memory for " + std::to_string(n) +
                                     " elements");
  }
  return t;
}

size_t NumQuantParams(QuantKind quant, uint32_t quant_block, size_t rows, size_t cols) {
  switch (quant) {
    case QuantKind::kNone: return 0;
    case QuantKind::kTensorMinMax: return 2;
    case QuantKind::kChannel: return rows;
    case QuantKind::kBlock:
      if (quant_block == 0) return 0;
      return rows * ((cols + quant_block - 1) / quant_block);
  }
  return 0;
}

Status Dequantize(DType dtype, QuantKind quant, uint32_t quant_block, const uint8_t* data,
                  size_t rows, size_t cols, const float* params, size_t num_params, float* out) {
  if (cols != 0 && rows > std::numeric_limits<size_t>::max() / 4 / cols) {
    return Status::InvalidArgument("Dequantize: element count overflows");
  }
  const size_t n = rows * cols;
  const size_t want = NumQuantParams(quant, quant_block, rows, cols);
  if (num_params != want) {
    return Status::InvalidArgument(std::string("Dequantize: ") + QuantKindName(quant) + " over " +
                                   std::to_string(rows) + "x" + std::to_string(cols) + " needs " +
                                   std::to_string(want) + " params, got " +
                                   std::to_string(num_params));
  }
  if (quant == QuantKind::kNone) {
    switch (dtype) {
      case DType::kF32:
        if (n) std::memcpy(out, data, n * 4);
        return Status::OK();
      case DType::kF16:
        for (size_t i = 0; i < n; ++i)
          out[i] = F16ToF32(static_cast<uint16_t>(data[2 * i] | (data[2 * i + 1] << 8)));
        return Status::OK();
      case DType::kBF16:
        for (size_t i = 0; i < n; ++i)
          out[i] = BF16ToF32(static_cast<uint16_t>(data[2 * i] | (data[2 * i + 1] << 8)));
        return Status::OK();
      default:
        return Status::InvalidArgument(std::string("Dequantize: unquantized dtype ") +
                                       DTypeName(dtype) + " (expected f32, f16 or bf16)");
    }
  }
  if (dtype != DType::kI8) {
    return Status::InvalidArgument(std::string("Dequantize: ") + QuantKindName(quant) +
                                   " needs dtype i8, got " + DTypeName(dtype));
  }
  if (quant == QuantKind::kBlock && quant_block == 0) {
    return Status::InvalidArgument("Dequantize: block quantizer with block size 0");
  }
  const int8_t* q = reinterpret_cast<const int8_t*>(data);
  switch (quant) {
    case QuantKind::kTensorMinMax: {
      const float scale = params[0], zp = params[1];
#pragma omp parallel for schedule(static) if (n > (1u << 16))
      for (size_t i = 0; i < n; ++i) out[i] = scale * (static_cast<float>(q[i]) - zp);
      return Status::OK();
    }
    case QuantKind::kChannel:
#pragma omp parallel for schedule(static) if (n > (1u << 16))
      for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c) out[r * cols + c] = params[r] * q[r * cols + c];
      }
      return Status::OK();
    case QuantKind::kBlock: {
      const size_t nb = (cols + quant_block - 1) / quant_block;
#pragma omp parallel for schedule(static) if (n > (1u << 16))
      for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c) {
          out[r * cols + c] = params[r * nb + c / quant_block] * q[r * cols + c];
        }
      }
      return Status::OK();
    }
    case QuantKind::kNone: break;
  }
  return Status::InvalidArgument("Dequantize: unknown quantizer");
}

// Half a quantization step, plus float slack: the scale and zero point are
// rounded to float once, the dequantized product scale*(q - zp) is rounded
// once, and x/scale is rounded before nearbyint; each is within one float
// ulp of the largest magnitude involved (scale * (|q| + |zp|)), so
// scale * (|zp| + 128) * 4 * FLT_EPSILON covers them all with margin.
float QuantErrorBound(QuantKind quant, uint32_t quant_block, const float* params, size_t cols,
                      size_t row, size_t col) {
  double scale = 0.0, zp = 0.0;
  switch (quant) {
    case QuantKind::kNone: return 0.0f;
    case QuantKind::kTensorMinMax:
      scale = params[0];
      zp = params[1];
      break;
    case QuantKind::kChannel: scale = params[row]; break;
    case QuantKind::kBlock: {
      if (quant_block == 0) return 0.0f;
      const size_t nb = (cols + quant_block - 1) / quant_block;
      scale = params[row * nb + col / quant_block];
      break;
    }
  }
  scale = std::fabs(scale);
  const double bound = scale * 0.5 + scale * (std::fabs(zp) + 128.0) * kSlackUlps;
  return static_cast<float>(bound * (1.0 + kSlackUlps));
}

// ---- Log8 params ----

namespace {

// 2^(k/16) rounded to float: the normative table of the kLog8 format.
constexpr float kFrac16[16] = {0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f,
                               0x1.306fe0p+0f, 0x1.3dea64p+0f, 0x1.4bfdaep+0f, 0x1.5ab07ep+0f,
                               0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
                               0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f};

// Bases whose every scale (up to base * 2^7.94) is a finite normal float.
bool ValidBase(float base) { return base >= 0x1p-100f && base <= 0x1p100f; }

}  // namespace

float Log8Scale(float base, uint8_t code) {
  if (code == 0) return 0.0f;
  const float m = base * kFrac16[code & 15];  // one float rounding
  return std::ldexp(m, (code >> 4) - 8);
}

int Log8Code(float base, float scale) {
  if (scale == 0.0f) return 0;
  if (!ValidBase(base) || !(scale > 0.0f)) return -1;
  const uint8_t guess = NearestLog8Code(base, scale);
  for (int c = std::max(1, guess - 1); c <= std::min(255, guess + 1); ++c) {
    if (Log8Scale(base, static_cast<uint8_t>(c)) == scale) return c;
  }
  return -1;
}

uint8_t NearestLog8Code(float base, float scale) {
  if (!(scale > 0.0f) || !ValidBase(base)) return 0;
  const double c = std::round(128.0 + 16.0 * std::log2(static_cast<double>(scale) / base));
  return static_cast<uint8_t>(std::clamp(c, 1.0, 255.0));
}

Status DecodeParams(ParamsFormat format, const uint8_t* stored, size_t size, float* out, size_t n) {
  if (size != ParamsBytes(format, n)) {
    return Status::Corruption("params of " + std::to_string(size) + " bytes, " +
                              ParamsFormatName(format) + " needs " +
                              std::to_string(ParamsBytes(format, n)) + " for " + std::to_string(n));
  }
  if (n == 0) return Status::OK();
  if (format == ParamsFormat::kF32) {
    std::memcpy(out, stored, n * sizeof(float));
    return Status::OK();
  }
  float base;
  std::memcpy(&base, stored, 4);
  if (!ValidBase(base)) {
    return Status::Corruption("log8 params: base " + std::to_string(base) +
                              " is not a finite positive number");
  }
  float table[256];
  for (int c = 0; c < 256; ++c) table[c] = Log8Scale(base, static_cast<uint8_t>(c));
  for (size_t i = 0; i < n; ++i) out[i] = table[stored[4 + i]];
  return Status::OK();
}

Status EncodeParams(ParamsFormat format, float log8_base, const float* params, size_t n,
                    std::vector<uint8_t>* out) {
  out->clear();
  if (n == 0) return Status::OK();
  if (format == ParamsFormat::kF32) {
    out->resize(n * sizeof(float));
    std::memcpy(out->data(), params, out->size());
    return Status::OK();
  }
  if (!ValidBase(log8_base)) {
    return Status::InvalidArgument("log8 params: base " + std::to_string(log8_base) +
                                   " is not a finite positive number");
  }
  out->resize(4 + n);
  std::memcpy(out->data(), &log8_base, 4);
  for (size_t i = 0; i < n; ++i) {
    const int c = Log8Code(log8_base, params[i]);
    if (c < 0) {
      return Status::InvalidArgument("log8 params: param " + std::to_string(i) + " (" +
                                     std::to_string(params[i]) + ") is not on the grid of base " +
                                     std::to_string(log8_base));
    }
    (*out)[4 + i] = static_cast<uint8_t>(c);
  }
  return Status::OK();
}

}  // namespace tqf
