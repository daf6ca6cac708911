// LLaMA forward with kept activations, and its backward pass (llama_grad.h).
#include "llama_grad.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tqf::rt::grad {
namespace {

// y[t][o] = x[t] . W[o]   (x: n x in, W: out x in, y: n x out)
void Linear(const float* x, size_t n, size_t in, const float* w, size_t out, float* y) {
  for (size_t t = 0; t < n; ++t) {
    const float* xt = x + t * in;
    for (size_t o = 0; o < out; ++o) {
      const float* wo = w + o * in;
      float acc = 0.0f;
      for (size_t i = 0; i < in; ++i) acc += xt[i] * wo[i];
      y[t * out + o] = acc;
    }
  }
}

// dx[t] += sum_o dy[t][o] W[o];  dW[o] += sum_t dy[t][o] x[t]
void LinearBack(const float* x, const float* dy, size_t n, size_t in, const float* w, size_t out,
                float* dx, float* dw) {
  for (size_t t = 0; t < n; ++t) {
    float* dxt = dx + t * in;
    for (size_t o = 0; o < out; ++o) {
      const float d = dy[t * out + o];
      if (d == 0.0f) continue;
      const float* wo = w + o * in;
      for (size_t i = 0; i < in; ++i) dxt[i] += d * wo[i];
    }
  }
  for (size_t o = 0; o < out; ++o) {
    float* dwo = dw + o * in;
    for (size_t t = 0; t < n; ++t) {
      const float d = dy[t * out + o];
      if (d == 0.0f) continue;
      const float* xt = x + t * in;
      for (size_t i = 0; i < in; ++i) dwo[i] += d * xt[i];
    }
  }
}

// y = x * inv * g per token, inv = 1 / sqrt(mean(x^2) + eps): the runtime's RmsNorm.
void Norm(const float* x, size_t n, size_t d, const float* g, float eps, float* inv, float* y) {
  for (size_t t = 0; t < n; ++t) {
    const float* xt = x + t * d;
    float ss = 0.0f;
    for (size_t i = 0; i < d; ++i) ss += xt[i] * xt[i];
    inv[t] = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
    for (size_t i = 0; i < d; ++i) y[t * d + i] = g[i] * (inv[t] * xt[i]);
  }
}

// dx += d(Norm)/dx^T dy;  dg += sum_t dy * x * inv
void NormBack(const float* x, const float* inv, const float* dy, size_t n, size_t d,
              const float* g, float* dx, float* dg) {
  for (size_t t = 0; t < n; ++t) {
    const float* xt = x + t * d;
    const float* dyt = dy + t * d;
    float dot = 0.0f;
    for (size_t i = 0; i < d; ++i) {
      dot += g[i] * dyt[i] * xt[i];
      dg[i] += dyt[i] * xt[i] * inv[t];
    }
    const float c = inv[t] * inv[t] * inv[t] * dot / static_cast<float>(d);
    for (size_t i = 0; i < d; ++i) dx[t * d + i] += inv[t] * g[i] * dyt[i] - c * xt[i];
  }
}

// Rotates each head's pairs (2i, 2i+1) by the position's angles; `sign` -1
// applies the inverse rotation (the backward pass of a rotation).
void Rotate(float* v, size_t n, size_t heads, size_t head_dim, const float* cs, const float* sn,
            float sign) {
  const size_t half = head_dim / 2;
  for (size_t t = 0; t < n; ++t) {
    for (size_t h = 0; h < heads; ++h) {
      float* hv = v + (t * heads + h) * head_dim;
      for (size_t i = 0; i < half; ++i) {
        const float c = cs[t * half + i], s = sign * sn[t * half + i];
        const float v0 = hv[2 * i], v1 = hv[2 * i + 1];
        hv[2 * i] = v0 * c - v1 * s;
        hv[2 * i + 1] = v0 * s + v1 * c;
      }
    }
  }
}

float Sigmoid(float a) { return 1.0f / (1.0f + std::exp(-a)); }

}  // namespace

Weights Weights::ZerosLike(const Weights& like) {
  Weights z;
  z.t.resize(like.t.size());
  for (size_t i = 0; i < like.t.size(); ++i) z.t[i].assign(like.t[i].size(), 0.0f);
  return z;
}

void TensorShape(const Shape& s, size_t i, size_t* rows, size_t* cols) {
  *rows = 1;
  *cols = s.dim;
  if (i == Weights::kEmbedding || i == Weights::kOutput) {
    *rows = s.vocab;
    return;
  }
  if (i == Weights::kOutputNorm) return;
  switch (static_cast<Role>((i - 3) % kRoles)) {
    case kQ: *rows = s.q_dim(); break;
    case kK:
    case kV: *rows = s.kv_dim(); break;
    case kO: *rows = s.dim, *cols = s.q_dim(); break;
    case kGate:
    case kUp: *rows = s.hidden; break;
    case kDown: *rows = s.dim, *cols = s.hidden; break;
    default: break;  // norms
  }
}

void Tape::Forward(const Shape& s, const Weights& w, const int32_t* tokens, size_t n) {
  const size_t d = s.dim, qd = s.q_dim(), kvd = s.kv_dim(), hd = s.head_dim, hid = s.hidden;
  const size_t half = hd / 2, group = s.heads / s.kv_heads;
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
  n_ = n;
  tokens_.assign(tokens, tokens + n);
  cos_.resize(n * half);
  sin_.resize(n * half);
  for (size_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < half; ++i) {
      const float a = static_cast<float>(t) * s.rope_freq[i];
      cos_[t * half + i] = std::cos(a);
      sin_[t * half + i] = std::sin(a);
    }
  }
  std::vector<float> x(n * d);
  for (size_t t = 0; t < n; ++t) {
    std::memcpy(&x[t * d], &w.t[Weights::kEmbedding][size_t(tokens[t]) * d], d * sizeof(float));
  }
  acts_.resize(s.layers);
  for (size_t l = 0; l < s.layers; ++l) {
    LayerActs& A = acts_[l];
    auto W = [&](Role r) { return w.t[Weights::Layer(l, r)].data(); };
    A.x = x;
    A.inv1.resize(n), A.h.resize(n * d);
    Norm(x.data(), n, d, W(kAttnNorm), s.eps, A.inv1.data(), A.h.data());
    A.q.resize(n * qd), A.k.resize(n * kvd), A.v.resize(n * kvd);
    Linear(A.h.data(), n, d, W(kQ), qd, A.q.data());
    Linear(A.h.data(), n, d, W(kK), kvd, A.k.data());
    Linear(A.h.data(), n, d, W(kV), kvd, A.v.data());
    Rotate(A.q.data(), n, s.heads, hd, cos_.data(), sin_.data(), 1.0f);
    Rotate(A.k.data(), n, s.kv_heads, hd, cos_.data(), sin_.data(), 1.0f);
    A.p.assign(s.heads * n * n, 0.0f);
    A.ao.assign(n * qd, 0.0f);
    for (size_t h = 0; h < s.heads; ++h) {
      const size_t kh = (h / group) * hd;
      for (size_t t = 0; t < n; ++t) {
        float* p = &A.p[(h * n + t) * n];
        const float* q = &A.q[t * qd + h * hd];
        float mx = -INFINITY;
        for (size_t j = 0; j <= t; ++j) {
          const float* k = &A.k[j * kvd + kh];
          float dot = 0.0f;
          for (size_t i = 0; i < hd; ++i) dot += q[i] * k[i];
          p[j] = dot * inv_sqrt;
          mx = std::max(mx, p[j]);
        }
        float sum = 0.0f;
        for (size_t j = 0; j <= t; ++j) sum += (p[j] = std::exp(p[j] - mx));
        float* o = &A.ao[t * qd + h * hd];
        for (size_t j = 0; j <= t; ++j) {
          p[j] /= sum;
          const float* v = &A.v[j * kvd + kh];
          for (size_t i = 0; i < hd; ++i) o[i] += p[j] * v[i];
        }
      }
    }
    std::vector<float> y(n * d);
    Linear(A.ao.data(), n, qd, W(kO), d, y.data());
    for (size_t i = 0; i < n * d; ++i) x[i] += y[i];
    A.x2 = x;
    A.inv2.resize(n), A.h2.resize(n * d);
    Norm(x.data(), n, d, W(kFfnNorm), s.eps, A.inv2.data(), A.h2.data());
    A.a.resize(n * hid), A.b.resize(n * hid), A.m.resize(n * hid);
    Linear(A.h2.data(), n, d, W(kGate), hid, A.a.data());
    Linear(A.h2.data(), n, d, W(kUp), hid, A.b.data());
    for (size_t i = 0; i < n * hid; ++i) A.m[i] = A.a[i] * Sigmoid(A.a[i]) * A.b[i];
    Linear(A.m.data(), n, hid, W(kDown), d, y.data());
    for (size_t i = 0; i < n * d; ++i) x[i] += y[i];
  }
  xl_ = x;
  invf_.resize(n), hf_.resize(n * d);
  Norm(x.data(), n, d, w.t[Weights::kOutputNorm].data(), s.eps, invf_.data(), hf_.data());
  const size_t head = w.t[Weights::kOutput].empty() ? Weights::kEmbedding : Weights::kOutput;
  logits_.resize(n * s.vocab);
  Linear(hf_.data(), n, d, w.t[head].data(), s.vocab, logits_.data());
}

void Tape::Backward(const Shape& s, const Weights& w, const float* dlogits, Weights* g) {
  const size_t n = n_, d = s.dim, qd = s.q_dim(), kvd = s.kv_dim(), hd = s.head_dim;
  const size_t hid = s.hidden, group = s.heads / s.kv_heads;
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t head = w.t[Weights::kOutput].empty() ? Weights::kEmbedding : Weights::kOutput;
  std::vector<float> dh(n * d, 0.0f), dx(n * d, 0.0f);
  LinearBack(hf_.data(), dlogits, n, d, w.t[head].data(), s.vocab, dh.data(),
             g->t[head].data());
  NormBack(xl_.data(), invf_.data(), dh.data(), n, d, w.t[Weights::kOutputNorm].data(), dx.data(),
           g->t[Weights::kOutputNorm].data());
  for (size_t l = s.layers; l-- > 0;) {
    const LayerActs& A = acts_[l];
    auto W = [&](Role r) { return w.t[Weights::Layer(l, r)].data(); };
    auto G = [&](Role r) { return g->t[Weights::Layer(l, r)].data(); };
    // Feed-forward: x3 = x2 + Down(silu(Gate h2) * Up h2), h2 = Norm(x2).
    std::vector<float> dm(n * hid, 0.0f), da(n * hid), db(n * hid);
    LinearBack(A.m.data(), dx.data(), n, hid, W(kDown), d, dm.data(), G(kDown));
    for (size_t i = 0; i < n * hid; ++i) {
      const float sg = Sigmoid(A.a[i]);
      db[i] = dm[i] * A.a[i] * sg;
      da[i] = dm[i] * A.b[i] * sg * (1.0f + A.a[i] * (1.0f - sg));
    }
    std::fill(dh.begin(), dh.end(), 0.0f);
    LinearBack(A.h2.data(), da.data(), n, d, W(kGate), hid, dh.data(), G(kGate));
    LinearBack(A.h2.data(), db.data(), n, d, W(kUp), hid, dh.data(), G(kUp));
    NormBack(A.x2.data(), A.inv2.data(), dh.data(), n, d, W(kFfnNorm), dx.data(), G(kFfnNorm));
    // Attention: x2 = x + O(attention(Rope(Q h), Rope(K h), V h)), h = Norm(x).
    std::vector<float> dao(n * qd, 0.0f), dq(n * qd, 0.0f), dk(n * kvd, 0.0f), dv(n * kvd, 0.0f);
    LinearBack(A.ao.data(), dx.data(), n, qd, W(kO), d, dao.data(), G(kO));
    std::vector<float> dp(n);
    for (size_t h = 0; h < s.heads; ++h) {
      const size_t kh = (h / group) * hd;
      for (size_t t = 0; t < n; ++t) {
        const float* p = &A.p[(h * n + t) * n];
        const float* dot = &dao[t * qd + h * hd];
        float sum = 0.0f;
        for (size_t j = 0; j <= t; ++j) {
          const float* v = &A.v[j * kvd + kh];
          float acc = 0.0f;
          for (size_t i = 0; i < hd; ++i) {
            acc += dot[i] * v[i];
            dv[j * kvd + kh + i] += p[j] * dot[i];
          }
          dp[j] = acc;
          sum += p[j] * acc;
        }
        const float* q = &A.q[t * qd + h * hd];
        float* dqt = &dq[t * qd + h * hd];
        for (size_t j = 0; j <= t; ++j) {
          const float ds = p[j] * (dp[j] - sum) * inv_sqrt;
          if (ds == 0.0f) continue;
          const float* k = &A.k[j * kvd + kh];
          float* dkj = &dk[j * kvd + kh];
          for (size_t i = 0; i < hd; ++i) {
            dqt[i] += ds * k[i];
            dkj[i] += ds * q[i];
          }
        }
      }
    }
    Rotate(dq.data(), n, s.heads, hd, cos_.data(), sin_.data(), -1.0f);
    Rotate(dk.data(), n, s.kv_heads, hd, cos_.data(), sin_.data(), -1.0f);
    std::fill(dh.begin(), dh.end(), 0.0f);
    LinearBack(A.h.data(), dq.data(), n, d, W(kQ), qd, dh.data(), G(kQ));
    LinearBack(A.h.data(), dk.data(), n, d, W(kK), kvd, dh.data(), G(kK));
    LinearBack(A.h.data(), dv.data(), n, d, W(kV), kvd, dh.data(), G(kV));
    NormBack(A.x.data(), A.inv1.data(), dh.data(), n, d, W(kAttnNorm), dx.data(), G(kAttnNorm));
  }
  float* de = g->t[Weights::kEmbedding].data();
  for (size_t t = 0; t < n; ++t) {
    float* row = de + size_t(tokens_[t]) * d;
    for (size_t i = 0; i < d; ++i) row[i] += dx[t * d + i];
  }
}

}  // namespace tqf::rt::grad
