// Quantization-aware distillation of a low-bit pack (finetune.h).
#include "tqf/rt/finetune.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <random>

#include "finetune_grid.h"
#include "llama_grad.h"
#include "tqf/quantize.h"

namespace tqf::rt {
namespace {

using distill::AdjustRate;
using distill::CodeBits;
using distill::Grid;
using distill::GridGradients;
using distill::GridOf;
using distill::InitLatent;
using distill::Project;
using distill::ProjectScales;
using grad::FindTensors;
using grad::IndexOfName;
using grad::LoadWeights;
using grad::Shape;
using grad::ShapeOf;
using grad::Tape;
using grad::Weights;

// Softmax of each token's logits (n x vocab), in place.
void SoftmaxRows(float* z, size_t n, size_t vocab, float temperature = 1.0f) {
  const float inv_t = 1.0f / temperature;
  for (size_t t = 0; t < n; ++t) {
    float* r = z + t * vocab;
    const float mx = *std::max_element(r, r + vocab);
    double sum = 0.0;
    for (size_t v = 0; v < vocab; ++v) sum += (r[v] = std::exp((r[v] - mx) * inv_t));
    const float inv = float(1.0 / sum);
    for (size_t v = 0; v < vocab; ++v) r[v] *= inv;
  }
}

// KL(teacher || student) summed over the tokens; turns `logits` into its
// gradient (student probabilities minus teacher's) times `scale`.
double KlAndGradient(float* logits, const float* teacher, size_t n, size_t vocab, float scale,
                     float temperature = 1.0f) {
  SoftmaxRows(logits, n, vocab, temperature);
  double kl = 0.0;
  for (size_t i = 0; i < n * vocab; ++i) {
    if (teacher[i] > 0.0f) {
      kl += double(teacher[i]) * (std::log(double(teacher[i])) -
                                  std::log(std::max(double(logits[i]), 1e-30)));
    }
    logits[i] = (logits[i] - teacher[i]) * scale;
  }
  return kl;
}

// The calibration sequences split into training and held-out ones, with
// the source's softmax per token: every held-out sequence's, and the
// training sequences' while they fit the budget (the rest's are computed
// at each step instead: data is not cut to fit memory).
struct Data {
  std::vector<const std::vector<int32_t>*> train, heldout;
  std::vector<std::vector<float>> train_p, heldout_p;  // train_p[i] empty: on the fly
  size_t train_tokens = 0, heldout_tokens = 0;
};

// The source's softmax over `seq`'s tokens (n x vocab) at `temperature`.
std::vector<float> TeacherProbs(const Shape& s, const Weights& teacher,
                                const std::vector<int32_t>& seq, float temperature) {
  Tape tape;
  tape.Forward(s, teacher, seq.data(), seq.size());
  std::vector<float> p = tape.logits();
  SoftmaxRows(p.data(), seq.size(), s.vocab, temperature);
  return p;
}

Result<Data> Prepare(const TokenSequences& seqs, const Shape& s, const Weights& teacher,
                     const FinetuneOptions& o) {
  Data d;
  // Every eighth sequence is held out (at least one), until the next would
  // pass max_heldout_tokens or half the budget (their softmaxes are kept:
  // they are measured every few steps); from then on, every sequence trains.
  const uint64_t max_teacher_bytes = o.max_teacher_bytes;
  auto softmax_bytes = [&](const std::vector<int32_t>& seq) -> uint64_t {
    return seq.size() * s.vocab * sizeof(float);
  };
  uint64_t heldout_bytes = 0, heldout_tokens = 0;
  bool heldout_full = false;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i].size() < 2) continue;
    for (int32_t tok : seqs[i]) {
      if (tok < 0 || size_t(tok) >= s.vocab) {
        return Status::InvalidArgument("fine-tuning: token " + std::to_string(tok) +
                                       " outside the vocabulary");
      }
    }
    const uint64_t bytes = softmax_bytes(seqs[i]);
    if (i % 8 == 7 && !d.heldout.empty()) {
      heldout_full = heldout_full || heldout_bytes + bytes > max_teacher_bytes / 2 ||
                     heldout_tokens + seqs[i].size() > o.max_heldout_tokens;
    }
    const bool held = i % 8 == 7 && !heldout_full;
    if (held) heldout_bytes += bytes, heldout_tokens += seqs[i].size();
    (held ? d.heldout : d.train).push_back(&seqs[i]);
  }
  if (d.heldout.empty() && d.train.size() >= 2) {
    d.heldout.push_back(d.train.back());
    d.train.pop_back();
  }
  if (d.train.empty() || d.heldout.empty()) {
    return Status::InvalidArgument("fine-tuning needs at least 2 calibration sequences");
  }
  uint64_t stored = 0;
  d.heldout_p.resize(d.heldout.size());
  d.train_p.resize(d.train.size());
  std::vector<std::pair<std::vector<float>*, const std::vector<int32_t>*>> jobs;
  for (size_t i = 0; i < d.heldout.size(); ++i) {
    jobs.emplace_back(&d.heldout_p[i], d.heldout[i]);
    stored += softmax_bytes(*d.heldout[i]);
    d.heldout_tokens += d.heldout[i]->size();
  }
  const size_t heldout_jobs = jobs.size();
  for (size_t i = 0; i < d.train.size(); ++i) {
    const uint64_t bytes = softmax_bytes(*d.train[i]);
    if (stored + bytes <= max_teacher_bytes)
      jobs.emplace_back(&d.train_p[i], d.train[i]), stored += bytes;
    d.train_tokens += d.train[i]->size();
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (long j = 0; j < long(jobs.size()); ++j) {
    *jobs[size_t(j)].first = TeacherProbs(s, teacher, *jobs[size_t(j)].second,
                                          size_t(j) < heldout_jobs ? 1.0f : o.temperature);
  }
  return d;
}

// Held-out KL per token of the student (summed in sequence order).
double HeldoutKl(const Shape& s, const Weights& student, const Data& d) {
  std::vector<double> kl(d.heldout.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (long i = 0; i < long(d.heldout.size()); ++i) {
    Tape tape;
    const std::vector<int32_t>& seq = *d.heldout[size_t(i)];
    tape.Forward(s, student, seq.data(), seq.size());
    std::vector<float> z = tape.logits();
    kl[size_t(i)] =
        KlAndGradient(z.data(), d.heldout_p[size_t(i)].data(), seq.size(), s.vocab, 0.0f);
  }
  double sum = 0.0;
  for (double v : kl) sum += v;
  return sum / double(d.heldout_tokens);
}

// Sets OpenMP's default team size for the scope (0: unchanged).
class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(omp_get_max_threads()) {
    if (n > 0) omp_set_num_threads(n);
  }
  ~ThreadCount() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// Adam's moments for one vector of parameters.
struct Moments {
  std::vector<float> m, v;
  // x -= lr * m^ / sqrt(v^): about lr per step whatever the gradient's size.
  void Step(const std::vector<float>& g, float lr, float c1, float c2, float* x) {
    const float b1 = 0.9f, b2 = 0.999f;
    if (m.empty()) m.assign(g.size(), 0.0f), v.assign(g.size(), 0.0f);
#pragma omp parallel for schedule(static)
    for (long il = 0; il < long(g.size()); ++il) {
      const size_t i = size_t(il);
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      x[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + 1e-12f);
    }
  }
};

// A VQ codebook trained with the tensors that share it: its entries as
// latent f32 values (int8 units), Adam's moments, its grids' cell, and the
// entries it started with.
struct Book {
  VqCodebook* cb = nullptr;
  std::vector<float> latent, grad;
  Moments m;
  float cell = 1.0f;
  std::vector<int8_t> original;
  // The latent entries rounded to what the codebook stores.
  void Project() {
    for (size_t i = 0; i < latent.size(); ++i) {
      cb->vectors[i] = int8_t(std::clamp(std::nearbyint(latent[i]), -127.0f, 127.0f));
    }
  }
};

// The codebooks of `grids`, each once, but those in `fixed` (shared with
// tensors distillation does not rewrite); (*book_of)[k]: grid k's (-1:
// none, or fixed).
std::vector<Book> BooksOf(const std::vector<Grid>& grids, const std::vector<VqCodebook*>& fixed,
                          std::vector<int>* book_of) {
  std::vector<Book> books;
  book_of->assign(grids.size(), -1);
  for (size_t k = 0; k < grids.size(); ++k) {
    if (grids[k].codebook == nullptr ||
        std::find(fixed.begin(), fixed.end(), grids[k].codebook) != fixed.end()) {
      continue;
    }
    auto same = [&](const Book& b) { return b.cb == grids[k].codebook; };
    auto it = std::find_if(books.begin(), books.end(), same);
    if (it == books.end()) {
      Book b;
      b.cb = grids[k].codebook;
      b.latent.assign(b.cb->vectors.begin(), b.cb->vectors.end());
      b.cell = grids[k].cell;
      b.original = b.cb->vectors;
      it = books.insert(books.end(), std::move(b));
    }
    (*book_of)[k] = int(it - books.begin());
  }
  return books;
}

// Adds each use of an entry's latent gradient (code units: dw ds) to its
// entry's: w = s * entry, so the entry's gradient is the sum over its uses.
void AddBookGradient(const Grid& g, const std::vector<float>& g_latent, std::vector<float>* grad) {
  const uint32_t d = g.codebook->dim;
  const std::vector<uint8_t>& idx = g.r->quantized->vq_indices;
  for (size_t v = 0; v < idx.size(); ++v) {
    for (uint32_t i = 0; i < d; ++i) (*grad)[size_t{idx[v]} * d + i] += g_latent[v * d + i];
  }
}

// Adam over the latent weights of the low-bit tensors (steps of `lr` cells
// of their grid), their codebooks' entries (steps of `book_lr` cells) and,
// when scale_lr > 0, their scales (steps of `scale_lr` log8 steps,
// 2^(1/16)).
struct Adam {
  std::vector<Moments> latent_m, scale_m;
  size_t t = 0;
  // Bias corrections of the first and second moments after t steps.
  float c1() const { return 1.0f - std::pow(0.9f, float(t)); }
  float c2() const { return 1.0f - std::pow(0.999f, float(t)); }
  void Step(std::vector<Grid>* grids, const Weights& g, float lr, float scale_lr, float book_lr,
            const std::vector<int>& book_of, std::vector<Book>* books,
            std::vector<std::vector<float>>* latent) {
    ++t;
    const float bc1 = c1(), bc2 = c2();
    latent_m.resize(grids->size()), scale_m.resize(grids->size());
    for (Book& b : *books) b.grad.assign(b.latent.size(), 0.0f);
    std::vector<float> g_latent, g_scale;
    for (size_t k = 0; k < grids->size(); ++k) {
      Grid& gr = (*grids)[k];
      GridGradients(gr, g.t[gr.index], &g_latent, &g_scale);
      if (book_of[k] >= 0 && book_lr > 0.0f)
        AddBookGradient(gr, g_latent, &(*books)[size_t(book_of[k])].grad);
      latent_m[k].Step(g_latent, lr * gr.cell, bc1, bc2, (*latent)[k].data());
      if (scale_lr > 0.0f) scale_m[k].Step(g_scale, scale_lr / 16.0f, bc1, bc2, gr.log_scale.data());
    }
    if (book_lr <= 0.0f) return;
    for (Book& b : *books) {
      b.m.Step(b.grad, book_lr * b.cell, bc1, bc2, b.latent.data());
      b.Project();
    }
  }
};

// A 1-D f32 tensor trained as it is (a norm's gains): its slot, Adam's
// moments, its step unit (the RMS of its first values) and its first values.
struct Gains {
  RefinableTensor* r = nullptr;
  int index = -1;
  float unit = 0.0f;
  Moments m;
  std::vector<float> original;
};

Result<Gains> GainsOf(RefinableTensor* r, int index, const Weights& teacher) {
  Gains g;
  g.r = r, g.index = index;
  g.original = teacher.t[size_t(index)];
  if (r->quantized->dtype != DType::kF32 ||
      r->quantized->data.size() != g.original.size() * sizeof(float)) {
    return Status::InvalidArgument("fine-tuning: tensor '" + r->source->name +
                                   "' is not an f32 vector it can train");
  }
  double ss = 0.0;
  for (float v : g.original) ss += double(v) * v;
  g.unit = float(std::sqrt(ss / double(std::max<size_t>(g.original.size(), 1))));
  return g;
}

// The student as rounded from its trained values: per grid its codes, VQ indices, params
// and (for a state to go back to, not for the best kept) weights; per
// codebook its vectors; per gains vector its values.
struct Rounded {
  std::vector<std::vector<uint8_t>> codes, indices;
  std::vector<std::vector<float>> params, weights, gains;
  std::vector<std::vector<int8_t>> books;
};

// a = decay a + (1 - decay) x, element by element (a empty: a = x).
void MixInto(std::vector<std::vector<float>>* a, const std::vector<std::vector<float>>& x,
             float decay) {
  if (a->empty()) {
    *a = x;
    return;
  }
  for (size_t k = 0; k < x.size(); ++k) {
    float* ak = (*a)[k].data();
    const float* xk = x[k].data();
    for (size_t i = 0; i < x[k].size(); ++i) ak[i] = decay * ak[i] + (1.0f - decay) * xk[i];
  }
}

// One step's gradient over `batch` training sequences: each sequence's
// into its own buffer, summed in batch order, so that the result does not
// depend on the threads.
Weights BatchGradient(const Shape& s, const Weights& student, const Weights& teacher, const Data& d,
                      const std::vector<size_t>& batch, size_t batch_tokens, float temperature) {
  // Allocated here: an allocation failing inside the parallel region
  // would end the process.
  std::vector<Weights> per(batch.size(), Weights::ZerosLike(student));
#pragma omp parallel
  {
    Tape tape;
#pragma omp for schedule(dynamic, 1)
    for (long b = 0; b < long(batch.size()); ++b) {
      Weights& g = per[size_t(b)];
      const size_t i = batch[size_t(b)];
      const std::vector<int32_t>& seq = *d.train[i];
      std::vector<float> computed;
      if (d.train_p[i].empty()) computed = TeacherProbs(s, teacher, seq, temperature);
      const float* p = d.train_p[i].empty() ? computed.data() : d.train_p[i].data();
      tape.Forward(s, student, seq.data(), seq.size());
      std::vector<float> z = tape.logits();
      // Distillation at temperature T: the gradient of T^2 KL at T.
      KlAndGradient(z.data(), p, seq.size(), s.vocab, temperature / float(batch_tokens),
                    temperature);
      tape.Backward(s, student, z.data(), &g);
    }
  }
  for (size_t k = 1; k < per.size(); ++k) {
    for (size_t i = 0; i < per[0].t.size(); ++i) {
      for (size_t e = 0; e < per[0].t[i].size(); ++e) per[0].t[i][e] += per[k].t[i][e];
    }
  }
  return std::move(per[0]);
}

// One distillation run: the student's weights, the latent weights behind
// its low-bit tensors and their moving average, and the best rounding
// measured so far.
class Distillation {
 public:
  Distillation(const Shape& s, const Weights& teacher, std::vector<Grid> grids,
               std::vector<Gains> gains, const std::vector<VqCodebook*>& fixed_books, const Data& d,
               const FinetuneOptions& o)
      : s_(s),
        teacher_(teacher),
        d_(d),
        o_(o),
        grids_(std::move(grids)),
        gains_(std::move(gains)),
        student_(teacher),
        rng_(o.seed) {
    books_ = BooksOf(grids_, fixed_books, &book_of_);
  }

  // The student as the quantizers left it, latent weights inside its cells.
  Status Start(FinetuneReport* rep) {
    const size_t n = grids_.size();
    latent_.resize(n), original_.resize(n), original_params_.resize(n);
    for (size_t k = 0; k < n; ++k) {
      const Grid& g = grids_[k];
      const QuantizedTensor& q = *g.r->quantized;
      std::vector<float>& w = student_.t[g.index];
      TQF_RETURN_IF_ERROR(Dequantize(q.dtype, q.quant, q.quant_block, q.data.data(), g.rows,
                                     g.cols, q.params.data(), q.params.size(), w.data()));
      latent_[k].resize(w.size());
      InitLatent(g, teacher_.t[g.index].data(), latent_[k].data());
      original_[k] = g.codebook ? q.vq_indices : q.data;
      original_params_[k] = q.params;
      rep->codes += original_[k].size();
      rep->scales += g.log_scale.size();
    }
    for (const Gains& g : gains_) rep->gains += g.original.size();
    for (const Book& b : books_) rep->codebook_values += b.original.size();
    best_ = Save(false);
    rep->train_tokens = d_.train_tokens, rep->heldout_tokens = d_.heldout_tokens;
    rep->kl_before = rep->kl_after = HeldoutKl(s_, student_, d_);
    bits_before_ = CodeBits(grids_);
    return Status::OK();
  }

  void Step(size_t step) {
    size_t tokens = 0;
    const std::vector<size_t> batch = NextBatch(&tokens);
    const Weights g = BatchGradient(s_, student_, teacher_, d_, batch, tokens, o_.temperature);
    // A cosine schedule: late steps settle instead of hopping between codes.
    const float lr =
        o_.lr * 0.5f * (1.0f + std::cos(3.14159265f * float(step - 1) / float(o_.steps)));
    const float scale_lr = o_.scale_lr * lr / o_.lr;
    const float book_lr = o_.codebook_lr * lr / o_.lr;
    adam_.Step(&grids_, g, lr, scale_lr, book_lr, book_of_, &books_, &latent_);
    const float gain_lr = o_.gain_lr * lr / o_.lr;
    for (Gains& v : gains_) {
      if (gain_lr > 0.0f) {
        v.m.Step(g.t[v.index], gain_lr * v.unit, adam_.c1(), adam_.c2(), student_.t[v.index].data());
      }
    }
    for (size_t k = 0; k < grids_.size(); ++k) {
      if (scale_lr > 0.0f) ProjectScales(&grids_[k]);
      Project(grids_[k], latent_[k].data(), student_.t[grids_[k].index].data());
      AdjustRate(&grids_[k]);
    }
    if (o_.average > 0.0f) Average();
  }

  // Held-out KL now, and of the average's rounding; keeps either's codes
  // if they beat the best so far at no more code bits than the
  // quantizers'.
  void Evaluate(size_t step, FinetuneReport* rep) {
    Measure(step, false, rep);
    if (!(o_.average > 0.0f)) return;
    const Rounded latest = Save(true);
    // The average's codes, on the latest scales and codebooks.
    for (size_t k = 0; k < grids_.size(); ++k)
      Project(grids_[k], average_[k].data(), student_.t[grids_[k].index].data());
    Measure(step, true, rep);
    Restore(latest);  // as the step left it: what the next step starts from
  }

  // The best rounding's codes, scales, codebooks and gains back into the
  // tensors.
  void Finish(FinetuneReport* rep) {
    Restore(best_);
    for (size_t k = 0; k < grids_.size(); ++k) {
      const QuantizedTensor& q = *grids_[k].r->quantized;
      const std::vector<uint8_t>& now = grids_[k].codebook ? q.vq_indices : q.data;
      for (size_t i = 0; i < now.size(); ++i) rep->codes_changed += now[i] != original_[k][i];
      for (size_t p = 0; p < grids_[k].log_scale.size(); ++p) {
        rep->scales_changed += q.params[p] != original_params_[k][p];
      }
    }
    for (const Book& b : books_) {
      for (size_t i = 0; i < b.original.size(); ++i)
        rep->codebook_values_changed += b.cb->vectors[i] != b.original[i];
    }
    for (const Gains& v : gains_) {
      const std::vector<float>& now = student_.t[v.index];
      std::memcpy(v.r->quantized->data.data(), now.data(), now.size() * sizeof(float));
      for (size_t i = 0; i < now.size(); ++i) rep->gains_changed += now[i] != v.original[i];
    }
  }

 private:
  void Measure(size_t step, bool averaged, FinetuneReport* rep) {
    const double kl = HeldoutKl(s_, student_, d_);
    (averaged ? rep->averaged_curve : rep->curve).emplace_back(step, kl);
    if (kl < rep->kl_after && CodeBits(grids_) <= bits_before_) {
      rep->kl_after = kl, rep->best_step = step, rep->best_averaged = averaged;
      best_ = Save(false);
    }
  }

  // Mixes the latent weights now into their moving average.
  void Average() { MixInto(&average_, latent_, o_.average); }

  // The rounding now; its weights only if `weights` (the best kept does not
  // need them: 4 bytes a weight).
  Rounded Save(bool weights) const {
    Rounded r;
    for (const Grid& g : grids_) {
      const QuantizedTensor& q = *g.r->quantized;
      r.codes.push_back(q.data), r.indices.push_back(q.vq_indices), r.params.push_back(q.params);
      if (weights) r.weights.push_back(student_.t[g.index]);
    }
    for (const Book& b : books_) r.books.push_back(b.cb->vectors);
    for (const Gains& v : gains_) r.gains.push_back(student_.t[v.index]);
    return r;
  }

  // Back to `r`'s rounding (the values as trained are not Rounded's; the
  // student's low-bit weights stay as they are if `r` has none).
  void Restore(const Rounded& r) {
    for (size_t k = 0; k < grids_.size(); ++k) {
      QuantizedTensor& q = *grids_[k].r->quantized;
      q.data = r.codes[k], q.vq_indices = r.indices[k], q.params = r.params[k];
      if (!r.weights.empty()) student_.t[grids_[k].index] = r.weights[k];
      ReadScales(&grids_[k]);
    }
    for (size_t b = 0; b < books_.size(); ++b) books_[b].cb->vectors = r.books[b];
    for (size_t v = 0; v < gains_.size(); ++v) student_.t[gains_[v].index] = r.gains[v];
  }

  // The next `batch` training sequences, in a shuffled order per epoch.
  std::vector<size_t> NextBatch(size_t* tokens) {
    std::vector<size_t> batch;
    while (batch.size() < std::min(o_.batch, d_.train.size())) {
      if (order_.empty()) {
        for (size_t i = 0; i < d_.train.size(); ++i) order_.push_back(i);
        std::shuffle(order_.begin(), order_.end(), rng_);
      }
      batch.push_back(order_.back());
      *tokens += d_.train[order_.back()]->size();
      order_.pop_back();
    }
    return batch;
  }

  const Shape& s_;
  const Weights& teacher_;  // the source's weights (FinetuneLowBit's)
  const Data& d_;
  const FinetuneOptions& o_;
  std::vector<Grid> grids_;
  std::vector<Gains> gains_;
  std::vector<Book> books_;
  std::vector<int> book_of_;  // per grid: its codebook in books_, or -1
  Weights student_;
  std::vector<std::vector<float>> latent_;
  std::vector<std::vector<float>> average_;  // with o_.average: of latent_
  Rounded best_;     // the lowest held-out KL's so far
  std::vector<std::vector<uint8_t>> original_;
  std::vector<std::vector<float>> original_params_;
  double bits_before_ = 0.0;
  Adam adam_;
  std::mt19937_64 rng_;
  std::vector<size_t> order_;
};

}  // namespace

Status CheckFinetunable(const SourceModel& source, const FinetuneOptions& o) {
  if (o.batch == 0 || !(o.lr > 0.0f) || !(o.temperature > 0.0f) || !std::isfinite(o.lr) ||
      !std::isfinite(o.temperature)) {
    return Status::InvalidArgument("fine-tuning: batch, lr and temperature must be positive");
  }
  for (float v : {o.scale_lr, o.gain_lr, o.codebook_lr}) {
    if (!(v >= 0.0f) || !std::isfinite(v)) {
      return Status::InvalidArgument(
          "fine-tuning: scale_lr, gain_lr and codebook_lr must be 0 or positive");
    }
  }
  if (!(o.average >= 0.0f && o.average < 1.0f)) {
    return Status::InvalidArgument("fine-tuning: average must be in [0, 1)");
  }
  TQF_ASSIGN_OR_RETURN(Shape s, ShapeOf(source));
  uint64_t weights = 0;
  for (const SourceTensor& t : source.tensors) weights += t.shape.size() >= 2 ? t.num_elements() : 0;
  if (weights > o.max_weights) {
    return Status::NotSupported("fine-tuning is for models of at most " +
                                std::to_string(o.max_weights) + " weights in matrices (this one " +
                                std::to_string(weights) + ")");
  }
  return FindTensors(source, s).status();
}

Result<FinetuneReport> FinetuneLowBit(const SourceModel& source, const TokenSequences& sequences,
                                      std::vector<RefinableTensor>* tensors,
                                      const FinetuneOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  TQF_RETURN_IF_ERROR(CheckFinetunable(source, o));
  TQF_ASSIGN_OR_RETURN(Shape s, ShapeOf(source));
  TQF_ASSIGN_OR_RETURN(const Weights teacher, LoadWeights(source, s));
  std::vector<Grid> grids;
  std::vector<Gains> gains;
  std::vector<VqCodebook*> fixed_books;  // shared with a tensor it cannot rewrite
  for (RefinableTensor& r : *tensors) {
    const int i = IndexOfName(r.source->name, s.layers);
    if (i < 0) {  // not part of the forward pass
      if (r.codebook) fixed_books.push_back(r.codebook);
      continue;
    }
    if (r.quantized->dtype == DType::kF32) {
      TQF_ASSIGN_OR_RETURN(Gains g, GainsOf(&r, i, teacher));
      gains.push_back(std::move(g));
      continue;
    }
    TQF_ASSIGN_OR_RETURN(Grid g, GridOf(&r, i));
    grids.push_back(std::move(g));
  }
  ThreadCount threads(o.threads);
  TQF_ASSIGN_OR_RETURN(Data d, Prepare(sequences, s, teacher, o));
  FinetuneReport rep;
  Distillation run(s, teacher, std::move(grids), std::move(gains), fixed_books, d, o);
  TQF_RETURN_IF_ERROR(run.Start(&rep));
  for (size_t step = 1; step <= o.steps; ++step) {
    if (o.cancel != nullptr && o.cancel->load()) return Status::Cancelled("fine-tuning cancelled");
    run.Step(step);
    if (step % std::max<size_t>(o.eval_every, 1) == 0 || step == o.steps) run.Evaluate(step, &rep);
    if (o.progress) o.progress(step, o.steps);
  }
  run.Finish(&rep);
  rep.steps = o.steps;
  rep.batch = std::min(o.batch, d.train.size());
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

std::function<Status(const SourceModel&, std::vector<RefinableTensor>*)> FinetuneRefiner(
    const TokenSequences* sequences, const FinetuneOptions& options,
    std::shared_ptr<FinetuneReport> last) {
  return [sequences, options, last](const SourceModel& source,
                                    std::vector<RefinableTensor>* tensors) -> Status {
    TQF_ASSIGN_OR_RETURN(*last, FinetuneLowBit(source, *sequences, tensors, options));
    return Status::OK();
  };
}

namespace {

// " 25: 0.5338, 50: 0.3863".
std::string DescribeCurve(const std::vector<std::pair<size_t, double>>& curve) {
  std::string out;
  char item[64];
  for (const auto& [step, kl] : curve) {
    std::snprintf(item, sizeof(item), "%s %zu: %.4f", out.empty() ? "" : ",", step, kl);
    out += item;
  }
  return out;
}

}  // namespace

std::string DescribeFinetune(const FinetuneReport& r) {
  auto share = [](uint64_t part, uint64_t all) {
    return all ? 100.0 * double(part) / double(all) : 0.0;
  };
  char line[320];
  std::snprintf(line, sizeof(line),
                "%zu steps of %zu sequences over %zu tokens, %.1f s: held-out KL %.4f -> %.4f "
                "nats/token (%zu held-out tokens; best at step %zu%s), changed %.1f%% of codes, "
                "%.1f%% of scales, %.1f%% of norm gains",
                r.steps, r.batch, r.train_tokens, r.seconds, r.kl_before, r.kl_after,
                r.heldout_tokens, r.best_step, r.best_averaged ? ", averaged" : "",
                share(r.codes_changed, r.codes), share(r.scales_changed, r.scales),
                share(r.gains_changed, r.gains));
  std::string out = line;
  if (r.codebook_values) {
    std::snprintf(line, sizeof(line), ", %.1f%% of codebook values",
                  share(r.codebook_values_changed, r.codebook_values));
    out += line;
  }
  if (!r.curve.empty()) out += "; held-out KL at step" + DescribeCurve(r.curve);
  if (!r.averaged_curve.empty()) out += "; averaged" + DescribeCurve(r.averaged_curve);
  return out;
}

}  // namespace tqf::rt
