// Batched int8 matrix products (prompt processing): MatMul of a 2048 x 2048
// int8 matrix (the shape of a Llama 3.2 1B attention projection) with 1, 16
// and 256 tokens, on one thread, for each weight form, with the path's 4x4
// tile (dot_i8_tile) and without it (the one-token loop over each row),
// side by side in one run. Reported: tokens/s and weight MACs/s.
// BM_Held: one token (generation) and 256 (a prompt) over a 4-bit matrix
// with blocks of 32 (q4-g32) or per-row scales (q4-row), 98304 x 2048
// (twelve of Llama 3.2 1B's FFN matrices, 192 MiB as int8, 96 MiB as
// nibbles: memory-bound as generation is, though a host L3 as large as the
// Intel VM's 260 MiB may keep part of it: nibble rows read 31 GB/s there,
// above stream_read's 21), held as int8 codes vs as nibbles
// (held_nibbles.h), on 1 and 2 threads.
//   build/bin/matmul_bench [--benchmark_filter=channel|Held]
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "tqf/rt/held_nibbles.h"
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

// A q4-g32-like matrix: codes -8..7, a scale per 32.
struct HeldMatrix {
  static constexpr size_t kHeldRows = 98304;
  std::vector<int8_t> q;
  std::vector<uint8_t> packed;
  std::vector<float> params;
  std::vector<uint8_t> grouped;        // kBlock: the kGroups16 layout
  std::vector<float> grouped_params;   // and its interleaved scales
  int8_t lut[16];
  tqf::rt::WeightView i8, n4, n4g;
  explicit HeldMatrix(QuantKind quant) {
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> code(-8, 7);
    q.resize(kHeldRows * kCols);
    for (int8_t& v : q) v = static_cast<int8_t>(code(rng));
    const bool block = quant == QuantKind::kBlock;
    params.assign(block ? kHeldRows * kCols / 32 : kHeldRows, 0.01f);
    tqf::rt::FindNibbleTable(q.data(), q.size(), lut);
    packed.resize(kHeldRows * tqf::rt::NibbleRowBytes(kCols));
    tqf::rt::PackNibbles(q.data(), kHeldRows, kCols, lut, packed.data());
    i8.dtype = tqf::DType::kI8;
    i8.quant = quant;
    i8.quant_block = block ? 32 : 0;
    i8.rows = kHeldRows;
    i8.cols = kCols;
    i8.data = reinterpret_cast<const uint8_t*>(q.data());
    i8.params = params.data();
    i8.num_params = params.size();
    n4 = i8;
    n4.data = packed.data();
    n4.lut = lut;
    if (block) {
      tqf::TensorInfo t;
      t.dtype = tqf::DType::kI8;
      t.quant = quant;
      t.quant_block = 32;
      t.shape = {kHeldRows, kCols};
      t.num_params = params.size();
      grouped.resize(tqf::rt::NibbleTensorBytes(t, tqf::rt::NibbleLayout::kGroups16));
      grouped_params.resize(params.size());
      tqf::rt::PackNibbleTensor(t, q.data(), params.data(), lut, tqf::rt::NibbleLayout::kGroups16,
                                grouped.data(), grouped_params.data());
      n4g = n4;
      n4g.data = grouped.data();
      n4g.params = grouped_params.data();
      n4g.nibble_layout = tqf::rt::NibbleLayout::kGroups16;
    }
  }
};

// How BM_Held holds the matrix.
enum class HeldForm { kInt8, kNibbleRows, kNibbleGroups };

// One matrix at a time (each is 288 MiB), built on first use.
const HeldMatrix& Held(QuantKind quant) {
  static std::unique_ptr<HeldMatrix> m;
  if (!m || m->i8.quant != quant) {
    m.reset();
    m = std::make_unique<HeldMatrix>(quant);
  }
  return *m;
}

void BM_Held(benchmark::State& state, QuantKind quant, HeldForm form) {
  const bool nibbles = form != HeldForm::kInt8;
  const HeldMatrix* m = &Held(quant);
  const KernelOps& ops = tqf::rt::DefaultKernelOps();
  const size_t n = static_cast<size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  std::mt19937 rng(8);
  std::normal_distribution<float> dist;
  std::vector<float> x(n * kCols), y(n * HeldMatrix::kHeldRows);
  for (float& v : x) v = dist(rng);
  tqf::rt::MatMulScratch scratch;
  const tqf::rt::WeightView& w =
      form == HeldForm::kInt8 ? m->i8 : form == HeldForm::kNibbleRows ? m->n4 : m->n4g;
  for (auto _ : state) {
    tqf::rt::MatMul(ops, w, x.data(), n, y.data(), &scratch, threads);
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(nibbles ? m->packed.size() : m->q.size()) +
                       static_cast<double>(m->params.size() * 4);
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weightB/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(tqf::rt::KernelPathName(ops.path));
}

BENCHMARK_CAPTURE(BM_Held, g32_int8, QuantKind::kBlock, HeldForm::kInt8)
    ->Args({1, 1})->Args({1, 2})->Args({256, 2});
BENCHMARK_CAPTURE(BM_Held, g32_nibbles, QuantKind::kBlock, HeldForm::kNibbleRows)
    ->Args({1, 1})->Args({1, 2})->Args({256, 2});
BENCHMARK_CAPTURE(BM_Held, g32_nibble_groups, QuantKind::kBlock, HeldForm::kNibbleGroups)
    ->Args({1, 1})->Args({1, 2})->Args({256, 2});
BENCHMARK_CAPTURE(BM_Held, row_int8, QuantKind::kChannel, HeldForm::kInt8)
    ->Args({1, 1})->Args({1, 2})->Args({256, 2});
BENCHMARK_CAPTURE(BM_Held, row_nibbles, QuantKind::kChannel, HeldForm::kNibbleRows)
    ->Args({1, 1})->Args({1, 2})->Args({256, 2});

TQF_MATMUL_BENCH(channel, QuantKind::kChannel);
TQF_MATMUL_BENCH(tensor_minmax, QuantKind::kTensorMinMax);
TQF_MATMUL_BENCH(block32, QuantKind::kBlock);

}  // namespace

BENCHMARK_MAIN();
