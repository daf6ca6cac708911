// GPTQ: quantize a matrix column by column, spreading each column's
// rounding error over the columns still to come so that the layer's output
// on the calibration inputs (whose second moment is the Hessian H = X^T X)
// changes least. See lowbit_internal.h.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "quant/lowbit_internal.h"

namespace tqf::quant_internal {
namespace {

constexpr size_t kLazyBlock = 128;  // columns per lazy batch update

// In place: a (n x n, row-major, symmetric positive definite) -> its lower
// Cholesky factor L (a = L L^T). false if not positive definite.
bool Cholesky(std::vector<double>* a, size_t n) {
  double* m = a->data();
  for (size_t j = 0; j < n; ++j) {
    double d = m[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= m[j * n + k] * m[j * n + k];
    if (!(d > 0.0)) return false;
    const double ljj = std::sqrt(d);
    m[j * n + j] = ljj;
    const double inv = 1.0 / ljj;
    const double* lj = m + j * n;
#pragma omp parallel for schedule(static) if (n - j > 256)
    for (long i = static_cast<long>(j) + 1; i < static_cast<long>(n); ++i) {
      double* li = m + static_cast<size_t>(i) * n;
      double s = li[j];
      for (size_t k = 0; k < j; ++k) s -= li[k] * lj[k];
      li[j] = s * inv;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) m[i * n + j] = 0.0;
  }
  return true;
}

// The upper triangular U with H^-1 = U^T U, from H (n x n, in the step
// order): with J the reversal, chol(J H J) = L gives H = R R^T for the upper
// triangular R = J L J, so H^-1 = (R^-1)^T R^-1 and U = R^-1.
Status UpperInverseFactor(std::vector<double> h, size_t n, std::vector<float>* u_out) {
  std::vector<double> rev(n * n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) rev[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
  }
  std::vector<double>().swap(h);
  if (!Cholesky(&rev, n)) {
    return Status::InvalidArgument("GPTQ: the damped Hessian is not positive definite");
  }
  // R[i][j] = L[n-1-i][n-1-j] is upper triangular, so its transpose
  // Rt[j][k] = R[k][j] = L[n-1-k][n-1-j] = rev[(n-1-k)*n + n-1-j] is lower:
  // keep it as rows for contiguous access below.
  std::vector<double> rt(n * n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    for (size_t k = 0; k <= j; ++k) rt[j * n + k] = rev[(n - 1 - k) * n + (n - 1 - j)];
  }
  std::vector<double>().swap(rev);
  // X = R^-1 row by row (X R = I): X[i][i] = 1 / R[i][i],
  // X[i][j] = -(sum_{k=i}^{j-1} X[i][k] R[k][j]) / R[j][j] for j > i.
  u_out->assign(n * n, 0.0f);
#pragma omp parallel
  {
    std::vector<double> x(n);
#pragma omp for schedule(dynamic, 8)
    for (long il = 0; il < static_cast<long>(n); ++il) {
      const size_t i = static_cast<size_t>(il);
      x[i] = 1.0 / rt[i * n + i];
      for (size_t j = i + 1; j < n; ++j) {
        const double* col = rt.data() + j * n;  // R[.][j]
        double s = 0.0;
        for (size_t k = i; k < j; ++k) s += x[k] * col[k];
        x[j] = -s / col[j];
      }
      float* out = u_out->data() + i * n;
      for (size_t j = i; j < n; ++j) out[j] = static_cast<float>(x[j]);
    }
  }
  return Status::OK();
}

}  // namespace

std::vector<size_t> ActOrder(const float* hessian, size_t cols) {
  std::vector<size_t> order(cols);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return hessian[a * cols + a] > hessian[b * cols + b];
  });
  return order;
}

Status RunGptq(float* wt, size_t rows, size_t cols, const float* hessian, double damping,
               const std::vector<size_t>& order, size_t width, const ColumnStep& step) {
  if (order.size() != cols || width == 0 || cols % width != 0) {
    return Status::InvalidArgument("GPTQ: column order or step width does not fit " +
                                   std::to_string(cols) + " columns");
  }
  // Columns in step order, contiguous.
  std::vector<float> w(cols * rows);
  for (size_t k = 0; k < cols; ++k) {
    std::copy(wt + order[k] * rows, wt + (order[k] + 1) * rows, w.begin() + k * rows);
  }
  std::vector<float> u;
  if (hessian != nullptr) {
    std::vector<double> h(cols * cols);
    double mean_diag = 0.0;
    for (size_t i = 0; i < cols; ++i) mean_diag += hessian[order[i] * cols + order[i]];
    mean_diag = std::max(mean_diag / static_cast<double>(cols), 1e-12);
    for (size_t i = 0; i < cols; ++i) {
      for (size_t j = 0; j < cols; ++j) h[i * cols + j] = hessian[order[i] * cols + order[j]];
      // A column no input ever drives does not matter: fix its diagonal so
      // the factorisation holds, and let it round to nearest.
      if (h[i * cols + i] <= 0.0) h[i * cols + i] = mean_diag;
      h[i * cols + i] += damping * mean_diag;
    }
    TQF_RETURN_IF_ERROR(UpperInverseFactor(std::move(h), cols, &u));
  }
  std::vector<float> err(kLazyBlock * rows);
  for (size_t b0 = 0; b0 < cols; b0 += kLazyBlock) {
    const size_t b1 = std::min(cols, b0 + kLazyBlock);
    for (size_t k = b0; k < b1; k += width) {
      std::vector<float> before(w.begin() + k * rows, w.begin() + (k + width) * rows);
      step(k, width, w.data() + k * rows);  // columns k..k+width-1 quantized in place
      if (u.empty()) continue;
      // The step's columns were quantized jointly: each one's error also
      // moves the later columns of the step (whose codes are fixed) before
      // their own errors are taken, i.e. E = (W - Q) U_step^-1.
      for (size_t c = k; c < k + width; ++c) {
        const float d = u[c * cols + c];
        float* e = err.data() + (c - b0) * rows;
        for (size_t r = 0; r < rows; ++r) e[r] = (before[(c - k) * rows + r] - w[c * rows + r]) / d;
        for (size_t c2 = c + 1; c2 < k + width; ++c2) {
          const float f = u[c * cols + c2];
          float* b2 = before.data() + (c2 - k) * rows;
          for (size_t r = 0; r < rows; ++r) b2[r] -= e[r] * f;
        }
        // Spread into the rest of this lazy block (past the step).
#pragma omp parallel for schedule(static) if (rows * (b1 - k) > (1u << 15))
        for (long jl = static_cast<long>(k + width); jl < static_cast<long>(b1); ++jl) {
          const size_t j = static_cast<size_t>(jl);
          const float f = u[c * cols + j];
          float* wj = w.data() + j * rows;
          for (size_t r = 0; r < rows; ++r) wj[r] -= e[r] * f;
        }
      }
    }
    if (u.empty()) continue;
      // Lazy update of every later column by this block's errors.
#pragma omp parallel for schedule(static)
    for (long jl = static_cast<long>(b1); jl < static_cast<long>(cols); ++jl) {
      const size_t j = static_cast<size_t>(jl);
      float* wj = w.data() + j * rows;
      for (size_t c = b0; c < b1; ++c) {
        const float f = u[c * cols + j];
        if (f == 0.0f) continue;
        const float* e = err.data() + (c - b0) * rows;
        for (size_t r = 0; r < rows; ++r) wj[r] -= e[r] * f;
      }
    }
  }
  for (size_t k = 0; k < cols; ++k) {
    std::copy(w.begin() + k * rows, w.begin() + (k + 1) * rows, wt + order[k] * rows);
  }
  return Status::OK();
}

uint32_t NearestVector(const int8_t* vectors, uint32_t entries, uint32_t dim, const float* v,
                       const float* wt) {
  uint32_t best = 0;
  float best_d = std::numeric_limits<float>::infinity();
  for (uint32_t e = 0; e < entries; ++e) {
    const int8_t* c = vectors + size_t{e} * dim;
    float d = 0.0f;
    for (uint32_t i = 0; i < dim; ++i) {
      const float x = v[i] - static_cast<float>(c[i]);
      d += (wt ? wt[i] : 1.0f) * x * x;
    }
    if (d < best_d) {
      best_d = d;
      best = e;
    }
  }
  return best;
}

}  // namespace tqf::quant_internal
