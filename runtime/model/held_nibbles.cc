// Nibble-held layers (held_nibbles.h): finding a tensor's code table,
// packing, and the repacking of a decoded layer.
#include "tqf/rt/held_nibbles.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tqf/rt/kernels.h"

namespace tqf::rt {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kPage = 4096;

size_t Align(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Distinct codes of codes[0..n) into seen[256]; false once more than 16.
bool MarkCodes(const int8_t* codes, size_t n, bool* seen, int* count) {
  for (size_t i = 0; i < n; ++i) {
    bool& s = seen[static_cast<uint8_t>(codes[i])];
    if (!s) {
      s = true;
      if (++*count > 16) return false;
    }
  }
  return true;
}

// The table of the codes marked in seen[256]: ascending, unused entries
// repeating the largest. False for more than 16 codes.
bool TableOfSeen(const bool* seen, int8_t lut[16]) {
  int k = 0;
  for (int v = -128; v < 128; ++v) {
    if (!seen[static_cast<uint8_t>(v)]) continue;
    if (k == 16) return false;
    lut[k++] = static_cast<int8_t>(v);
  }
  for (; k < 16; ++k) lut[k] = k > 0 ? lut[k - 1] : 0;
  return true;
}

// index[code] = the first table entry holding it (unused entries repeat
// the largest code, so the first is the one a reader expands back).
void IndexOfCodes(const int8_t lut[16], uint8_t index[256]) {
  std::memset(index, 0, 256);
  for (int k = 15; k >= 0; --k) index[static_cast<uint8_t>(lut[k])] = static_cast<uint8_t>(k);
}

// TQF_HELD_FORM, read once.
const char* HeldFormSetting() {
  static const char* const env = std::getenv("TQF_HELD_FORM");
  return env;
}

}  // namespace

bool NibbleHoldingEnabled() {
  return HeldFormSetting() == nullptr || std::strcmp(HeldFormSetting(), "int8") != 0;
}

bool NibbleGroupsEnabled() {
  return HeldFormSetting() == nullptr || std::strcmp(HeldFormSetting(), "nibble-rows") != 0;
}

bool FindNibbleTable(const int8_t* codes, size_t n, int8_t lut[16]) {
  bool seen[256] = {};
  int count = 0;
  return MarkCodes(codes, n, seen, &count) && TableOfSeen(seen, lut);
}

void PackNibbles(const int8_t* codes, size_t rows, size_t cols, const int8_t lut[16],
                 uint8_t* out) {
  uint8_t index[256];
  IndexOfCodes(lut, index);
  const size_t stride = NibbleRowBytes(cols);
#pragma omp parallel for schedule(static) if (rows * cols >= (size_t{1} << 20))
  for (long rl = 0; rl < static_cast<long>(rows); ++rl) {
    const size_t r = static_cast<size_t>(rl);
    const int8_t* in = codes + r * cols;
    uint8_t* o = out + r * stride;
    std::memset(o, 0, stride);
    for (size_t i = 0; i < cols; ++i) {
      const uint8_t v = index[static_cast<uint8_t>(in[i])];
      o[i / 64 * 32 + i % 32] |= (i % 64) < 32 ? v : static_cast<uint8_t>(v << 4);
    }
  }
}

void PackNibbleGroups16(const int8_t* codes, size_t rows, size_t cols, const int8_t lut[16],
                        uint8_t* out) {
  uint8_t index[256];
  IndexOfCodes(lut, index);
  const size_t group_bytes = NibbleGroupBytes(cols);
#pragma omp parallel for schedule(static) if (rows * cols >= (size_t{1} << 20))
  for (long gl = 0; gl < static_cast<long>(rows / 16); ++gl) {
    const size_t g = static_cast<size_t>(gl);
    uint8_t* o = out + g * group_bytes;
    for (size_t s = 0; s < cols / 8; ++s) {
      for (size_t r = 0; r < 16; ++r) {
        const int8_t* in = codes + (16 * g + r) * cols + 8 * s;
        for (size_t i = 0; i < 4; ++i) {
          o[s * 64 + 4 * r + i] = static_cast<uint8_t>(index[static_cast<uint8_t>(in[i])] |
                                                        index[static_cast<uint8_t>(in[4 + i])] << 4);
        }
      }
    }
  }
}

NibbleLayout NibbleLayoutFor(const TensorInfo& t, bool groups) {
  return groups && NibbleGroupsFit(t.quant, t.rows(), t.cols(), t.quant_block)
             ? NibbleLayout::kGroups16
             : NibbleLayout::kRows;
}

size_t NibbleTensorBytes(const TensorInfo& t, NibbleLayout layout) {
  return layout == NibbleLayout::kGroups16 ? t.rows() / 16 * NibbleGroupBytes(t.cols())
                                           : t.rows() * NibbleRowBytes(t.cols());
}

void PackNibbleTensor(const TensorInfo& t, const int8_t* codes, const float* params,
                      const int8_t lut[16], NibbleLayout layout, uint8_t* out, float* params_out) {
  if (layout == NibbleLayout::kRows) {
    PackNibbles(codes, t.rows(), t.cols(), lut, out);
    if (t.num_params) std::memcpy(params_out, params, t.num_params * sizeof(float));
    return;
  }
  PackNibbleGroups16(codes, t.rows(), t.cols(), lut, out);
  if (t.quant == QuantKind::kChannel) {  // one scale a row: already 16 a group side by side
    std::memcpy(params_out, params, t.num_params * sizeof(float));
    return;
  }
  // Block k's scales of a group's 16 rows side by side: one vector load.
  const size_t nb = t.cols() / t.quant_block;
  for (size_t r = 0; r < t.rows(); ++r) {
    for (size_t k = 0; k < nb; ++k) params_out[NibbleGroupParamIndex(r, k, nb)] = params[r * nb + k];
  }
}

NibbleLayerPlan PlanNibbleLayer(const Reader& reader, const std::vector<size_t>& tensors,
                                const DecodedLayer& decoded, int threads, bool groups) {
  NibbleLayerPlan plan;
  plan.tables.resize(tensors.size());
  plan.layouts.assign(tensors.size(), NibbleLayout::kRows);
  // Which tensors fit: scanned in parallel slices, each with its own set of
  // codes (most tensors of a 4-bit file fit; an int8 one stops early).
  std::vector<char> fits(tensors.size(), 0);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = reader.tensors()[tensors[i]];
    if (t.dtype != DType::kI8 || t.shape.size() < 2 || t.raw_size != t.rows() * t.cols()) continue;
    const int8_t* codes = reinterpret_cast<const int8_t*>(decoded.tensor(i));
    const size_t n = t.raw_size;
    const int slices = std::max(1, threads > 0 ? threads : omp_get_max_threads());
    std::vector<std::array<bool, 256>> seen(slices);
    bool ok = true;
#pragma omp parallel for num_threads(slices) reduction(&& : ok)
    for (int s = 0; s < slices; ++s) {
      seen[s].fill(false);
      int count = 0;
      const size_t begin = n * s / slices, end = n * (s + 1) / slices;
      ok = MarkCodes(codes + begin, end - begin, seen[s].data(), &count) && ok;
    }
    if (!ok) continue;
    std::array<bool, 256> all{};
    for (const auto& s : seen) {
      for (int v = 0; v < 256; ++v) all[v] = all[v] || s[v];
    }
    fits[i] = TableOfSeen(all.data(), plan.tables[i].data());
  }
  size_t off = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = reader.tensors()[tensors[i]];
    plan.offsets.push_back(off);
    if (fits[i]) plan.layouts[i] = NibbleLayoutFor(t, groups);
    off += Align(fits[i] ? NibbleTensorBytes(t, plan.layouts[i]) : t.raw_size, kAlign);
    plan.params.push_back(t.num_params ? off : SIZE_MAX);
    off += Align(t.num_params * sizeof(float), kAlign);
    plan.luts.push_back(fits[i] ? off : SIZE_MAX);
    if (fits[i]) {
      off += kAlign;
      plan.nibble_tensors++;
    }
  }
  plan.bytes = Align(std::max<size_t>(off, 1), kPage);
  return plan;
}

void WriteNibbleLayer(const NibbleLayerPlan& plan, const Reader& reader,
                      const std::vector<size_t>& tensors, const DecodedLayer& decoded, uint8_t* out,
                      int threads) {
  (void)threads;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = reader.tensors()[tensors[i]];
    const int8_t* codes = reinterpret_cast<const int8_t*>(decoded.tensor(i));
    float* params = plan.params[i] != SIZE_MAX ? reinterpret_cast<float*>(out + plan.params[i])
                                                : nullptr;
    if (plan.luts[i] != SIZE_MAX) {
      PackNibbleTensor(t, codes, decoded.params(i), plan.tables[i].data(), plan.layouts[i],
                       out + plan.offsets[i], params);
      std::memcpy(out + plan.luts[i], plan.tables[i].data(), 16);
    } else {
      std::memcpy(out + plan.offsets[i], codes, t.raw_size);
      if (params) std::memcpy(params, decoded.params(i), t.num_params * sizeof(float));
    }
  }
}

}  // namespace tqf::rt
