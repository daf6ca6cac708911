// Decoders for ggml's block types, written from the block layouts of
// ggml-common.h and the arithmetic of ggml's reference dequantizers
// (dequantize_row_* in ggml-quants.c). Bit-identity with ggml depends on
// evaluating the same float expressions in the same order: each comment
// gives the expression. CMake compiles this file with -ffp-contract=off.
#include "import/ggml_blocks.h"

#include <cstring>
#include <utility>

#include "tqf/internal/half.h"
#include "util/bytes.h"

namespace tqf::ggml {
namespace {

constexpr int kQK = 32;    // elements per block of the legacy types
constexpr int kQKK = 256;  // elements per super-block of the K types

// The non-uniform 4-bit grid of IQ4_NL and IQ4_XS.
constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

float Half(const uint8_t* p) { return F16ToF32(LoadLE16(p)); }

// Q4_0: d, 16 bytes of nibbles. y = (q - 8) * d.
void DecodeQ4_0(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 18, y += kQK) {
    const float d = Half(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

// Q4_1: d, m, 16 bytes of nibbles. y = q * d + m.
void DecodeQ4_1(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 20, y += kQK) {
    const float d = Half(b), m = Half(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

// The 5-bit value j of a Q5 block: its nibble and bit j of qh (j < 16:
// low nibbles with qh bits 0..15; j >= 16: high nibbles with bits 16..31).
inline void Q5Pair(const uint8_t* qs, uint32_t qh, int j, int* lo, int* hi) {
  *lo = (qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
  *hi = (qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
}

// Q5_0: d, qh (u32), 16 bytes of nibbles. y = (q - 16) * d.
void DecodeQ5_0(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 22, y += kQK) {
    const float d = Half(b);
    const uint32_t qh = LoadLE32(b + 2);
    for (int j = 0; j < kQK / 2; ++j) {
      int lo, hi;
      Q5Pair(b + 6, qh, j, &lo, &hi);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + kQK / 2] = static_cast<float>(hi - 16) * d;
    }
  }
}

// Q5_1: d, m, qh (u32), 16 bytes of nibbles. y = q * d + m.
void DecodeQ5_1(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 24, y += kQK) {
    const float d = Half(b), m = Half(b + 2);
    const uint32_t qh = LoadLE32(b + 4);
    for (int j = 0; j < kQK / 2; ++j) {
      int lo, hi;
      Q5Pair(b + 8, qh, j, &lo, &hi);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + kQK / 2] = static_cast<float>(hi) * d + m;
    }
  }
}

// Q8_0: d, 32 int8. y = q * d.
void DecodeQ8_0(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 34, y += kQK) {
    const float d = Half(b);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
  }
}

// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2-bit),
// d, dmin. Sub-block s of 16: dl = d * sc, ml = dmin * mn, y = dl * q - ml.
void DecodeQ2_K(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 84) {
    const uint8_t* sc = b;
    const uint8_t* q = b + 16;
    const float d = Half(b + 80), dmin = Half(b + 82);
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++is) {
          const float dl = d * static_cast<float>(sc[is] & 0xF);
          const float ml = dmin * static_cast<float>(sc[is] >> 4);
          const uint8_t* qq = q + 16 * part;
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((qq[l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// The 16 signed 6-bit scales of a Q3_K block, unpacked from 12 bytes: the
// low 4 bits of scale s are in bytes 0..7, the high 2 bits in bytes 8..11.
void Q3Scales(const uint8_t* packed, int8_t out[16]) {
  for (int s = 0; s < 16; ++s) {
    const int low = s < 8 ? (packed[s] & 0xF) : (packed[s - 8] >> 4);
    const int high = (packed[8 + (s & 3)] >> (2 * (s >> 2))) & 3;
    out[s] = static_cast<int8_t>(low | (high << 4));
  }
}

// Q3_K: hmask[32] (high bit), qs[64] (low 2 bits), scales[12], d.
// dl = d * (scale - 32), y = dl * (q - (high bit ? 0 : 4)).
void DecodeQ3_K(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 110) {
    const uint8_t* hm = b;
    const uint8_t* q = b + 32;
    int8_t scales[16];
    Q3Scales(b + 96, scales);
    const float d = Half(b + 108);
    int is = 0;
    uint8_t m = 1;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int part = 0; part < 2; ++part, ++is) {
          const float dl = d * static_cast<float>(scales[is] - 32);
          const int off = 16 * part;
          for (int l = 0; l < 16; ++l) {
            const int v = ((q[off + l] >> shift) & 3) - ((hm[off + l] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// Scale and min j (0..7) of a Q4_K/Q5_K block: 6 bits each, packed in 12
// bytes (j < 4 directly; j >= 4 split between a nibble and 2 high bits).
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Sub-block j's scale and min as floats: d * scale, dmin * min.
inline std::pair<float, float> SubBlockScale(int j, const uint8_t* scales, float d, float dmin) {
  uint8_t sc, mn;
  ScaleMinK4(j, scales, &sc, &mn);
  return {d * static_cast<float>(sc), dmin * static_cast<float>(mn)};
}

// Q4_K: d, dmin, scales[12], qs[128]. Per 32: d1 = d * sc, m1 = dmin * mn,
// y = d1 * q - m1.
void DecodeQ4_K(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 144) {
    const float d = Half(b), dmin = Half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* q = b + 16;
    for (int j = 0; j < kQKK / 64; ++j, q += 32) {
      const auto [d1, m1] = SubBlockScale(2 * j, scales, d, dmin);
      const auto [d2, m2] = SubBlockScale(2 * j + 1, scales, d, dmin);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// Q5_K: d, dmin, scales[12], qh[32], qs[128]; as Q4_K with a fifth bit.
void DecodeQ5_K(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 176) {
    const float d = Half(b), dmin = Half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQKK / 64; ++j, ql += 32) {
      const auto [d1, m1] = SubBlockScale(2 * j, scales, d, dmin);
      const auto [d2, m2] = SubBlockScale(2 * j + 1, scales, d, dmin);
      for (int l = 0; l < 32; ++l) {
        *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
      }
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d.
// y = d * scale * (q - 32), evaluated as (d * scale) * q.
void DecodeQ6_K(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 210) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = Half(b + 208);
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

// IQ4_NL: d, 16 bytes of nibbles indexing the non-uniform grid. y = d * v.
void DecodeIq4Nl(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 18, y += kQK) {
    const float d = Half(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[qs[j] & 0xF]);
      y[j + kQK / 2] = d * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
    }
  }
}

// IQ4_XS: d, scales_h (u16), scales_l[4], qs[128]. Per 32: a 6-bit scale
// ls, dl = d * (ls - 32), y = dl * v.
void DecodeIq4Xs(const uint8_t* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i, b += 136) {
    const float d = Half(b);
    const uint16_t scales_h = LoadLE16(b + 2);
    const uint8_t* scales_l = b + 4;
    const uint8_t* qs = b + 8;
    for (int ib = 0; ib < kQKK / 32; ++ib, y += 32, qs += 16) {
      const int ls =
          ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xF]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
    }
  }
}

constexpr BlockType kTypes[] = {
    {2, DType::kQ4_0, "Q4_0", kQK, 18, DecodeQ4_0},
    {3, DType::kQ4_1, "Q4_1", kQK, 20, DecodeQ4_1},
    {6, DType::kQ5_0, "Q5_0", kQK, 22, DecodeQ5_0},
    {7, DType::kQ5_1, "Q5_1", kQK, 24, DecodeQ5_1},
    {8, DType::kQ8_0, "Q8_0", kQK, 34, DecodeQ8_0},
    {10, DType::kQ2_K, "Q2_K", kQKK, 84, DecodeQ2_K},
    {11, DType::kQ3_K, "Q3_K", kQKK, 110, DecodeQ3_K},
    {12, DType::kQ4_K, "Q4_K", kQKK, 144, DecodeQ4_K},
    {13, DType::kQ5_K, "Q5_K", kQKK, 176, DecodeQ5_K},
    {14, DType::kQ6_K, "Q6_K", kQKK, 210, DecodeQ6_K},
    {20, DType::kIQ4_NL, "IQ4_NL", kQK, 18, DecodeIq4Nl},
    {23, DType::kIQ4_XS, "IQ4_XS", kQKK, 136, DecodeIq4Xs},
};

}  // namespace

const BlockType* FindByGgmlType(uint32_t ggml_type) {
  for (const BlockType& t : kTypes) {
    if (t.ggml_type == ggml_type) return &t;
  }
  return nullptr;
}

const BlockType* FindByDType(DType dtype) {
  for (const BlockType& t : kTypes) {
    if (t.dtype == dtype) return &t;
  }
  return nullptr;
}

}  // namespace tqf::ggml
