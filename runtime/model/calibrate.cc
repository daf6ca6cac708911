// Calibration statistics: the model run over calibration tokens with an
// ActivationObserver that sums x^2 (diagonals) or x x^T (second moments).
#include "tqf/rt/calibrate.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <new>

#include "tqf/codec.h"
#include "tqf/rt/sampler.h"

namespace tqf::rt {
namespace {

// Where a tensor's inputs come from: a layer (-1: the output head) and which input.
struct Site {
  int layer = -2;  // -2: none
  MatrixInput input = MatrixInput::kAttention;
  bool operator<(const Site& o) const {
    return layer != o.layer ? layer < o.layer : static_cast<int>(input) < static_cast<int>(o.input);
  }
};

Site SiteOf(const std::string& name) {
  Site s;
  if (name == "output.weight") {
    s.layer = -1;
    s.input = MatrixInput::kOutput;
    return s;
  }
  if (name.rfind("blk.", 0) != 0) return s;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4) return s;
  const std::string num = name.substr(4, dot - 4);
  if (num.size() > 6 || num.find_first_not_of("0123456789") != std::string::npos) return s;
  const std::string rest = name.substr(dot + 1);
  static const std::map<std::string, MatrixInput> kInputs = {
      {"attn_q.weight", MatrixInput::kAttention},
      {"attn_k.weight", MatrixInput::kAttention},
      {"attn_v.weight", MatrixInput::kAttention},
      {"attn_output.weight", MatrixInput::kAttentionOutput},
      {"ffn_gate.weight", MatrixInput::kFeedForward},
      {"ffn_up.weight", MatrixInput::kFeedForward},
      {"ffn_down.weight", MatrixInput::kFeedForwardDown}};
  auto it = kInputs.find(rest);
  if (it == kInputs.end()) return s;
  s.layer = std::stoi(num);
  s.input = it->second;
  return s;
}

}  // namespace

// Sums over the observed inputs: x^2 per column for every site, or the
// lower triangle of x x^T for the sites of a window of layers.
struct CalibrationStatistics::Collector final : public ActivationObserver {
  bool full = false;
  int first = 0, last = 0;  // window [first, last) of layers; -1 is the head
  struct Sum {
    size_t cols = 0;
    std::vector<double> v;  // cols (diagonal) or cols x cols (lower triangle)
  };
  std::map<Site, Sum> sums;

  bool Covers(int layer) const { return layer >= first && layer < last; }

  void Observe(int layer, MatrixInput input, const float* x, size_t n, size_t cols) override {
    if (full && !Covers(layer)) return;
    Sum& s = sums[Site{layer, input}];
    if (s.v.empty()) {
      s.cols = cols;
      s.v.assign(full ? cols * cols : cols, 0.0);
    }
    double* h = s.v.data();
    if (!full) {
      for (size_t t = 0; t < n; ++t) {
        for (size_t i = 0; i < cols; ++i) h[i] += double(x[t * cols + i]) * x[t * cols + i];
      }
      return;
    }
#pragma omp parallel for schedule(dynamic, 8)
    for (long il = 0; il < static_cast<long>(cols); ++il) {
      const size_t i = static_cast<size_t>(il);
      double* hi = h + i * cols;
      for (size_t t = 0; t < n; ++t) {
        const double xi = x[t * cols + i];
        if (xi == 0.0) continue;
        const float* xt = x + t * cols;
        for (size_t j = 0; j <= i; ++j) hi[j] += xi * xt[j];
      }
    }
  }
};

CalibrationStatistics::CalibrationStatistics(Model* model, TokenSequences sequences,
                                             const CalibrationOptions& options)
    : model_(model), sequences_(std::move(sequences)), options_(options) {}

CalibrationStatistics::~CalibrationStatistics() = default;

bool CalibrationStatistics::Covers(const std::string& name) const {
  const Site site = SiteOf(name);
  return site.layer == -2 || (window_ && window_->Covers(site.layer));
}

void CalibrationStatistics::Rebind(Model* model) {
  model_ = model;
  window_.reset();
}

size_t CalibrationStatistics::tokens() const {
  size_t n = 0;
  for (const auto& s : sequences_) n += s.size();
  return n;
}

Status CalibrationStatistics::RunPass(Collector* collector) {
  model_->set_observer(collector);
  std::vector<float> logits;
  Status status;
  for (const auto& seq : sequences_) {
    status = model_->Forward(seq.data(), seq.size(), 0, false, &logits);
    if (!status.ok()) break;
  }
  model_->set_observer(nullptr);
  ++passes_;
  if (options_.progress) {
    // Total passes: one for the diagonals and one per window.
    const Hyperparameters& h = model_->hparams();
    const double per_layer =
        8.0 * (2.0 * h.dim * h.dim + double(h.n_heads * h.head_dim) * (h.n_heads * h.head_dim) +
               double(h.hidden_dim) * h.hidden_dim);
    const size_t per_window = std::max<size_t>(1, size_t(options_.max_stat_bytes / per_layer));
    options_.progress(passes_, 1 + (h.n_layers + 1 + per_window - 1) / per_window);
  }
  return status.WithContext("calibration pass");
}

Result<std::vector<float>> CalibrationStatistics::Diagonal(const std::string& name, size_t cols) {
  const Site site = SiteOf(name);
  if (site.layer == -2) return std::vector<float>();
  if (!diagonals_) {
    auto c = std::make_unique<Collector>();
    TQF_RETURN_IF_ERROR(RunPass(c.get()));
    diagonals_ = std::move(c);
  }
  auto it = diagonals_->sums.find(site);
  if (it == diagonals_->sums.end()) return std::vector<float>();
  if (it->second.cols != cols) {
    return Status::InvalidArgument("tensor '" + name + "': " + std::to_string(cols) +
                                   " columns, but the model multiplies it by " +
                                   std::to_string(it->second.cols) + " values");
  }
  return std::vector<float>(it->second.v.begin(), it->second.v.end());
}

Result<std::vector<float>> CalibrationStatistics::SecondMoment(const std::string& name,
                                                               size_t cols) {
  const Site site = SiteOf(name);
  if (site.layer == -2) return std::vector<float>();
  if (!window_ || !window_->Covers(site.layer)) {
    window_.reset();  // free the last window's sums before the next
    auto c = std::make_unique<Collector>();
    c->full = true;
    const Hyperparameters& h = model_->hparams();
    const double q_dim = double(h.n_heads) * h.head_dim;
    const double per_layer =
        8.0 * (2.0 * h.dim * h.dim + q_dim * q_dim + double(h.hidden_dim) * h.hidden_dim);
    const size_t k = options_.one_layer_windows
                         ? 1
                         : std::max<size_t>(1, size_t(options_.max_stat_bytes / per_layer));
    c->first = site.layer;
    c->last = static_cast<int>(std::min<size_t>(h.n_layers, size_t(site.layer + 1) + k - 1));
    c->last = std::max(c->last, site.layer + 1);
    try {
      TQF_RETURN_IF_ERROR(RunPass(c.get()));
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted("calibration: cannot hold the second moments of layers " +
                                       std::to_string(c->first) + ".." +
                                       std::to_string(c->last - 1));
    }
    window_ = std::move(c);
  }
  auto it = window_->sums.find(site);
  if (it == window_->sums.end()) return std::vector<float>();
  const Collector::Sum& s = it->second;
  if (s.cols != cols) {
    return Status::InvalidArgument("tensor '" + name + "': " + std::to_string(cols) +
                                   " columns, but the model multiplies it by " +
                                   std::to_string(s.cols) + " values");
  }
  std::vector<float> out(cols * cols);
  for (size_t i = 0; i < cols; ++i) {
    for (size_t j = 0; j <= i; ++j) {
      out[i * cols + j] = out[j * cols + i] = static_cast<float>(s.v[i * cols + j]);
    }
  }
  return out;
}

Result<TokenSequences> CalibrationFromText(const Tokenizer& tokenizer, const std::string& text,
                                           size_t seq_len, size_t max_tokens) {
  if (seq_len < 2) return Status::InvalidArgument("calibration sequences need 2+ tokens");
  std::vector<int32_t> ids = tokenizer.Encode(text, false);
  if (max_tokens > 0 && ids.size() > max_tokens) ids.resize(max_tokens);
  if (ids.empty()) return Status::InvalidArgument("calibration text gives no tokens");
  TokenSequences out;
  const bool bos = tokenizer.bos_id() >= 0;
  const size_t body = bos ? seq_len - 1 : seq_len;
  for (size_t at = 0; at < ids.size(); at += body) {
    std::vector<int32_t> seq;
    if (bos) seq.push_back(tokenizer.bos_id());
    seq.insert(seq.end(), ids.begin() + at, ids.begin() + std::min(ids.size(), at + body));
    out.push_back(std::move(seq));
  }
  return out;
}

Result<TokenSequences> CalibrationGenerate(Model* model, const Tokenizer& tokenizer,
                                           size_t n_tokens, size_t seq_len, uint64_t seed,
                                           const std::function<void(size_t, size_t)>& progress) {
  if (seq_len < 2) return Status::InvalidArgument("calibration sequences need 2+ tokens");
  if (seq_len > model->ctx_size()) seq_len = model->ctx_size();
  SamplerOptions so;
  so.temperature = 1.0f;
  so.top_p = 1.0f;
  so.seed = seed;
  Sampler sampler(so);
  const int32_t start =
      tokenizer.bos_id() >= 0 ? tokenizer.bos_id() : std::max(tokenizer.eos_id(), int32_t{0});
  TokenSequences out;
  std::vector<float> logits;
  size_t done = 0;
  while (done < n_tokens) {
    std::vector<int32_t> seq = {start};
    while (seq.size() < seq_len && done < n_tokens) {
      TQF_RETURN_IF_ERROR(model->Forward(&seq.back(), 1, seq.size() - 1, false, &logits));
      const int32_t next = sampler.Sample(&logits);
      seq.push_back(next);
      ++done;
      if (progress && done % 64 == 0) progress(done, n_tokens);
      if (tokenizer.IsStop(next)) break;
    }
    out.push_back(std::move(seq));
  }
  if (progress) progress(done, n_tokens);
  return out;
}

Result<std::shared_ptr<const Reader>> PackSourceForRuntime(const SourceModel& source,
                                                           uint64_t max_raw_bytes) {
  const char* env = std::getenv("TMPDIR");
  std::string tmpl = std::string(env && *env ? env : "/tmp") + "/tqf-source-XXXXXX.tqf";
  const int fd = ::mkstemps(tmpl.data(), 4);
  if (fd < 0) return Status::IOError(tmpl + ": cannot create a temporary file");
  ::close(fd);
  uint64_t elements = 0;
  for (const SourceTensor& t : source.tensors) elements += t.num_elements();
  PackOptions po;
  po.quant = elements * 4 <= max_raw_bytes ? QuantScheme::kRaw : QuantScheme::kBlock32;
  po.codec = FindCodec(CodecKind::kRaw);
  Result<PackReport> packed = PackModel(source, tmpl, po);
  if (!packed.ok()) {
    ::unlink(tmpl.c_str());
    return packed.status().WithContext("packing " + source.path + " into " + tmpl);
  }
  Result<std::unique_ptr<Reader>> reader = Reader::Open(tmpl);
  ::unlink(tmpl.c_str());  // the mapping stays valid
  if (!reader.ok()) return reader.status();
  return std::shared_ptr<const Reader>(std::move(reader).value());
}

}  // namespace tqf::rt
