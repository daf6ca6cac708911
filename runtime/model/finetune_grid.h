// The grid each low-bit tensor's codes live on during distillation
// (finetune.cc): read from a pack's RefinableTensor, the rounding of latent
// weights onto it, the rounding of trained scales onto their storage, the
// rate kept, and the gradients of the latent weights and log2 scales from
// the weights'. Internal to the runtime; tested on its own
// (tests/runtime/finetune_test.cc).
//
// Ownership: a Grid borrows its RefinableTensor: *r, *r->source,
// *r->quantized and *r->codebook must outlive it (copies share them). It
// writes codes, VQ indices and params into *r->quantized (and its
// codebook's vectors are written by distillation, finetune.cc). Latent weights,
// weights and gradients are rows x cols floats, row-major.
//
// Thread-safety: one thread per Grid; Project and GridGradients are
// parallel inside (OpenMP).
#ifndef TQF_RUNTIME_FINETUNE_GRID_H_
#define TQF_RUNTIME_FINETUNE_GRID_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tqf/pack.h"
#include "tqf/quantize.h"
#include "tqf/result.h"

namespace tqf::rt::distill {

// The grid a low-bit tensor's codes live on: per block (a row's run of
// `block` elements) a scale, a zero point and the code range its codes
// span; the tensor's set of codes; or a VQ codebook.
struct Grid {
  RefinableTensor* r = nullptr;
  int index = -1;  // in Weights::t
  QuantKind quant = QuantKind::kNone;
  size_t rows = 0, cols = 0, block = 0, blocks_per_row = 0;
  std::vector<float> scale, zero;  // per block, as the params now hold them
  // The stored scales as trained: log2 of each (params index; -inf for a
  // zero scale, which stays), and the log8 base they are rounded to (0:
  // f32 params, kept as they are).
  std::vector<float> log_scale;
  float log8_base = 0.0f;
  std::vector<int8_t> lo, hi;
  std::vector<int> levels;  // sorted distinct codes (scalar grids)
  VqCodebook* codebook = nullptr;  // trained with its tensors (finetune.cc)
  // How far, in code units, a latent weight moves to reach the next code:
  // 1 on a scalar grid; for a codebook, the median distance from an entry
  // to its nearest neighbour (entries are int8 vectors spread over the
  // int8 range, so one code unit is a small fraction of a cell). Steps
  // are scaled by it, so that a VQ tensor's codes can move at all.
  float cell = 1.0f;
  // Rate: each symbol's (code + 128, or VQ index) cost in bits under the
  // quantizers' histogram, what the quantizers' codes cost at these
  // prices, and the weight of bits against squared cells in Project
  // (kept by AdjustRate so that the cost does not grow).
  std::vector<float> bits;
  double priced = 0.0;
  float lambda = 0.0f;
  size_t blocks() const { return rows * blocks_per_row; }
  // The params index of block k's scale.
  size_t ParamOf(size_t k) const {
    if (quant == QuantKind::kTensorMinMax) return 0;
    return quant == QuantKind::kChannel ? k / blocks_per_row : k;
  }
};

// The grid of a pack's low-bit tensor `r` (slot `index` of the model's
// Weights): its scales, zero points, code ranges and levels, or its VQ
// codebook, and its codes' prices. r, r->source and r->quantized must not
// be null. kInvalidArgument (naming the tensor) for a tensor that is not
// int8 codes of a tensor-, row- or block-scaled grid with consistent
// params and VQ indices.
Result<Grid> GridOf(RefinableTensor* r, int index);

// Rounds `latent` (in code units: a weight over its scale, plus the zero
// point) to the grid: codes into the tensor (and its VQ indices), values
// into `out`. A weight whose scale is not positive or whose latent value
// is not finite keeps its code.
void Project(const Grid& g, const float* latent, float* out);

// The trained scales rounded to what the params can store (the log8 grid,
// or f32), into the params and each block's scale.
void ProjectScales(Grid* g);

// Each block's scale (Grid::scale) from the params they are stored in.
void ReadScales(Grid* g);

// Raises a tensor's weight of bits when its codes cost more than the
// quantizers' (priced with their histogram, Grid::bits), lowers it when
// less: codes may move, the rate may not.
void AdjustRate(Grid* g);

// What the codes of `grids` cost, each tensor's priced with its
// quantizers' histogram (Grid::bits), summed: the rate distillation keeps.
double CodeBits(const std::vector<Grid>& grids);

// Where each latent weight starts: the source's value, moved into the cell
// of the code the quantizers chose (just inside its border when the source
// value lies outside it). Starting every latent weight at its grid point
// instead would move whole tensors' codes at the same step, each a full
// grid step, far past where the gradient holds.
// Latent weights are in code units (Project).
void InitLatent(const Grid& g, const float* source, float* latent);

// The loss's gradient in a tensor's latent weights (code units: the
// weight's gradient times its scale) and in its log2 scales (each code
// fixed: dw/dlog2(s) = (code - zero) s ln 2), from the weights' `gw`:
// *g_latent gets rows x cols values, *g_scale one per stored scale
// (log_scale.size(): 1 for a per-tensor scale).
void GridGradients(const Grid& g, const std::vector<float>& gw, std::vector<float>* g_latent,
                   std::vector<float>* g_scale);

}  // namespace tqf::rt::distill

#endif  // TQF_RUNTIME_FINETUNE_GRID_H_
