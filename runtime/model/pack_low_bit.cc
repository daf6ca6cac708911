// Calibration sessions and packing to a bit budget (pack_low_bit.h).
#include "tqf/rt/pack_low_bit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "tqf/internal/files.h"
#include "tqf/rt/allocate.h"

namespace tqf::rt {
namespace {

constexpr uint64_t kMaxCalibText = uint64_t{256} << 20;

// The choice for `budget` bits per weight: sets options->tensor_quant,
// returns the line describing it.
std::string ApplyChoice(const std::vector<MatrixCosts>& costs, const AllocationOptions& ao,
                        const BitsRequest& request, double budget, PackOptions* options) {
  uint64_t weights = 0;
  for (const MatrixCosts& c : costs) weights += c.elements;
  const std::vector<size_t> pick = ChooseSchemes(costs, budget * double(weights));
  const std::vector<QuantSpec> cands =
      ao.candidates.empty() ? DefaultBitsCandidates() : ao.candidates;
  auto chosen = std::make_shared<std::map<std::string, QuantSpec>>();
  double predicted = 0, bits = 0;
  for (size_t t = 0; t < costs.size(); ++t) {
    (*chosen)[costs[t].name] = cands[pick[t]];
    predicted += costs[t].loss[pick[t]];
    bits += costs[t].bits[pick[t]];
  }
  const QuantSpec fallback = options->quant;
  options->tensor_quant = [chosen, fallback](const SourceTensor& t) {
    auto it = chosen->find(t.name);
    return it == chosen->end() ? fallback : it->second;
  };
  char line[256];
  if (ao.measure) {
    std::snprintf(line, sizeof(line),
                  "%.3f bits per weight asked%s: %.3f estimated, predicted cross-entropy +%.4f "
                  "nats (sensitivity measured with %s)",
                  request.bits, request.held ? " (held)" : "", weights ? bits / weights : 0.0,
                  predicted, QuantSpecName(ao.reference).c_str());
  } else {
    std::snprintf(line, sizeof(line),
                  "%.3f bits per weight asked%s: %.3f estimated, predicted relative %s error %.4f",
                  request.bits, request.held ? " (held)" : "", weights ? bits / weights : 0.0,
                  ao.statistics ? "output" : "weight", std::sqrt(predicted));
  }
  return line;
}

}  // namespace

// The session's statistics when calibrating sequentially: remembers what
// the pack made of each tensor, and before the next layer's second moments
// re-creates the model with them.
class CalibrationSession::Sequential final : public InputStatistics {
 public:
  explicit Sequential(CalibrationSession* s) : s_(s) {}
  Result<std::vector<float>> SecondMoment(const std::string& name, size_t cols) override {
    if (dirty_ && !s_->stats_->Covers(name)) {
      TQF_RETURN_IF_ERROR(s_->Rebuild());
      dirty_ = false;
    }
    return s_->stats_->SecondMoment(name, cols);
  }
  Result<std::vector<float>> Diagonal(const std::string& name, size_t cols) override {
    return s_->stats_->Diagonal(name, cols);
  }
  Status Quantized(const std::string& name, const std::vector<float>& values) override {
    replaced[name] = values;
    dirty_ = true;
    return Status::OK();
  }
  std::map<std::string, std::vector<float>> replaced;

 private:
  CalibrationSession* s_;
  bool dirty_ = false;
};

CalibrationSession::~CalibrationSession() = default;

InputStatistics* CalibrationSession::statistics() {
  if (sequential_) return sequential_.get();
  return stats_.get();
}

Status CalibrationSession::Rebuild() {
  SourceModel m = source_;
  for (SourceTensor& t : m.tensors) {
    auto it = sequential_->replaced.find(t.name);
    if (it == sequential_->replaced.end()) continue;
    t.dtype = DType::kF32;
    t.data = reinterpret_cast<const uint8_t*>(it->second.data());
    t.size = it->second.size() * sizeof(float);
  }
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const Reader> reader, PackSourceForRuntime(m, UINT64_MAX));
  TQF_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Create(reader, model_options_));
  stats_->Rebind(model.get());
  model_ = std::move(model);
  reader_ = std::move(reader);
  ++rebuilds_;
  return Status::OK();
}

Result<std::unique_ptr<CalibrationSession>> CalibrationSession::Start(
    const SourceModel& source, const CalibrationRequest& request, const LowBitProgress& progress) {
  if (request.text_path.empty() == (request.generate == 0)) {
    return Status::InvalidArgument(
        "calibration needs either a text or a number of tokens to "
        "generate, not both");
  }
  std::unique_ptr<CalibrationSession> c(new CalibrationSession);
  TQF_ASSIGN_OR_RETURN(c->reader_, PackSourceForRuntime(source));
  ModelOptions mo;
  mo.threads = request.threads;
  const uint32_t context = c->reader_->model().hparams.context_length;
  uint64_t seq_len = std::max<uint64_t>(request.seq_len, 2);
  if (context > 0 && seq_len > context) seq_len = context;
  mo.ctx_size = static_cast<uint32_t>(seq_len);
  c->model_options_ = mo;
  TQF_ASSIGN_OR_RETURN(c->model_, Model::Create(c->reader_, mo));
  TQF_ASSIGN_OR_RETURN(c->tokenizer_, Tokenizer::Create(c->reader_->model().tokenizer));
  TokenSequences seqs;
  if (!request.text_path.empty()) {
    TQF_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(request.text_path, kMaxCalibText));
    TQF_ASSIGN_OR_RETURN(seqs,
                         CalibrationFromText(*c->tokenizer_, text, seq_len, request.max_tokens));
    c->text_source_ = "of " + request.text_path;
  } else {
    TQF_ASSIGN_OR_RETURN(
        seqs, CalibrationGenerate(c->model_.get(), *c->tokenizer_, request.generate, seq_len,
                                  request.seed, [&](size_t done, size_t total) {
                                    if (progress) progress("calib-gen", done, total);
                                  }));
    c->text_source_ = "generated by the model (seed " + std::to_string(request.seed) + ")";
  }
  if (request.finetune_tokens > 0) {
    TQF_ASSIGN_OR_RETURN(
        c->finetune_,
        CalibrationGenerate(c->model_.get(), *c->tokenizer_, request.finetune_tokens, seq_len,
                            request.seed + 1, [&](size_t done, size_t total) {
                              if (progress) progress("finetune-gen", done, total);
                            }));
  }
  uint64_t weights = 0;
  for (const SourceTensor& t : source.tensors)
    weights += t.shape.size() >= 2 ? t.num_elements() : 0;
  CalibrationOptions co;
  co.max_stat_bytes = request.max_stat_bytes;
  if (request.sequential && weights <= request.max_sequential_weights) {
    c->source_ = source;
    c->sequential_ = std::make_unique<Sequential>(c.get());
    co.one_layer_windows = true;
  }
  co.progress = [progress](size_t pass, size_t passes) {
    if (progress) progress("calib", pass, passes);
  };
  c->stats_ = std::make_unique<CalibrationStatistics>(c->model_.get(), std::move(seqs), co);
  return c;
}

std::string CalibrationSession::Describe() const {
  return std::to_string(stats_->tokens()) + " tokens " + text_source_ + ", " +
         std::to_string(stats_->passes()) + " passes" +
         (sequential_ ? ", sequential (" + std::to_string(rebuilds_) + " re-runs)" : "");
}

Result<PackReport> PackWithinBits(const SourceModel& source, const std::string& out,
                                  const BitsRequest& request, CalibrationSession* session,
                                  PackOptions options, std::string* choice,
                                  const LowBitProgress& progress) {
  if (!(request.bits >= 1.0 && request.bits <= 8.5)) {
    return Status::InvalidArgument("bits per weight must be in 1 .. 8.5");
  }
  AllocationOptions ao;
  ao.reference = QuantSpec(QuantScheme::kEntropy);
  ao.reference.entropy_bits = request.reference_bits;
  ao.damping = options.damping;
  ao.act_order = options.act_order;
  uint64_t weights = 0;
  for (const SourceTensor& t : source.tensors)
    weights += t.shape.size() >= 2 ? t.num_elements() : 0;
  // The dictionary joins the default choices only: an explicit list (such
  // as --bits-native's nibble-held schemes) is taken as given.
  ao.candidates = request.candidates.empty() ? DefaultBitsCandidates() : request.candidates;
  if (request.candidates.empty() && request.vq && session != nullptr &&
      request.bits <= request.vq_max_bits) {
    for (const QuantSpec& s : VqBitsCandidates()) ao.candidates.push_back(s);
  }
  ao.measure = request.measure && session != nullptr && weights <= request.max_measured_weights;
  ao.held_rate = request.held;
  TokenSequences measure;
  if (session != nullptr) {
    ao.statistics = session->statistics();
    options.statistics = session->statistics();
    size_t taken = 0;
    for (const auto& s : session->sequences()) {
      if (taken >= request.measure_tokens) break;
      measure.push_back(s);
      taken += s.size();
    }
    ao.sequences = &measure;
  }
  ao.progress = [&](size_t done, size_t total) {
    if (progress) progress("costs", done, total);
  };
  TQF_ASSIGN_OR_RETURN(std::vector<MatrixCosts> costs, CostMatrices(source, ao));
  if (std::getenv("TQF_DEBUG_BITS")) {
    const std::vector<QuantSpec> cands =
        ao.candidates.empty() ? DefaultBitsCandidates() : ao.candidates;
    for (const MatrixCosts& c : costs) {
      std::fprintf(stderr, "%-28s c=%.5f", c.name.c_str(), c.measured);
      for (size_t s = 0; s < cands.size(); ++s) {
        std::fprintf(stderr, " %s:%.2f/%.4g", QuantSpecName(cands[s]).c_str(),
                     c.bits[s] / c.elements, c.loss[s]);
      }
      std::fprintf(stderr, "\n");
    }
  }
  double budget = request.bits;
  Result<PackReport> report = Status::InvalidArgument("not packed");
  std::string overshoots;
  for (int attempt = 0; attempt < 3; ++attempt) {
    *choice = ApplyChoice(costs, ao, request, budget, &options);
    report = PackModel(source, out, options);
    if (!report.ok()) return report;
    const double got = report->weight_bits.bits_per_weight();
    if (got <= request.bits) break;
    overshoots += (overshoots.empty() ? "" : ", ") + std::to_string(got).substr(0, 5);
    budget -= (got - request.bits) + 0.002;
  }
  // Say so when a pack landed over budget and was made again.
  if (!overshoots.empty()) *choice += "; packed again after landing at " + overshoots;
  return report;
}

}  // namespace tqf::rt
