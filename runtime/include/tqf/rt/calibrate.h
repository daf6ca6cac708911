// Calibration: the second moments X^T X of the inputs each weight matrix
// multiplies, gathered by running the model on calibration tokens, for the
// low-bit quantizers' error compensation (PackModel's InputStatistics).
//
// Calibration tokens come from text (CalibrationFromText) or, data-free,
// from the model itself (CalibrationGenerate: sequences sampled from BOS at
// temperature 1, so they follow the model's own distribution and never
// contain text that is later measured).
//
// Memory: diagonals for every matrix (small) are gathered in one pass;
// full second moments a window of layers at a time (as many as fit
// CalibrationOptions::max_stat_bytes, at least one), each window one pass
// over the calibration tokens. PackModel asks layer by layer, so a model of
// L layers costs about L * 8 * (2 dim^2 + q_dim^2 + hidden^2) / max_stat_bytes
// passes.
//
// Thread-safety: one thread uses a CalibrationStatistics at a time.
#ifndef TQF_RUNTIME_CALIBRATE_H_
#define TQF_RUNTIME_CALIBRATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/reader.h"
#include "tqf/result.h"
#include "tqf/rt/model.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::rt {

using TokenSequences = std::vector<std::vector<int32_t>>;

// `text` tokenized (BOS first when the model uses one) and cut into
// sequences of at most `seq_len` tokens, the first `max_tokens` only (0:
// all). kInvalidArgument if it gives no tokens.
Result<TokenSequences> CalibrationFromText(const Tokenizer& tokenizer, const std::string& text,
                                           size_t seq_len, size_t max_tokens);

// `n_tokens` tokens sampled from `model` (temperature 1, from `seed`) in
// sequences of at most `seq_len` starting at BOS; a sequence also ends at
// EOS. `progress` (optional) gets (tokens done, n_tokens).
Result<TokenSequences> CalibrationGenerate(Model* model, const Tokenizer& tokenizer,
                                           size_t n_tokens, size_t seq_len, uint64_t seed,
                                           const std::function<void(size_t, size_t)>& progress);

struct CalibrationOptions {
  size_t max_stat_bytes = size_t{1} << 30;  // second moments held at once (f64)
  // Windows of one layer only (sequential calibration: the model changes
  // between layers, see Rebind).
  bool one_layer_windows = false;
  // (pass, passes) as passes over the calibration tokens finish.
  std::function<void(size_t, size_t)> progress;
};

class CalibrationStatistics final : public InputStatistics {
 public:
  // Runs `model` (not owned; must outlive this) over `sequences` when asked.
  CalibrationStatistics(Model* model, TokenSequences sequences, const CalibrationOptions& options);
  ~CalibrationStatistics() override;

  // Tensor names as the importers give them: blk.N.{attn_q,attn_k,attn_v,
  // attn_output,ffn_gate,ffn_up,ffn_down}.weight and output.weight; others
  // (token_embd) have none. kInvalidArgument if `cols` is not what the model
  // multiplies the tensor by; the model's errors as they come.
  Result<std::vector<float>> SecondMoment(const std::string& name, size_t cols) override;
  Result<std::vector<float>> Diagonal(const std::string& name, size_t cols) override;

  // Runs `model` from now on (its earlier layers changed): forgets the
  // second moments gathered so far, keeps the diagonals.
  void Rebind(Model* model);

  // Whether the current window already holds `name`'s second moments.
  bool Covers(const std::string& name) const;

  size_t tokens() const;
  const TokenSequences& sequences() const { return sequences_; }
  size_t passes() const { return passes_; }

 private:
  struct Collector;
  Status RunPass(Collector* collector);
  size_t passes_ = 0;
  Model* model_;
  TokenSequences sequences_;
  CalibrationOptions options_;
  std::unique_ptr<Collector> diagonals_, window_;
};

// `source` packed unquantized (f32, codec raw) into a temporary file beside
// nothing the user owns (TMPDIR or /tmp), opened and unlinked: the model
// calibration and `tqf eval` of a source model run. Sources over
// `max_raw_bytes` of f32 are packed block32 instead (8-bit, within 0.2% of
// f32 in perplexity) to bound the temporary file.
Result<std::shared_ptr<const Reader>> PackSourceForRuntime(const SourceModel& source,
                                                           uint64_t max_raw_bytes = uint64_t{1}
                                                                                    << 33);

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_CALIBRATE_H_
