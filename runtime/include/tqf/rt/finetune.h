// Quantization-aware distillation of a low-bit pack (`tqf pack --finetune
// N`, PackOptions::refine): after the quantizers have made every low-bit
// tensor's grid (its scales, the codes it uses, its VQ codebook) and chosen
// codes on it (GPTQ's), distillation moves codes along that grid, and the
// scales, norms' gains and codebook entries with them, so that the
// quantized model's next-token distributions come closer to the source
// model's own on the calibration tokens.
//
// Method: a latent fp32 copy of each low-bit tensor (in code units: each
// weight over its block's scale) starts inside the cell of its quantized
// code; each step runs the quantized model (every latent weight rounded to
// the nearest point of its grid), takes the gradient of KL(source ||
// quantized) per token, passes it straight through the rounding to the
// latent weights, and moves them with Adam (a step of at most `lr` cells
// per weight: a cell is one step of a scalar grid, and for a VQ tensor the
// median distance between nearest entries of its codebook). With
// scale_lr, each stored scale is trained too (its codes held, the gradient
// of log2 scale), rounded to the log8 grid it is stored on; with gain_lr,
// so are the norms' gains (f32 vectors, free in bits); with codebook_lr,
// so are VQ codebooks' entries (the sum of the gradients of their uses,
// rounded to int8), in every tensor that shares them. Tensors that are not
// low-bit stay the source's. Held-out sequences (every eighth, at least
// one, up to max_heldout_tokens) decide: of the steps' roundings and (with
// `average`) those of the latent weights' moving average on the same
// step's scales and codebooks, the codes, scales, gains and codebooks with
// the lowest held-out KL are kept, the quantizers' own if none beat them.
//
// What cannot change: the number and format of the scales (so what they
// cost), a tensor's set of codes (so a tensor held as nibbles stays so),
// each block's code range (asymmetric grids), a codebook's size. Rates
// can: codes move, so their entropy does (kept near the quantizers' by
// weighing each code's cost in bits; PackWithinBits re-checks the budget).
//
// Memory: the source's and the latent weights (fp32), the latter's average,
// Adam's two moments, the codes and params of the best rounding (and,
// while the average is measured, of the latest one, with its fp32
// weights), one gradient copy per sequence of a batch, and the source model's softmax
// over calibration tokens (tokens x vocab floats), kept within
// max_teacher_bytes: the held-out tokens' and as many training tokens' as
// fit. The rest's is computed again at each step that uses them (a forward
// pass of the source, and tokens x vocab floats per thread while a
// sequence is processed), so every sequence trains whatever the budget.
//
// Thread-safety: one call at a time per tensor set; parallel inside.
#ifndef TQF_RUNTIME_FINETUNE_H_
#define TQF_RUNTIME_FINETUNE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/result.h"
#include "tqf/rt/calibrate.h"

namespace tqf::rt {

struct FinetuneOptions {
  size_t steps = 0;              // optimizer steps (each over `batch` sequences)
  // Sequences per step. On stories260K at 2.5 bits (150 steps), 16 reached
  // perplexity 7.857 (seed 1, codebooks fixed) and 7.833 (seed 2, codebooks
  // trained) where 8 reached 8.150 and 8.161 with the same seeds and
  // codebooks: less noise in the gradient, at twice the time per step. 32
  // reached 7.956 (seed 1, against 7.992 at 16), at twice the time again.
  size_t batch = 16;
  // Adam step, in cells of the weight's grid. On stories260K at 2.5 bits,
  // 150 steps of 8 sequences, codebooks fixed and VQ steps in int8 units
  // (with the scale and gain steps below): 0.005 reached
  // perplexity 8.18, 0.01 8.23; 0.02 over 300 steps 8.45.
  float lr = 0.01f;
  // Adam step of the scales, in steps of their log8 grid (2^(1/16)), at
  // the start of the same schedule; 0: scales stay the quantizers'.
  float scale_lr = 0.2f;
  // Adam step of 1-D f32 tensors (norms' gains, which cost no bits), as a
  // share of each one's RMS, at the start of the same schedule; 0: they
  // stay the source's.
  float gain_lr = 0.002f;
  // Adam step of VQ codebooks' entries (int8 vectors shared by the tensors
  // quantized with them), in cells like `lr`, on the same schedule,
  // rounded to int8; 0: codebooks stay the quantizers'.
  float codebook_lr = 0.01f;
  // Decay of a moving average of the latent weights, kept beside them: at
  // each held-out measure the average's codes (on the latest scales,
  // gains and codebooks) are measured too, and the better kept. Single
  // batches' noise keeps latent weights hopping across code borders; their
  // average settles where the gradient points on average. On stories260K
  // at 2.5 bits its codes won at the last step in three of four runs
  // (held-out KL 0.2859 against 0.3008, 0.2835/0.3001, 0.2881/0.3036; lost
  // 0.3012/0.2975, where the pack is the same file as without it);
  // averaging the scales, gains and codebook entries too won in one of
  // three (0.2900/0.2949; lost 0.2999/0.2975 and, at 300 steps,
  // 0.3136/0.3013). A candidate, not a reliable gain. 0: off.
  float average = 0.9f;
  // Of the distillation's softmax (the held-out KL is at 1). On stories260K
  // at 3.5 bits, 2 gave perplexity +11.8% where 1 gave +9.6% (same run).
  float temperature = 1.0f;
  uint64_t seed = 1;             // the order sequences are visited in
  size_t eval_every = 25;        // held-out KL measured every this many steps (and at the end)
  // Softmaxes of the source kept (see Memory above); the held-out share is
  // at most half of it.
  uint64_t max_teacher_bytes = uint64_t{512} << 20;
  // Every eighth sequence is held out (at least one), until the next would
  // pass this many tokens (or half max_teacher_bytes): enough to
  // choose the best step, not so many that measuring it (twice, with
  // `average`) costs more than the steps between.
  uint64_t max_heldout_tokens = 32768;
  uint64_t max_weights = uint64_t{32} << 20;  // 2-D weights; larger models are refused
  int threads = 0;                            // 0: OpenMP's default
  std::function<void(size_t done, size_t total)> progress;
  // Checked before each step: once set, FinetuneLowBit returns kCancelled
  // (the pack then fails; the tensors' codes and codebooks are left
  // half-tuned).
  const std::atomic<bool>* cancel = nullptr;
};

struct FinetuneReport {
  size_t steps = 0, batch = 0;  // steps of `batch` sequences
  size_t train_tokens = 0, heldout_tokens = 0;
  double kl_before = 0, kl_after = 0;  // held-out, nats per token
  size_t best_step = 0;                // 0: the quantizers' codes were kept
  bool best_averaged = false;          // the kept codes were the moving average's
  uint64_t codes_changed = 0, codes = 0;  // VQ indices count as one code
  uint64_t scales_changed = 0, scales = 0;
  uint64_t gains_changed = 0, gains = 0;
  uint64_t codebook_values_changed = 0, codebook_values = 0;  // int8 values of entries
  std::vector<std::pair<size_t, double>> curve;  // (step, held-out KL) per evaluation
  std::vector<std::pair<size_t, double>> averaged_curve;  // the same, of the average
  double seconds = 0;
};

// OK if FinetuneLowBit can run on `source` with `options`: a LLaMA model
// within max_weights whose tensors have the shapes its hyperparameters
// imply, positive batch, lr and temperature, scale_lr, gain_lr and
// codebook_lr of 0 or more, and average in [0, 1). Cheap: call it before
// calibrating, so that a pack does not fail after quantizing everything.
Status CheckFinetunable(const SourceModel& source, const FinetuneOptions& options);

// Distils `tensors` (PackOptions::refine's) toward `source` on `sequences`
// (at least 2). CheckFinetunable's errors; kInvalidArgument for too few
// sequences, tokens outside the vocabulary, or tensors that are not the
// low-bit tensors of a pack.
Result<FinetuneReport> FinetuneLowBit(const SourceModel& source, const TokenSequences& sequences,
                                      std::vector<RefinableTensor>* tensors,
                                      const FinetuneOptions& options);

// PackOptions::refine running FinetuneLowBit on `sequences` (not owned:
// must outlive the pack); each run's report is copied to *last (a --bits
// pack may run it more than once).
std::function<Status(const SourceModel&, std::vector<RefinableTensor>*)> FinetuneRefiner(
    const TokenSequences* sequences, const FinetuneOptions& options,
    std::shared_ptr<FinetuneReport> last);

// "100 steps of 16 sequences over 57473 tokens, 176.3 s: held-out KL 0.1879 -> 0.1218
// nats/token (8192 held-out tokens; best at step 50, averaged), changed 11.4% of
// codes, ...; held-out KL at step 25: 0.1251, 50: 0.1230, ...; averaged 25:
// 0.1249, 50: 0.1218, ...".
std::string DescribeFinetune(const FinetuneReport& report);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_FINETUNE_H_
