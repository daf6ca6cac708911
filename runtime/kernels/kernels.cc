// Kernel dispatch, activation quantization, MatMul over every stored form,
// and the small scalar operations of a LLaMA block.
#include "tqf/rt/kernels.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "kernels_internal.h"
#include "tqf/internal/cpu_features.h"

namespace tqf::rt {

const char* KernelPathName(KernelPath p) {
  switch (p) {
    case KernelPath::kScalar: return "scalar";
    case KernelPath::kAvx2: return "avx2";
    case KernelPath::kAvxVnni: return "avxvnni";
    case KernelPath::kAvx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

bool KernelPathSupported(KernelPath p) {
  const CpuFeatures& cpu = GetCpuFeatures();
  switch (p) {
    case KernelPath::kScalar: return true;
    case KernelPath::kAvx2: return cpu.avx2;
    case KernelPath::kAvxVnni: return cpu.avx_vnni;
    case KernelPath::kAvx512Vnni:
      return cpu.avx2 && cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512vnni;
  }
  return false;
}

std::vector<KernelPath> SupportedKernelPaths() {
  std::vector<KernelPath> out;
  for (KernelPath p :
       {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvxVnni, KernelPath::kAvx512Vnni}) {
    if (KernelPathSupported(p)) out.push_back(p);
  }
  return out;
}

const KernelOps& GetKernelOps(KernelPath p) {
  switch (p) {
    case KernelPath::kAvx2: return Avx2KernelOps();
    case KernelPath::kAvxVnni: return AvxVnniKernelOps();
    case KernelPath::kAvx512Vnni: return Avx512VnniKernelOps();
    case KernelPath::kScalar: break;
  }
  return ScalarKernelOps();
}

const KernelOps& DefaultKernelOps() {
  static const KernelOps* ops = [] {
    std::vector<KernelPath> paths = SupportedKernelPaths();
    KernelPath best = paths.back();
    if (const char* env = KernelOverride("MATMUL")) {
      for (KernelPath p : paths) {
        if (std::strcmp(env, KernelPathName(p)) == 0) best = p;
      }
    }
    return &GetKernelOps(best);
  }();
  return *ops;
}

bool ValidateWeightView(const WeightView& w, std::string* why) {
  auto fail = [&](const std::string& msg) {
    if (why != nullptr) *why = msg;
    return false;
  };
  if (w.rows == 0 || w.cols == 0) return fail("empty matrix");
  switch (w.dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      if (w.quant != QuantKind::kNone) return fail("unquantized type with quantization kind");
      return true;
    case DType::kI8: break;
    default: return fail(std::string("stored type ") + DTypeName(w.dtype) + " not supported");
  }
  if (w.cols >= (size_t{1} << 17)) return fail("row too long for int32 accumulation");
  // (A nibble view's table can hold any int8 codes, -128 included.)
  size_t want = 0;
  switch (w.quant) {
    case QuantKind::kTensorMinMax: want = 2; break;
    case QuantKind::kChannel: want = w.rows; break;
    case QuantKind::kBlock:
      if (w.quant_block == 0) return fail("block quantization with block size 0");
      want = w.rows * ((w.cols + w.quant_block - 1) / w.quant_block);
      break;
    default: return fail("int8 tensor without a quantization kind");
  }
  if (w.params == nullptr || w.num_params != want) {
    return fail("expected " + std::to_string(want) + " quantization parameters, found " +
                std::to_string(w.num_params));
  }
  for (size_t i = 0; i < w.num_params; ++i) {
    if (!std::isfinite(w.params[i])) return fail("non-finite quantization parameter");
  }
  if (w.nibble_layout == NibbleLayout::kGroups16 &&
      (w.lut == nullptr || !NibbleGroupsFit(w.quant, w.rows, w.cols, w.quant_block))) {
    return fail("nibble groups of 16 rows need a code table, rows a multiple of 16, and per-row "
                "scales over a multiple of 8 codes or blocks of a multiple of 8 dividing the row");
  }
  return true;
}

void QuantizeActivations(const float* x, size_t n, size_t cols, size_t block, int8_t* q,
                         float* scales, int32_t* sums) {
  const size_t nb = (cols + block - 1) / block;
  for (size_t t = 0; t < n; ++t) {
    const float* xr = x + t * cols;
    int8_t* qr = q + t * cols;
    int32_t sum = 0;
    for (size_t k = 0; k < nb; ++k) {
      const size_t begin = k * block, end = std::min(cols, begin + block);
      float amax = 0.0f;
      for (size_t i = begin; i < end; ++i) amax = std::max(amax, std::fabs(xr[i]));
      const float scale = amax / 127.0f;
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      for (size_t i = begin; i < end; ++i) {
        long v = std::lrintf(xr[i] * inv);
        v = std::clamp(v, -127L, 127L);
        qr[i] = static_cast<int8_t>(v);
        sum += static_cast<int32_t>(v);
      }
      scales[t * nb + k] = scale;
    }
    if (sums != nullptr) sums[t] = sum;
  }
}

namespace {

// Rows per work item. Scheduling is dynamic so that a thread the OS has
// descheduled (a busy or oversubscribed machine, or the prefetch thread
// decoding beside us) does not hold half the rows back; results do not
// depend on it, since every row is computed whole by one thread.
constexpr long kRowChunk = 16;

// The batched path. Rows go to threads in chunks of 16 (whole 4-row
// tiles); within a chunk, every 4-token tile of activations passes every
// 4-row tile of weights. (Slicing the columns to keep a chunk's weights in
// L1 measured slower: the kernel, not the cache, is the limit.)
constexpr long kTileRowChunk = 16;
constexpr size_t kTile = 4;

bool UseTiles(const KernelOps& ops, const WeightView& w, size_t n) {
  return ops.dot_i8_tile != nullptr && n >= kTile &&
         (w.quant == QuantKind::kChannel || w.quant == QuantKind::kTensorMinMax);
}

// Offsets the quantized activations to unsigned for the tile kernels.
void PrepareTiles(size_t n, size_t cols, MatMulScratch* s, int threads) {
  s->qu.resize(n * cols);
  const uint8_t* q = reinterpret_cast<const uint8_t*>(s->q.data());
  uint8_t* qu = s->qu.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (n >= 16)
  for (long t = 0; t < static_cast<long>(n); ++t) {
    for (size_t i = t * cols; i < (t + 1) * cols; ++i) qu[i] = q[i] ^ 0x80;
  }
  s->ones.assign(cols, 1);
}

// The nibble kernels of `ops`, or the scalar path's where it has none.
struct NibbleOps {
  int32_t (*dot)(const uint8_t*, const int8_t*, const int8_t*, size_t);
  void (*blocks)(const uint8_t*, const int8_t*, const int8_t*, size_t, size_t, int32_t*);
  void (*expand)(const uint8_t*, const int8_t*, size_t, int8_t*);
};
NibbleOps NibblesOf(const KernelOps& ops) {
  return {ops.dot_n4 ? ops.dot_n4 : DotN4Scalar,
          ops.dot_n4_blocks ? ops.dot_n4_blocks : DotN4BlocksScalar,
          ops.expand_n4 ? ops.expand_n4 : ExpandN4Scalar};
}

// Int8 rows [r0, r1) of `w` for the tile kernels: pointers into the
// codes, or (nibble views) the rows expanded into `buf`.
const int8_t* TileRows(const KernelOps& ops, const WeightView& w, size_t r0, size_t r1,
                       std::vector<int8_t>* buf) {
  if (w.lut == nullptr) return reinterpret_cast<const int8_t*>(w.data) + r0 * w.cols;
  buf->resize((r1 - r0) * w.cols);
  const size_t stride = NibbleRowBytes(w.cols);
  const NibbleOps n4 = NibblesOf(ops);
  for (size_t r = r0; r < r1; ++r) {
    n4.expand(w.data + r * stride, w.lut, w.cols, buf->data() + (r - r0) * w.cols);
  }
  return buf->data();
}

// Calls emit(t, r, dots, count) with the exact int32 dots of activation
// row t and weight rows r..r+count-1 (count <= 4), for rows [r0, r1) (at
// most kTileRowChunk) and every token. `wq` holds rows r0..r1-1.
template <typename Emit>
void TiledDots(const KernelOps& ops, const int8_t* wq, size_t cols, const MatMulScratch& s,
               size_t n, size_t r0, size_t r1, Emit emit) {
  // The tiles sum (q + 128) * w: 128 * sum(w) comes back off, modulo 2^32
  // (the true dot fits int32).
  uint32_t offset[kTileRowChunk];
  for (size_t r = r0; r < r1; ++r) {
    offset[r - r0] =
        128u * static_cast<uint32_t>(ops.dot_i8(wq + (r - r0) * cols, s.ones.data(), cols));
  }
  int32_t tile[kTile * kTile];
  for (size_t t0 = 0; t0 < n; t0 += kTile) {
    const uint8_t* xs[kTile];
    for (size_t t = 0; t < kTile; ++t) xs[t] = s.qu.data() + std::min(t0 + t, n - 1) * cols;
    for (size_t rr = r0; rr < r1; rr += kTile) {
      const int8_t* ws[kTile];
      for (size_t r = 0; r < kTile; ++r) ws[r] = wq + (std::min(rr + r, r1 - 1) - r0) * cols;
      ops.dot_i8_tile(ws, xs, cols, tile);
      const size_t nt = std::min(kTile, n - t0), nr = std::min(kTile, r1 - rr);
      for (size_t t = 0; t < nt; ++t) {
        int32_t dots[kTile];
        for (size_t r = 0; r < kTile; ++r) {
          dots[r] = static_cast<int32_t>(static_cast<uint32_t>(tile[t * kTile + r]) -
                                         offset[std::min(rr + r - r0, r1 - r0 - 1)]);
        }
        emit(t0 + t, rr, dots, nr);
      }
    }
  }
}

// MatMulI8 for per-channel or per-tensor weights through TiledDots: the
// same int32 dots and the same float expressions as the one-token loops.
void MatMulI8Tiled(const KernelOps& ops, const WeightView& w, size_t n, float* y, MatMulScratch* s,
                   int threads) {
  const size_t rows = w.rows, cols = w.cols;
  PrepareTiles(n, cols, s, threads);
  const float* xs = s->scales.data();
  const int32_t* xsum = s->sums.data();
  const float* p = w.params;
  const bool channel = w.quant == QuantKind::kChannel;
  const long chunks = static_cast<long>((rows + kTileRowChunk - 1) / kTileRowChunk);
#pragma omp parallel num_threads(threads)
  {
    std::vector<int8_t> expanded;  // nibble views: the chunk's rows as int8
#pragma omp for schedule(dynamic, 1)
    for (long c = 0; c < chunks; ++c) {
      const size_t r0 = static_cast<size_t>(c) * kTileRowChunk;
      const size_t r1 = std::min(rows, r0 + kTileRowChunk);
      const int8_t* wq = TileRows(ops, w, r0, r1, &expanded);
      if (channel) {
        TiledDots(ops, wq, cols, *s, n, r0, r1,
                  [&](size_t t, size_t r, const int32_t* dots, size_t count) {
                    float* out = y + t * rows + r;
                    const float* ps = p + r;
                    if (count == kTile) {  // fixed trip count: the compiler vectorizes it
                      for (size_t i = 0; i < kTile; ++i) {
                        out[i] = static_cast<float>(dots[i]) * (ps[i] * xs[t]);
                      }
                    } else {
                      for (size_t i = 0; i < count; ++i) {
                        out[i] = static_cast<float>(dots[i]) * (ps[i] * xs[t]);
                      }
                    }
                  });
      } else {
        const double scale = p[0], zp = p[1];
        TiledDots(ops, wq, cols, *s, n, r0, r1,
                  [&](size_t t, size_t r, const int32_t* dots, size_t count) {
                    for (size_t i = 0; i < count; ++i) {
                      const double v =
                          (static_cast<double>(dots[i]) - zp * xsum[t]) * (scale * xs[t]);
                      y[t * rows + r + i] = static_cast<float>(v);
                    }
                  });
      }
    }
  }
}

bool UseBlockTiles(const KernelOps& ops, const WeightView& w, size_t n) {
  const size_t b = w.quant_block;
  return ops.matmul_i8_block_tile != nullptr && n >= kTile && w.quant == QuantKind::kBlock &&
         (b == 16 || b == 32 || b >= 64);
}

// Activation scales laid out per 4-token tile as matmul_i8_block_tile
// reads them: tile tt, block k, lane t*4 + r = scale of token 4tt + t.
void ExpandTokenScales(size_t n, size_t nb, MatMulScratch* s) {
  const size_t tiles = (n + kTile - 1) / kTile;
  s->xscale_tiles.resize(tiles * nb * 16);
  for (size_t tt = 0; tt < tiles; ++tt) {
    for (size_t k = 0; k < nb; ++k) {
      float* lanes = &s->xscale_tiles[(tt * nb + k) * 16];
      for (size_t t = 0; t < kTile; ++t) {
        const float v = s->scales[std::min(tt * kTile + t, n - 1) * nb + k];
        for (size_t r = 0; r < kTile; ++r) lanes[t * kTile + r] = v;
      }
    }
  }
}

// MatMulI8 for block-quantized weights through matmul_i8_block_tile: one
// 4-row tile at a time against every 4-token tile.
void MatMulI8BlockTiled(const KernelOps& ops, const WeightView& w, size_t n, float* y,
                        MatMulScratch* s, int threads) {
  const size_t rows = w.rows, cols = w.cols, block = w.quant_block;
  const size_t nb = (cols + block - 1) / block;
  PrepareTiles(n, cols, s, threads);
  ExpandTokenScales(n, nb, s);
  const long row_tiles = static_cast<long>((rows + kTile - 1) / kTile);
#pragma omp parallel num_threads(threads)
  {
    std::vector<int8_t> expanded;  // nibble views: the tile's rows as int8
    std::vector<float> wscale(nb * kTile);
    std::vector<int32_t> wsum(nb * kTile), sums(nb);
    float out[kTile * kTile];
#pragma omp for schedule(dynamic, kTileRowChunk / kTile)
    for (long rt = 0; rt < row_tiles; ++rt) {
      const size_t rr = static_cast<size_t>(rt) * kTile;
      const size_t last = std::min(rr + kTile, rows) - 1;
      const int8_t* wq = TileRows(ops, w, rr, last + 1, &expanded);
      const int8_t* ws[kTile];
      for (size_t r = 0; r < kTile; ++r) {
        const size_t row = std::min(rr + r, last);
        ws[r] = wq + (row - rr) * cols;
        ops.dot_i8_blocks(ws[r], s->ones.data(), cols, block, sums.data());
        for (size_t k = 0; k < nb; ++k) {
          wsum[k * kTile + r] = sums[k];
          wscale[k * kTile + r] = w.params[row * nb + k];
        }
      }
      for (size_t t0 = 0; t0 < n; t0 += kTile) {
        const uint8_t* xs[kTile];
        for (size_t t = 0; t < kTile; ++t) xs[t] = s->qu.data() + std::min(t0 + t, n - 1) * cols;
        ops.matmul_i8_block_tile(ws, xs, cols, block, wscale.data(), wsum.data(),
                                 &s->xscale_tiles[(t0 / kTile) * nb * 16], out);
        for (size_t t = 0; t < kTile && t0 + t < n; ++t) {
          for (size_t r = 0; r < kTile && rr + r < rows; ++r) {
            y[(t0 + t) * rows + rr + r] = out[t * kTile + r];
          }
        }
      }
    }
  }
}

// Rows whose block dots BlockRowsN4 scales together. (16, with four
// independent chains of adds, measured 1.1x slower than 4.)
constexpr size_t kScaleRows = 4;

// Rows r..r+3 of a nibble-held kBlock view times one token (xt, its block
// sums bsums and scales ts) into y[r..r+4): each row's blocks scaled and
// summed in the one-token loop's order, the 4 rows' sums interleaved so
// that the adds of one row (a chain as long as its blocks) overlap the
// others'.
void BlockRowsN4(const KernelOps& ops, const NibbleOps& n4, const WeightView& w, size_t r,
                 const int8_t* xt, const int32_t* bsums, const float* ts, int32_t* dots, float* y) {
  const size_t cols = w.cols, block = w.quant_block, nb = (cols + block - 1) / block;
  const size_t stride = NibbleRowBytes(cols);
  if (ops.dot_n4_blocks_rows4 != nullptr) {
    ops.dot_n4_blocks_rows4(w.data + r * stride, stride, w.lut, xt, bsums, cols, block, dots);
  } else {
    for (size_t i = 0; i < kScaleRows; ++i) {
      n4.blocks(w.data + (r + i) * stride, w.lut, xt, cols, block, dots + i * nb);
    }
  }
  const float* ws = w.params + r * nb;
  if (ops.sum_scaled_blocks4 != nullptr) return ops.sum_scaled_blocks4(dots, nb, ws, ts, y + r);
  float acc[kScaleRows] = {};
  for (size_t k = 0; k < nb; ++k) {
    for (size_t i = 0; i < kScaleRows; ++i) {
      acc[i] += static_cast<float>(dots[i * nb + k]) * (ws[i * nb + k] * ts[k]);
    }
  }
  for (size_t i = 0; i < kScaleRows; ++i) y[r + i] = acc[i];
}

// s->block_sums = the sum of each token's quantized activations over each
// of the nb blocks of `block` (the last one may be short): the offset
// corrections of the nibble kernels that multiply code + 128.
void ComputeBlockSums(size_t n, size_t cols, size_t block, size_t nb, MatMulScratch* s) {
  const int8_t* xq = s->q.data();
  s->block_sums.resize(n * nb);
  for (size_t t = 0; t < n; ++t) {
    for (size_t k = 0; k < nb; ++k) {
      const int8_t* xb = xq + t * cols + k * block;
      s->block_sums[t * nb + k] = std::accumulate(xb, xb + std::min(block, cols - k * block), 0);
    }
  }
}

// MatMulI8 over a kGroups16 nibble view: every group of 16 rows against up
// to 4 tokens a call (matmul_n4_group16, or the scalar reference), in the
// one-token loop's scaling order, so results are the int8 form's.
void MatMulN4Groups(const KernelOps& ops, const WeightView& w, size_t n, float* y,
                    MatMulScratch* s, int threads) {
  // kChannel: block 0 for the kernel (per-row scales), one token sum.
  const bool per_row = w.quant == QuantKind::kChannel;
  const size_t rows = w.rows, cols = w.cols, block = per_row ? 0 : w.quant_block;
  const size_t nb = per_row ? 1 : cols / block;
  const auto kernel = ops.matmul_n4_group16 ? ops.matmul_n4_group16 : MatMulN4Group16Scalar;
  const int8_t* xq = s->q.data();
  if (per_row) {
    s->block_sums.assign(s->sums.begin(), s->sums.begin() + n);
  } else {
    ComputeBlockSums(n, cols, block, nb, s);
  }
  // About 16 pieces a thread: dynamic enough for a core taken away (a
  // noisy VM), few enough that threads stream long runs of the matrix
  // (pieces of one group measured slowest).
  const long groups = static_cast<long>(rows / 16);
  const long piece = std::max(1L, groups / (16L * std::max(1, threads)));
#pragma omp parallel for schedule(dynamic, piece) num_threads(threads)
  for (long g = 0; g < groups; ++g) {
    const uint8_t* wg = w.data + static_cast<size_t>(g) * NibbleGroupBytes(cols);
    const float* ws = w.params + static_cast<size_t>(g) * nb * 16;
    float out[4 * 16];
    for (size_t t0 = 0; t0 < n; t0 += 4) {
      const size_t nt = std::min<size_t>(4, n - t0);
      const int8_t* x[4];
      const int32_t* bs[4];
      const float* xs[4];
      for (size_t t = 0; t < nt; ++t) {
        x[t] = xq + (t0 + t) * cols;
        bs[t] = &s->block_sums[(t0 + t) * nb];
        xs[t] = &s->scales[(t0 + t) * nb];
      }
      kernel(wg, w.lut, ws, cols, block, x, bs, xs, nt, out);
      for (size_t t = 0; t < nt; ++t) {
        std::memcpy(y + (t0 + t) * rows + g * 16, out + t * 16, 16 * sizeof(float));
      }
    }
  }
}

// The one-token loops of MatMulI8 over nibble-held rows: the same int32
// dots (the nibble kernels equal dot_i8 over the expanded codes) and the
// same float expressions, so the results are the int8 form's.
void MatMulN4Rows(const KernelOps& ops, const WeightView& w, size_t n, float* y, MatMulScratch* s,
                  int threads) {
  const size_t rows = w.rows, cols = w.cols, stride = NibbleRowBytes(cols);
  const size_t block = w.quant == QuantKind::kBlock ? w.quant_block : cols;
  const size_t nb = (cols + block - 1) / block;
  const NibbleOps n4 = NibblesOf(ops);
  const int8_t* xq = s->q.data();
  const float* xs = s->scales.data();
  const int32_t* xsum = s->sums.data();
  const float* p = w.params;
  const int32_t* bsums = nullptr;
  if (w.quant == QuantKind::kBlock && ops.dot_n4_blocks_rows4 != nullptr) {
    ComputeBlockSums(n, cols, block, nb, s);
    bsums = s->block_sums.data();
  }
  const long chunks = static_cast<long>((rows + kRowChunk - 1) / kRowChunk);
#pragma omp parallel num_threads(threads)
  {
    std::vector<int32_t> dots(nb * kScaleRows);
#pragma omp for schedule(dynamic, 1)
    for (long c = 0; c < chunks; ++c) {
      const size_t r1 = std::min(rows, static_cast<size_t>(c + 1) * kRowChunk);
      size_t r = static_cast<size_t>(c) * kRowChunk;
      if (w.quant == QuantKind::kChannel && ops.dot_n4_rows4 != nullptr) {
        for (; r + 4 <= r1; r += 4) {
          for (size_t t = 0; t < n; ++t) {
            int32_t d[4];
            ops.dot_n4_rows4(w.data + r * stride, stride, w.lut, xq + t * cols, cols, xsum[t], d);
            for (size_t i = 0; i < 4; ++i) {
              y[t * rows + r + i] = static_cast<float>(d[i]) * (p[r + i] * xs[t]);
            }
          }
        }
      }
      if (w.quant == QuantKind::kBlock) {
        for (; r + kScaleRows <= r1; r += kScaleRows) {
          for (size_t t = 0; t < n; ++t) {
            BlockRowsN4(ops, n4, w, r, xq + t * cols, bsums ? bsums + t * nb : nullptr, xs + t * nb,
                        dots.data(), y + t * rows);
          }
        }
      }
      for (; r < r1; ++r) {
        const uint8_t* wr = w.data + r * stride;
        for (size_t t = 0; t < n; ++t) {
          const int8_t* xt = xq + t * cols;
          float out = 0.0f;
          switch (w.quant) {
            case QuantKind::kChannel:
              out = static_cast<float>(n4.dot(wr, w.lut, xt, cols)) * (p[r] * xs[t]);
              break;
            case QuantKind::kTensorMinMax: {
              const double scale = p[0], zp = p[1];
              const double v = (static_cast<double>(n4.dot(wr, w.lut, xt, cols)) - zp * xsum[t]) *
                               (scale * xs[t]);
              out = static_cast<float>(v);
              break;
            }
            case QuantKind::kBlock: {
              n4.blocks(wr, w.lut, xt, cols, block, dots.data());
              const float* ws = p + r * nb;
              const float* ts = xs + t * nb;
              for (size_t k = 0; k < nb; ++k) out += static_cast<float>(dots[k]) * (ws[k] * ts[k]);
              break;
            }
            default: break;  // rejected by ValidateWeightView
          }
          y[t * rows + r] = out;
        }
      }
    }
  }
}

void MatMulI8(const KernelOps& ops, const WeightView& w, const float* x, size_t n, float* y,
              MatMulScratch* s, int threads) {
  const size_t rows = w.rows, cols = w.cols;
  const size_t block = w.quant == QuantKind::kBlock ? w.quant_block : cols;
  const size_t nb = (cols + block - 1) / block;
  s->q.resize(n * cols);
  s->scales.resize(n * nb);
  s->sums.resize(n);
  if (ops.quantize_i8 != nullptr) {
    // Rows are independent: split them over threads for prompts (below 16
    // rows the fork costs more than the work).
#pragma omp parallel for schedule(static) num_threads(threads) if (n >= 16)
    for (long t = 0; t < static_cast<long>(n); ++t) {
      s->sums[t] = ops.quantize_i8(x + t * cols, cols, block, &s->q[t * cols], &s->scales[t * nb]);
    }
  } else {
    QuantizeActivations(x, n, cols, block, s->q.data(), s->scales.data(), s->sums.data());
  }
  if (w.lut != nullptr && w.nibble_layout == NibbleLayout::kGroups16) {
    return MatMulN4Groups(ops, w, n, y, s, threads);
  }
  if (UseTiles(ops, w, n)) return MatMulI8Tiled(ops, w, n, y, s, threads);
  if (UseBlockTiles(ops, w, n)) return MatMulI8BlockTiled(ops, w, n, y, s, threads);
  if (w.lut != nullptr) return MatMulN4Rows(ops, w, n, y, s, threads);
  const int8_t* wq = reinterpret_cast<const int8_t*>(w.data);
  const int8_t* xq = s->q.data();
  const float* xs = s->scales.data();
  const int32_t* xsum = s->sums.data();
  const float* p = w.params;
  const long nrows = static_cast<long>(rows);
  switch (w.quant) {
    case QuantKind::kChannel:
#pragma omp parallel for schedule(dynamic, kRowChunk) num_threads(threads)
      for (long r = 0; r < nrows; ++r) {
        for (size_t t = 0; t < n; ++t) {
          const int32_t dot = ops.dot_i8(wq + r * cols, xq + t * cols, cols);
          y[t * rows + r] = static_cast<float>(dot) * (p[r] * xs[t]);
        }
      }
      break;
    case QuantKind::kTensorMinMax: {
      const double scale = p[0], zp = p[1];
#pragma omp parallel for schedule(dynamic, kRowChunk) num_threads(threads)
      for (long r = 0; r < nrows; ++r) {
        for (size_t t = 0; t < n; ++t) {
          const int32_t dot = ops.dot_i8(wq + r * cols, xq + t * cols, cols);
          const double v = (static_cast<double>(dot) - zp * xsum[t]) * (scale * xs[t]);
          y[t * rows + r] = static_cast<float>(v);
        }
      }
      break;
    }
    case QuantKind::kBlock:
#pragma omp parallel num_threads(threads)
    {
      std::vector<int32_t> dots(nb);
#pragma omp for schedule(dynamic, kRowChunk)
      for (long r = 0; r < nrows; ++r) {
        const float* ws = p + r * nb;
        for (size_t t = 0; t < n; ++t) {
          ops.dot_i8_blocks(wq + r * cols, xq + t * cols, cols, block, dots.data());
          const float* ts = xs + t * nb;
          float acc = 0.0f;
          for (size_t k = 0; k < nb; ++k) acc += static_cast<float>(dots[k]) * (ws[k] * ts[k]);
          y[t * rows + r] = acc;
        }
      }
    } break;
    default: break;  // rejected by ValidateWeightView
  }
}

}  // namespace

void MatMul(const KernelOps& ops, const WeightView& w, const float* x, size_t n, float* y,
            MatMulScratch* scratch, int threads) {
  const size_t rows = w.rows, cols = w.cols;
  const long nrows = static_cast<long>(rows);
  if (threads <= 0) threads = omp_get_max_threads();
  switch (w.dtype) {
    case DType::kF32: {
      const float* wf = reinterpret_cast<const float*>(w.data);
#pragma omp parallel for schedule(dynamic, kRowChunk) num_threads(threads)
      for (long r = 0; r < nrows; ++r) {
        for (size_t t = 0; t < n; ++t)
          y[t * rows + r] = ops.dot_f32(wf + r * cols, x + t * cols, cols);
      }
      break;
    }
    case DType::kF16:
    case DType::kBF16: {
      const uint16_t* wh = reinterpret_cast<const uint16_t*>(w.data);
      auto dot = w.dtype == DType::kF16 ? ops.dot_f16 : ops.dot_bf16;
#pragma omp parallel for schedule(dynamic, kRowChunk) num_threads(threads)
      for (long r = 0; r < nrows; ++r) {
        for (size_t t = 0; t < n; ++t) y[t * rows + r] = dot(wh + r * cols, x + t * cols, cols);
      }
      break;
    }
    case DType::kI8: MatMulI8(ops, w, x, n, y, scratch, threads); break;
    default: break;  // rejected by ValidateWeightView
  }
}

void DequantizeRow(const WeightView& w, size_t row, float* out) {
  const size_t cols = w.cols;
  switch (w.dtype) {
    case DType::kF32: std::memcpy(out, w.data + row * cols * 4, cols * 4); return;
    case DType::kF16:
    case DType::kBF16: {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(w.data) + row * cols;
      for (size_t i = 0; i < cols; ++i) {
        out[i] = w.dtype == DType::kF16 ? F16ToF32(h[i]) : BF16ToF32(h[i]);
      }
      return;
    }
    case DType::kI8: break;
    default: return;
  }
  std::vector<int8_t> expanded;
  const int8_t* q = reinterpret_cast<const int8_t*>(w.data) + row * cols;
  const bool groups = w.lut != nullptr && w.nibble_layout == NibbleLayout::kGroups16;
  if (groups) {
    expanded.resize(cols);
    for (size_t i = 0; i < cols; ++i) expanded[i] = w.lut[NibbleGroupAt(w.data, cols, row, i)];
    q = expanded.data();
  } else if (w.lut != nullptr) {
    expanded.resize(cols);
    ExpandN4Scalar(w.data + row * NibbleRowBytes(cols), w.lut, cols, expanded.data());
    q = expanded.data();
  }
  switch (w.quant) {
    case QuantKind::kTensorMinMax:
      for (size_t i = 0; i < cols; ++i) out[i] = w.params[0] * (q[i] - w.params[1]);
      break;
    case QuantKind::kChannel:
      for (size_t i = 0; i < cols; ++i) out[i] = w.params[row] * q[i];
      break;
    case QuantKind::kBlock: {
      const size_t b = w.quant_block, nb = (cols + b - 1) / b;
      for (size_t i = 0; i < cols; ++i) {
        const size_t k = i / b;
        const float scale =
            w.params[groups ? NibbleGroupParamIndex(row, k, nb) : row * nb + k];
        out[i] = scale * q[i];
      }
      break;
    }
    default: break;
  }
}

void RmsNorm(const float* x, const float* weight, size_t n, float eps, float* out) {
  float ss = 0.0f;
  for (size_t i = 0; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (size_t i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void Softmax(float* x, size_t n) {
  float mx = x[0];
  for (size_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  for (size_t i = 0; i < n; ++i) x[i] /= sum;
}

void SwiGlu(float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float v = a[i];
    v *= 1.0f / (1.0f + std::exp(-v));
    a[i] = v * b[i];
  }
}

}  // namespace tqf::rt
