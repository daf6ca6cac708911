// Mixed precision: which scheme each weight matrix gets so that the file
// meets a bits-per-weight budget (`tqf pack --bits B`) with the least loss.
//
// Each matrix t and candidate scheme s gets a rate R(t,s), in bits, found by
// quantizing t with s (with GPTQ when calibration statistics are given) and
// entropy coding the codes as the pack will (its own rans-alias table
// counted), plus its params; and a predicted loss increase
//   D(t,s) = c_t * E(t,s) / E(t,ref)
// where E is the output error the quantization causes on the calibration
// inputs (sum over rows of dW H dW^T; ||dW||^2 without statistics) and c_t
// is the *measured* increase of the model's cross-entropy on calibration
// tokens when t alone is quantized with the reference scheme. When
// measuring is off (no calibration text) the loss is the proxy
//   D(t,s) = E(t,s) / sum_t ||W_t X_t||^2
// (||W||^2 without statistics): the whole model's relative squared error,
// so weight-only it minimises ||W - W'|| / ||W|| over all matrices. The
// choice minimises sum D subject to sum R <= budget (a multiple-choice
// knapsack, solved by bisection on the Lagrange multiplier, which picks
// from each matrix's lower convex hull of (R, D)).
//
// Matrices over 2^20 weights are costed on every k-th row (rows quantize
// independently given H), scaled up.
//
// Thread-safety: one call at a time per Model.
#ifndef TQF_RUNTIME_ALLOCATE_H_
#define TQF_RUNTIME_ALLOCATE_H_

#include <functional>
#include <string>
#include <vector>

#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/quantize.h"
#include "tqf/rt/calibrate.h"

namespace tqf::rt {

// The mean cross-entropy (nats per predicted token) of `model` on
// `sequences` (each token predicting the next).
Result<double> MeanCrossEntropy(Model* model, const TokenSequences& sequences);

struct MatrixCosts {
  std::string name;
  uint64_t elements = 0;
  std::vector<double> bits;  // per candidate: stream + params + own table, in bits
  std::vector<double> loss;  // per candidate: predicted cross-entropy increase
  double measured = 0;       // c_t (see above); proxy: relative error at the reference
  double signal = 0;         // proxy: ||W X||^2 (||W||^2 without statistics)
};

struct AllocationOptions {
  std::vector<QuantSpec> candidates;  // empty: DefaultBitsCandidates()
  QuantSpec reference;                // the scheme c_t is measured with
  // Calibration statistics for GPTQ and the error measure (optional).
  InputStatistics* statistics = nullptr;
  double damping = 0.01;
  bool act_order = true;
  // Measure c_t by running the model (needs `sequences`); otherwise the proxy.
  bool measure = true;
  // Rates are the bits the runtime *holds* per matrix (HeldBits), not the
  // file's: for `--bits-native`, whose point is the bytes a token reads.
  bool held_rate = false;
  const TokenSequences* sequences = nullptr;
  // (matrix, matrices) as each matrix is costed.
  std::function<void(size_t, size_t)> progress;
};

// ec1.5 .. ec6 by half bits, q4a-g16, nf4-g32, q3a-g16 and channel (int8).
std::vector<QuantSpec> DefaultBitsCandidates();
// The schemes whose codes the runtime holds as nibbles (held_nibbles.h:
// at most 16 levels per tensor), so a token reads ~4 bits per weight plus
// scales: q3-row and q4-row (a float per row), q2-g32, q3-g32, q4-g32,
// nf4-g32 (a float per 32 weights), and channel (int8) for the matrices
// that need it. `tqf pack --bits B --bits-native`, costed by HeldBits.
std::vector<QuantSpec> NibbleHeldBitsCandidates();

// Bits the runtime holds for `q` (rows x cols): codes as nibbles
// (NibbleRowBytes per row) when they take at most 16 values, else one byte
// each, plus a float per param.
double HeldBits(const QuantizedTensor& q, size_t rows, size_t cols);

// The dictionary among the choices: vq4x256-row, vq2x64-row, vq2x256-row
// (2, 3 and 4 index bits per weight before entropy coding). CostMatrices
// trains one codebook per VQ candidate on all matrices (importance
// weighted, as the pack trains a shared one) and charges each matrix its
// share of the codebook's bits; a VQ candidate whose vector length does not
// divide a matrix's rows gets an infinite loss there (never chosen).
std::vector<QuantSpec> VqBitsCandidates();

// Rates and predicted losses of every 2-D tensor of `source` under every
// candidate. kInvalidArgument for no candidates or measuring without
// sequences; quantizer and model errors as they come.
Result<std::vector<MatrixCosts>> CostMatrices(const SourceModel& source,
                                              const AllocationOptions& options);

// The candidate index for each matrix minimising the predicted loss with
// sum of bits <= budget_bits (the cheapest choice everywhere if even that
// does not fit).
std::vector<size_t> ChooseSchemes(const std::vector<MatrixCosts>& costs, double budget_bits);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_ALLOCATE_H_
