// Batched int8 matrix products (prompt processing): MatMul of a 2048 x 2048
// int8 matrix (the shape of a Llama 3.2 1B attention projection) with 1, 16
// and 256 tokens, on one thread, for each weight form, with the path's 4x4
// tile (dot_i8_tile) and without it (the one-token loop over each row),
// side by side in one run. Reported: tokens/s and weight MACs/s.
//   build/bin/matmul_bench [--benchmark_filter=channel]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "tqf/rt/kernels.h"

namespace {

using tqf::QuantKind;
using tqf::rt::KernelOps;

constexpr size_t kRows = 2048, kCols = 2048;

struct Matrix {
  std::vector<int8_t> q;
  std::vector<float> params;
  tqf::rt::WeightView view;
};

Matrix MakeMatrix(QuantKind quant) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> code(-127, 127);
  Matrix m;
  m.q.resize(kRows * kCols);
  for (int8_t& v : m.q) v = static_cast<int8_t>(code(rng));
  m.view.dtype = tqf::DType::kI8;
  m.view.quant = quant;
  m.view.rows = kRows;
  m.view.cols = kCols;
  switch (quant) {
    case QuantKind::kChannel: m.params.assign(kRows, 0.01f); break;
    case QuantKind::kTensorMinMax: m.params = {0.01f, 3.0f}; break;
    default:
      m.view.quant_block = 32;
      m.params.assign(kRows * kCols / 32, 0.01f);
      break;
  }
  m.view.data = reinterpret_cast<const uint8_t*>(m.q.data());
  m.view.params = m.params.data();
  m.view.num_params = m.params.size();
  return m;
}

void BM_MatMul(benchmark::State& state, QuantKind quant, bool tiles) {
  KernelOps ops = tqf::rt::DefaultKernelOps();
  if (!tiles) {
    ops.dot_i8_tile = nullptr;
    ops.matmul_i8_block_tile = nullptr;
  }
  const size_t n = static_cast<size_t>(state.range(0));
  const Matrix m = MakeMatrix(quant);
  std::mt19937 rng(8);
  std::normal_distribution<float> dist;
  std::vector<float> x(n * kCols), y(n * kRows);
  for (float& v : x) v = dist(rng);
  tqf::rt::MatMulScratch scratch;
  for (auto _ : state) {
    tqf::rt::MatMul(ops, m.view, x.data(), n, y.data(), &scratch, 1);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(n * kRows * kCols),
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(tqf::rt::KernelPathName(ops.path));
}

#define TQF_MATMUL_BENCH(name, quant)                                                 \
  BENCHMARK_CAPTURE(BM_MatMul, name##_tiles, quant, true)->Arg(1)->Arg(16)->Arg(256); \
  BENCHMARK_CAPTURE(BM_MatMul, name##_rows, quant, false)->Arg(1)->Arg(16)->Arg(256)

TQF_MATMUL_BENCH(channel, QuantKind::kChannel);
TQF_MATMUL_BENCH(tensor_minmax, QuantKind::kTensorMinMax);
TQF_MATMUL_BENCH(block32, QuantKind::kBlock);

}  // namespace

BENCHMARK_MAIN();
