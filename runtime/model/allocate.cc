// Mixed precision for `tqf pack --bits` (allocate.h): rates by entropy
// coding each candidate's codes, losses from a measured sensitivity per
// matrix, and a Lagrangian choice.
#include "tqf/rt/allocate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tqf/codec.h"
#include "tqf/rt/held_nibbles.h"
#include "tqf/rt/kernels.h"

namespace tqf::rt {
namespace {

constexpr uint32_t kBlock = 64 * 1024;            // the pack's default block size
constexpr size_t kCostWeights = size_t{1} << 20;  // per matrix and candidate

// Bits the pack spends on `q`: its codes (VQ: its indices, as codec
// rans-alias-vq stores them) entropy coded with a rans-alias table of their
// own (table included), plus its params. A shared codebook is charged by
// CostMatrix, not here.
Result<double> RateBits(const QuantizedTensor& q) {
  double bits = 0;
  if (!q.params.empty()) bits += 8.0 * ParamsBytes(q.params_format, q.params.size());
  const std::vector<uint8_t>& codes = q.vq_indices.empty() ? q.data : q.vq_indices;
  const Codec* codec = FindCodec(CodecKind::kRansAlias);
  auto builder = codec->NewDictionaryBuilder();
  builder->Add(0, codes.data(), codes.size());
  TQF_ASSIGN_OR_RETURN(DictionaryPlan plan, builder->Build());
  if (plan.dictionaries.empty()) return bits + 8.0 * codes.size();
  TQF_ASSIGN_OR_RETURN(
      auto tables, codec->LoadDictionary(plan.dictionaries[0].data(), plan.dictionaries[0].size()));
  bits += 8.0 * plan.dictionaries[0].size();
  std::vector<uint8_t> out;
  for (size_t at = 0; at < codes.size(); at += kBlock) {
    out.clear();
    TQF_RETURN_IF_ERROR(codec->Encode(tables.get(), codes.data() + at,
                                      std::min<size_t>(kBlock, codes.size() - at), &out));
    bits += 8.0 * out.size();
  }
  return bits;
}

// One codebook per VQ candidate, shared by every matrix (as the pack shares
// one on small models), trained like the pack trains it: on a sample of all
// matrices' RMS-normalised vectors weighted by their inputs' importance.
// Empty books for the other candidates.
Result<std::vector<VqCodebook>> SharedCodebooks(const SourceModel& source,
                                                const std::vector<size_t>& matrices,
                                                const std::vector<QuantSpec>& cands,
                                                const AllocationOptions& o) {
  std::vector<VqCodebook> books(cands.size());
  const PackOptions defaults;
  for (size_t s = 0; s < cands.size(); ++s) {
    const QuantSpec& spec = cands[s];
    if (spec.scheme != QuantScheme::kVq) continue;
    uint64_t vectors = 0;
    for (size_t i : matrices) {
      if (source.tensors[i].cols() % spec.vq_dim == 0)
        vectors += source.tensors[i].num_elements() / spec.vq_dim;
    }
    const size_t stride = std::max<size_t>(
        1, static_cast<size_t>(vectors / std::max<size_t>(1, defaults.vq_samples)));
    std::vector<float> x, w;
    for (size_t i : matrices) {
      const SourceTensor& t = source.tensors[i];
      if (t.cols() % spec.vq_dim != 0) continue;
      std::vector<float> values(t.num_elements());
      TQF_RETURN_IF_ERROR(t.ToF32(values.data()).WithContext("tensor '" + t.name + "'"));
      std::vector<float> importance;
      if (o.statistics != nullptr) {
        TQF_ASSIGN_OR_RETURN(importance, o.statistics->Diagonal(t.name, t.cols()));
      }
      VqTrainingVectors(spec, values.data(), t.rows(), t.cols(),
                        importance.empty() ? nullptr : importance.data(), stride, &x, &w);
    }
    books[s] = TrainVqCodebook(x.data(), w.data(), w.size(), spec.vq_dim, spec.vq_entries,
                               defaults.vq_iterations, defaults.seed);
  }
  return books;
}

// Output error energy of d = W - W' on the calibration inputs: the sum
// over rows of d H d^T (H's diagonal only when the full product would cost
// over 2^32 multiply-adds), or ||d||^2 without H.
double OutputError(const std::vector<float>& d, size_t rows, size_t cols,
                   const std::vector<float>& h) {
  double e = 0;
  if (h.empty()) {
    for (float x : d) e += double(x) * x;
    return e;
  }
  if (double(rows) * cols * cols > 4.3e9) {
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c)
        e += double(d[r * cols + c]) * d[r * cols + c] * h[c * cols + c];
    }
    return e;
  }
#pragma omp parallel for reduction(+ : e) schedule(static)
  for (long rl = 0; rl < static_cast<long>(rows); ++rl) {
    const float* dr = &d[static_cast<size_t>(rl) * cols];
    double row = 0;
    for (size_t i = 0; i < cols; ++i) {
      if (dr[i] == 0.0f) continue;
      double hi = 0;
      const float* hrow = &h[i * cols];
      for (size_t j = 0; j < cols; ++j) hi += double(hrow[j]) * dr[j];
      row += dr[i] * hi;
    }
    e += row;
  }
  return e;
}

Result<std::vector<float>> Dequantized(const QuantizedTensor& q, size_t rows, size_t cols) {
  std::vector<float> out(rows * cols);
  TQF_RETURN_IF_ERROR(Dequantize(q.dtype, q.quant, q.quant_block, q.data.data(), rows, cols,
                                 q.params.data(), q.params.size(), out.data()));
  return out;
}

// The cross-entropy of `source` with tensor `index` replaced by `values`.
Result<double> CrossEntropyWith(const SourceModel& source, size_t index,
                                const std::vector<float>* values, const TokenSequences& seqs) {
  SourceModel m = source;
  if (values != nullptr) {
    SourceTensor& t = m.tensors[index];
    t.dtype = DType::kF32;
    t.data = reinterpret_cast<const uint8_t*>(values->data());
    t.size = values->size() * sizeof(float);
  }
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const Reader> reader, PackSourceForRuntime(m, UINT64_MAX));
  size_t longest = 0;
  for (const auto& s : seqs) longest = std::max(longest, s.size());
  ModelOptions mo;
  mo.ctx_size = static_cast<uint32_t>(longest);
  TQF_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Create(reader, mo));
  return MeanCrossEntropy(model.get(), seqs);
}

// One matrix's costs under every candidate (the reference is candidate
// `ref`).
// `books[s]` is candidate s's shared codebook (VQ), charged to the matrix
// in proportion to its weights (`book_share` of the codebook's bits).
Status CostMatrix(const SourceModel& source, size_t index, const AllocationOptions& o,
                  const std::vector<QuantSpec>& cands, size_t ref, double base_ce,
                  const std::vector<VqCodebook>& books, double book_share, MatrixCosts* out) {
  const SourceTensor& t = source.tensors[index];
  const size_t all_rows = t.rows(), cols = t.cols();
  std::vector<float> full(all_rows * cols);
  TQF_RETURN_IF_ERROR(t.ToF32(full.data()).WithContext("tensor '" + t.name + "'"));
  // Rows quantize independently (given H), so big matrices are costed on
  // every k-th row and scaled up; only the measured reference needs all.
  const size_t k = std::max<size_t>(1, (all_rows * cols + kCostWeights - 1) / kCostWeights);
  const size_t rows = (all_rows + k - 1) / k;
  std::vector<float> w(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    std::copy(&full[r * k * cols], &full[r * k * cols] + cols, &w[r * cols]);
  }
  const double scale = double(all_rows) / rows;
  std::vector<float> h;
  if (o.statistics != nullptr) {
    TQF_ASSIGN_OR_RETURN(h, o.statistics->SecondMoment(t.name, cols));
  }
  QuantizeInput in;
  in.hessian = h.empty() ? nullptr : h.data();
  in.damping = o.damping;
  in.act_order = o.act_order;
  out->name = t.name;
  out->elements = all_rows * cols;
  std::vector<double> err(cands.size());
  std::vector<float> ref_values;
  for (size_t s = 0; s < cands.size(); ++s) {
    if (cands[s].scheme == QuantScheme::kVq && cols % cands[s].vq_dim != 0) {
      // The pack would fall back to a shorter vector: not this candidate.
      err[s] = std::numeric_limits<double>::infinity();
      out->bits.push_back(64.0 * out->elements);
      continue;
    }
    in.codebook = cands[s].scheme == QuantScheme::kVq ? &books[s] : nullptr;
    auto q =
        QuantizeWithSpec(cands[s], w.data(), rows, cols, 2, t.dtype, k == 1 ? t.data : nullptr, in);
    if (!q.ok())
      return q.status().WithContext("tensor '" + t.name + "', " + QuantSpecName(cands[s]));
    double bits = 0;
    if (o.held_rate) {
      bits = HeldBits(*q, rows, cols);
    } else {
      TQF_ASSIGN_OR_RETURN(bits, RateBits(*q));
    }
    TQF_ASSIGN_OR_RETURN(std::vector<float> back, Dequantized(*q, rows, cols));
    if (s == ref && o.measure) {
      if (k == 1) {
        ref_values = back;
      } else {
        auto whole =
            QuantizeWithSpec(cands[s], full.data(), all_rows, cols, 2, t.dtype, t.data, in);
        if (!whole.ok()) return whole.status().WithContext("tensor '" + t.name + "'");
        TQF_ASSIGN_OR_RETURN(ref_values, Dequantized(*whole, all_rows, cols));
      }
    }
    for (size_t i = 0; i < back.size(); ++i) back[i] = w[i] - back[i];
    err[s] = scale * OutputError(back, rows, cols, h);
    if (in.codebook != nullptr) bits += book_share * 8.0 * books[s].vectors.size() / scale;
    out->bits.push_back(scale * bits);
  }
  if (o.measure) {
    TQF_ASSIGN_OR_RETURN(double ce, CrossEntropyWith(source, index, &ref_values, *o.sequences));
    // Quantizing can lower the loss by chance; a matrix still costs
    // something to degrade, so keep a small positive sensitivity.
    out->measured = std::max(ce - base_ce, 1e-6);
    for (size_t s = 0; s < cands.size(); ++s) {
      out->loss.push_back(std::isinf(err[s]) ? std::numeric_limits<double>::infinity()
                          : err[ref] > 0     ? out->measured * err[s] / err[ref]
                                             : 0.0);
    }
  } else {
    // CostMatrices divides by every matrix's signal once all are known.
    out->signal = scale * OutputError(w, rows, cols, h);
    out->loss = err;
  }
  return Status::OK();
}

}  // namespace

Result<double> MeanCrossEntropy(Model* model, const TokenSequences& sequences) {
  double nll = 0;
  size_t count = 0;
  std::vector<float> logits;
  for (const auto& seq : sequences) {
    if (seq.size() < 2) continue;
    TQF_RETURN_IF_ERROR(model->Forward(seq.data(), seq.size(), 0, true, &logits));
    const size_t vocab = logits.size() / seq.size();
    for (size_t t = 0; t + 1 < seq.size(); ++t) {
      const float* l = &logits[t * vocab];
      const float mx = *std::max_element(l, l + vocab);
      double sum = 0;
      for (size_t v = 0; v < vocab; ++v) sum += std::exp(double(l[v]) - mx);
      nll += std::log(sum) + mx - l[seq[t + 1]];
      ++count;
    }
  }
  if (count == 0) return Status::InvalidArgument("no tokens to score");
  return nll / count;
}

std::vector<QuantSpec> DefaultBitsCandidates() {
  std::vector<QuantSpec> c;
  for (double b = 1.5; b <= 6.0; b += 0.5) {
    QuantSpec s(QuantScheme::kEntropy);
    s.entropy_bits = b;
    c.push_back(s);
  }
  for (const char* name : {"q4a-g16", "nf4-g32", "q3a-g16"}) c.push_back(*ParseQuantSpec(name));
  c.push_back(QuantScheme::kChannel);
  return c;
}

std::vector<QuantSpec> NibbleHeldBitsCandidates() {
  std::vector<QuantSpec> c;
  for (const char* name : {"q3-row", "q4-row", "q2-g32", "q3-g32", "q4-g32", "nf4-g32"}) {
    c.push_back(*ParseQuantSpec(name));
  }
  c.push_back(QuantScheme::kChannel);
  return c;
}

double HeldBits(const QuantizedTensor& q, size_t rows, size_t cols) {
  const double params = 32.0 * q.params.size();
  if (q.dtype != DType::kI8) return 8.0 * q.data.size() + params;
  int8_t lut[16];
  const bool nibbles =
      FindNibbleTable(reinterpret_cast<const int8_t*>(q.data.data()), q.data.size(), lut);
  return (nibbles ? 8.0 * NibbleRowBytes(cols) * rows : 8.0 * q.data.size()) + params;
}

std::vector<QuantSpec> VqBitsCandidates() {
  std::vector<QuantSpec> c;
  for (const char* name : {"vq4x256-row", "vq2x64-row", "vq2x256-row"}) {
    c.push_back(*ParseQuantSpec(name));
  }
  return c;
}

Result<std::vector<MatrixCosts>> CostMatrices(const SourceModel& source,
                                              const AllocationOptions& options) {
  std::vector<QuantSpec> cands =
      options.candidates.empty() ? DefaultBitsCandidates() : options.candidates;
  if (cands.empty()) return Status::InvalidArgument("no candidate schemes");
  if (options.measure && (options.sequences == nullptr || options.sequences->empty())) {
    return Status::InvalidArgument("measuring sensitivity needs calibration tokens");
  }
  const std::string ref_name = QuantSpecName(options.reference);
  size_t ref = cands.size();
  for (size_t s = 0; s < cands.size(); ++s) {
    if (QuantSpecName(cands[s]) == ref_name) ref = s;
  }
  if (ref == cands.size()) cands.push_back(options.reference);
  double base_ce = 0;
  if (options.measure) {
    TQF_ASSIGN_OR_RETURN(base_ce, CrossEntropyWith(source, 0, nullptr, *options.sequences));
  }
  std::vector<size_t> matrices;
  for (size_t i = 0; i < source.tensors.size(); ++i) {
    if (source.tensors[i].shape.size() >= 2) matrices.push_back(i);
  }
  TQF_ASSIGN_OR_RETURN(std::vector<VqCodebook> books,
                       SharedCodebooks(source, matrices, cands, options));
  uint64_t all_weights = 0;
  for (size_t i : matrices) all_weights += source.tensors[i].num_elements();
  std::vector<MatrixCosts> costs(matrices.size());
  for (size_t k = 0; k < matrices.size(); ++k) {
    const double share =
        all_weights ? double(source.tensors[matrices[k]].num_elements()) / all_weights : 0.0;
    TQF_RETURN_IF_ERROR(
        CostMatrix(source, matrices[k], options, cands, ref, base_ce, books, share, &costs[k]));
    if (options.progress) options.progress(k + 1, matrices.size());
  }
  if (!options.measure) {
    double signal = 0;
    for (const MatrixCosts& c : costs) signal += c.signal;
    for (MatrixCosts& c : costs) {
      for (double& l : c.loss) l = signal > 0 ? l / signal : 0.0;
      c.measured = c.signal > 0 ? c.loss[ref] * signal / c.signal : 0.0;
    }
  }
  if (cands.size() >
      (options.candidates.empty() ? DefaultBitsCandidates().size() : options.candidates.size())) {
    // The reference was added only to measure with: not a choice.
    for (MatrixCosts& c : costs) {
      c.bits.pop_back();
      c.loss.pop_back();
    }
  }
  return costs;
}

std::vector<size_t> ChooseSchemes(const std::vector<MatrixCosts>& costs, double budget_bits) {
  auto choose = [&](double lambda, double* total) {
    std::vector<size_t> pick(costs.size(), 0);
    *total = 0;
    for (size_t t = 0; t < costs.size(); ++t) {
      double best = std::numeric_limits<double>::infinity();
      for (size_t s = 0; s < costs[t].bits.size(); ++s) {
        const double v = costs[t].loss[s] + lambda * costs[t].bits[s];
        if (v < best) best = v, pick[t] = s;
      }
      *total += costs[t].bits[pick[t]];
    }
    return pick;
  };
  double total = 0;
  std::vector<size_t> best = choose(0.0, &total);
  if (total <= budget_bits) return best;
  // Bisect on log(lambda): more lambda, fewer bits.
  double lo = -60, hi = 20;
  std::vector<size_t> fit = choose(std::exp2(hi), &total);
  if (total > budget_bits) return fit;  // nothing fits: the cheapest
  for (int it = 0; it < 80; ++it) {
    const double mid = 0.5 * (lo + hi);
    std::vector<size_t> p = choose(std::exp2(mid), &total);
    if (total <= budget_bits) {
      hi = mid;
      fit = std::move(p);
    } else {
      lo = mid;
    }
  }
  // Spend what the multiplier's step left over: upgrade the matrices whose
  // loss falls most per extra bit while the budget allows.
  double used = 0;
  for (size_t t = 0; t < costs.size(); ++t) used += costs[t].bits[fit[t]];
  for (bool improved = true; improved;) {
    improved = false;
    double best_gain = 0;
    size_t bt = 0, bs = 0;
    for (size_t t = 0; t < costs.size(); ++t) {
      for (size_t s = 0; s < costs[t].bits.size(); ++s) {
        const double extra = costs[t].bits[s] - costs[t].bits[fit[t]];
        const double gain = costs[t].loss[fit[t]] - costs[t].loss[s];
        if (gain <= 0 || used + extra > budget_bits) continue;
        const double rate = extra > 0 ? gain / extra : std::numeric_limits<double>::infinity();
        if (rate > best_gain) best_gain = rate, bt = t, bs = s;
      }
    }
    if (best_gain > 0) {
      used += costs[bt].bits[bs] - costs[bt].bits[fit[bt]];
      fit[bt] = bs;
      improved = true;
    }
  }
  return fit;
}

}  // namespace tqf::rt
