// Model: the forward pass. A pass runs up to max_batch tokens through each
// layer in turn (matrix-matrix products), so a layer is acquired from the
// provider once per pass, not once per token.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>

#include "model_internal.h"
#include "tqf/rt/model.h"

namespace tqf::rt {

Status Model::Buffers::Allocate(const Model& m) {
  // The KV cache is the big one (2 x layers x ctx x kv_dim floats): sized
  // with overflow checks and allocated without throwing, so an impossible
  // --ctx-size is a clear error naming the bytes, not an abort.
  uint64_t kv = 0, kv_bytes = 0;
  if (__builtin_mul_overflow(uint64_t(m.n_layers_), uint64_t(m.ctx_size_), &kv) ||
      __builtin_mul_overflow(kv, uint64_t(m.kv_dim_), &kv) ||
      __builtin_mul_overflow(kv, uint64_t(2 * sizeof(float)), &kv_bytes) ||
      kv > SIZE_MAX / sizeof(float)) {
    return Status::ResourceExhausted("KV cache for ctx_size " + std::to_string(m.ctx_size_) +
                                     " overflows 64 bits");
  }
  key_cache.reset(new (std::nothrow) float[kv]);
  value_cache.reset(new (std::nothrow) float[kv]);
  if (kv > 0 && (key_cache == nullptr || value_cache == nullptr)) {
    key_cache.reset();
    value_cache.reset();
    return Status::ResourceExhausted("cannot allocate the KV cache: " + std::to_string(kv_bytes) +
                                     " bytes for ctx_size " + std::to_string(m.ctx_size_) +
                                     " (lower --ctx-size)");
  }
  const size_t b = m.max_batch_;
  try {
    x.assign(b * m.dim_, 0.0f);
    xb.assign(b * std::max(m.dim_, m.q_dim_), 0.0f);
    xb2.assign(b * m.dim_, 0.0f);
    q.assign(b * m.q_dim_, 0.0f);
    k.assign(b * m.kv_dim_, 0.0f);
    v.assign(b * m.kv_dim_, 0.0f);
    att_out.assign(b * m.q_dim_, 0.0f);
    hb.assign(b * m.hidden_, 0.0f);
    hb2.assign(b * m.hidden_, 0.0f);
    att.assign(static_cast<size_t>(m.threads_) * m.ctx_size_, 0.0f);
    rope_cos.assign(b * (m.head_dim_ / 2), 0.0f);  // per token of a pass
    rope_sin.assign(b * (m.head_dim_ / 2), 0.0f);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("cannot allocate activation buffers for batches of " +
                                     std::to_string(b) + " tokens and ctx_size " +
                                     std::to_string(m.ctx_size_));
  }
  return Status::OK();
}

size_t Model::Buffers::ActivationBytes() const {
  size_t n = 0;
  for (const std::vector<float>* v :
       {&x, &xb, &xb2, &q, &k, &v, &att_out, &hb, &hb2, &att, &rope_cos, &rope_sin}) {
    n += v->size() * sizeof(float);
  }
  return n;
}

size_t Model::activation_bytes() const { return buf_->ActivationBytes() + vocab_ * sizeof(float); }

Status Model::Forward(const int32_t* tokens, size_t n, size_t pos, bool all_logits,
                      std::vector<float>* logits) {
  if (n == 0) return Status::InvalidArgument("Forward: no tokens");
  if (pos > ctx_size_ || n > ctx_size_ - pos) {
    return Status::InvalidArgument("context full: positions " + std::to_string(pos) + ".." +
                                   std::to_string(pos + n - 1) + " but the context holds " +
                                   std::to_string(ctx_size_) + " (raise --ctx-size)");
  }
  for (size_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= vocab_) {
      return Status::InvalidArgument("token id " + std::to_string(tokens[i]) +
                                     " outside the vocabulary [0, " + std::to_string(vocab_) + ")");
    }
  }
  const auto start = std::chrono::steady_clock::now();
  logits->resize(all_logits ? n * vocab_ : vocab_);
  Status status;
  for (size_t c = 0; c < n && status.ok(); c += max_batch_) {
    const size_t m = std::min(max_batch_, n - c);
    const bool last = c + m == n;
    float* out = all_logits ? logits->data() + c * vocab_ : (last ? logits->data() : nullptr);
    status = ForwardPass(tokens + c, m, pos + c, all_logits, out);
    fstats_.passes++;
  }
  fstats_.tokens += n;
  fstats_.total_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return status;
}

Status Model::ForwardPass(const int32_t* tokens, size_t n, size_t pos, bool all_logits,
                          float* logits) {
  Buffers& b = *buf_;
  for (size_t t = 0; t < n; ++t) DequantizeRow(embedding_, tokens[t], &b.x[t * dim_]);
  for (size_t l = 0; l < n_layers_; ++l) {
    const auto wait_start = std::chrono::steady_clock::now();
    Result<std::shared_ptr<const DecodedLayer>> layer = provider_->Acquire(static_cast<int>(l));
    fstats_.wait_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
    if (!layer.ok()) return layer.status();
    provider_->Prefetch(static_cast<int>((l + 1) % n_layers_));
    RunLayer(static_cast<int>(l), **layer, n, pos);
  }
  if (observer_ != nullptr) {
    for (size_t t = 0; t < n; ++t) {
      RmsNorm(&b.x[t * dim_], output_norm_.data(), dim_, eps_, &b.xb[t * dim_]);
    }
    observer_->Observe(-1, MatrixInput::kOutput, b.xb.data(), n, dim_);
  }
  if (logits == nullptr) return Status::OK();
  // Final norm and output head, for every token or only the last.
  const size_t first = all_logits ? 0 : n - 1;
  const size_t count = n - first;
  for (size_t t = 0; t < count; ++t) {
    RmsNorm(&b.x[(first + t) * dim_], output_norm_.data(), dim_, eps_, &b.xb[t * dim_]);
  }
  MatMul(*ops_, output_, b.xb.data(), count, logits, &b.scratch, threads_);
  return Status::OK();
}

void Model::Rope(float* v, size_t n_heads, const float* cs, const float* sn) const {
  for (size_t h = 0; h < n_heads; ++h) {
    float* hv = v + h * head_dim_;
    for (size_t i = 0; i < head_dim_ / 2; ++i) {
      const float v0 = hv[2 * i], v1 = hv[2 * i + 1];
      hv[2 * i] = v0 * cs[i] - v1 * sn[i];
      hv[2 * i + 1] = v0 * sn[i] + v1 * cs[i];
    }
  }
}

// The per-token steps between the matrix products run in parallel over the
// tokens of a prompt (under 8 tokens on the calling thread: a fork costs
// more than a few rows of this work). Each token's arithmetic is
// unchanged, so results do not depend on it.
void Model::NormTokens(const float* weight, size_t n) {
  Buffers& b = *buf_;
#pragma omp parallel for schedule(static) num_threads(threads_) if (n >= 8)
  for (long t = 0; t < static_cast<long>(n); ++t) {
    RmsNorm(&b.x[t * dim_], weight, dim_, eps_, &b.xb[t * dim_]);
  }
}

void Model::AddResidual(size_t n) {
  Buffers& b = *buf_;
#pragma omp parallel for schedule(static) num_threads(threads_) if (n >= 8)
  for (long t = 0; t < static_cast<long>(n); ++t) {
    for (size_t i = t * dim_; i < (t + 1) * dim_; ++i) b.x[i] += b.xb2[i];
  }
}

void Model::RopeAndCache(int l, size_t n, size_t pos) {
  Buffers& b = *buf_;
  const size_t layer_off = static_cast<size_t>(l) * ctx_size_ * kv_dim_;
  const size_t half = head_dim_ / 2;
#pragma omp parallel for schedule(static) num_threads(threads_) if (n >= 8)
  for (long tl = 0; tl < static_cast<long>(n); ++tl) {
    const size_t t = static_cast<size_t>(tl);
    float* cs = &b.rope_cos[t * half];
    float* sn = &b.rope_sin[t * half];
    const float p = static_cast<float>(pos + t);
    for (size_t i = 0; i < half; ++i) {
      const float val = p * rope_freq_[i];
      cs[i] = std::cos(val);
      sn[i] = std::sin(val);
    }
    Rope(&b.q[t * q_dim_], n_heads_, cs, sn);
    Rope(&b.k[t * kv_dim_], n_kv_, cs, sn);
    std::memcpy(&b.key_cache[layer_off + (pos + t) * kv_dim_], &b.k[t * kv_dim_], kv_dim_ * 4);
    std::memcpy(&b.value_cache[layer_off + (pos + t) * kv_dim_], &b.v[t * kv_dim_], kv_dim_ * 4);
  }
}

void Model::RunLayer(int l, const DecodedLayer& layer, size_t n, size_t pos) {
  Buffers& b = *buf_;
  const size_t* idx = &layer_tensor_index_[static_cast<size_t>(l) * kNumLayerTensors];
  auto view = [&](LayerTensor t) {
    return View(idx[t], layer.tensor(t), layer.params(t), layer.lut(t), layer.nibble_layout(t));
  };
  MatMulScratch* s = &b.scratch;

  NormTokens(attn_norm_[l].data(), n);
  if (observer_) observer_->Observe(l, MatrixInput::kAttention, b.xb.data(), n, dim_);
  MatMul(*ops_, view(kQ), b.xb.data(), n, b.q.data(), s, threads_);
  MatMul(*ops_, view(kK), b.xb.data(), n, b.k.data(), s, threads_);
  MatMul(*ops_, view(kV), b.xb.data(), n, b.v.data(), s, threads_);
  RopeAndCache(l, n, pos);
  Attention(l, n, pos);
  if (observer_) observer_->Observe(l, MatrixInput::kAttentionOutput, b.att_out.data(), n, q_dim_);
  MatMul(*ops_, view(kO), b.att_out.data(), n, b.xb2.data(), s, threads_);
  AddResidual(n);

  NormTokens(ffn_norm_[l].data(), n);
  if (observer_) observer_->Observe(l, MatrixInput::kFeedForward, b.xb.data(), n, dim_);
  MatMul(*ops_, view(kGate), b.xb.data(), n, b.hb.data(), s, threads_);
  MatMul(*ops_, view(kUp), b.xb.data(), n, b.hb2.data(), s, threads_);
#pragma omp parallel for schedule(static) num_threads(threads_) if (n >= 8)
  for (long t = 0; t < static_cast<long>(n); ++t) {
    SwiGlu(&b.hb[t * hidden_], &b.hb2[t * hidden_], hidden_);
  }
  if (observer_) observer_->Observe(l, MatrixInput::kFeedForwardDown, b.hb.data(), n, hidden_);
  MatMul(*ops_, view(kDown), b.hb.data(), n, b.xb2.data(), s, threads_);
  AddResidual(n);
}

void Model::Attention(int l, size_t n, size_t pos) {
  Buffers& b = *buf_;
  const size_t layer_off = static_cast<size_t>(l) * ctx_size_ * kv_dim_;
  const float* kc = &b.key_cache[layer_off];
  const float* vc = &b.value_cache[layer_off];
  const size_t group = n_heads_ / n_kv_;
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const long jobs = static_cast<long>(n * n_heads_);
  // One (token, head) per iteration: each is computed by one thread, in a
  // fixed order, so the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
  for (long job = 0; job < jobs; ++job) {
    const size_t t = static_cast<size_t>(job) / n_heads_;
    const size_t h = static_cast<size_t>(job) % n_heads_;
    const size_t last = pos + t;  // attends to positions 0..last
    const float* q = &b.q[t * q_dim_ + h * head_dim_];
    const size_t kv_off = (h / group) * head_dim_;
    float* att = &b.att[static_cast<size_t>(omp_get_thread_num()) * ctx_size_];
    ops_->scores_f32(q, kc + kv_off, last + 1, kv_dim_, head_dim_, inv_sqrt, att);
    Softmax(att, last + 1);
    ops_->weighted_sum_f32(att, vc + kv_off, last + 1, kv_dim_, head_dim_,
                           &b.att_out[t * q_dim_ + h * head_dim_]);
  }
}

}  // namespace tqf::rt
