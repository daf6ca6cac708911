// Decode throughput of every codec, with each rANS kernel, against zstd, on
// the same quantized bytes: gpt2-attention (../shared) quantized per
// channel, per tensor (min/max) and per block of 32; synthetic Laplacian
// int8 when the model is missing. Throughput counts decoded bytes.
//
//   codec_bench [--benchmark_filter=rans] [--benchmark_repetitions=5]
// Threads: /threads:2 variants decode blocks on 2 OpenMP threads (tensors
// are cut into 64 KiB blocks for the tqf codecs, as the Writer does; zstd
// frames are whole tensors, zstd's best case).
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "codec/rans.h"
#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/quantize.h"

namespace {

constexpr size_t kBlock = 64 * 1024;

struct Corpus {
  std::string name;
  std::vector<std::vector<uint8_t>> tensors;
  size_t bytes = 0;
};

std::string SharedPath(const std::string& rel) {
  const char* env = std::getenv("TQF_SHARED_DIR");
  return std::string(env && *env ? env : TQF_SHARED_DIR) + "/" + rel;
}

std::vector<Corpus> LoadCorpora() {
  std::vector<Corpus> out;
  auto model =
      tqf::ImportModel(SharedPath("models/gpt2-attention/gpt2-small-attention.safetensors"));
  if (model.ok()) {
    for (tqf::QuantScheme q : {tqf::QuantScheme::kChannel, tqf::QuantScheme::kTensorMinMax,
                               tqf::QuantScheme::kBlock32}) {
      Corpus c;
      c.name = std::string("gpt2/") + tqf::QuantSchemeName(q);
      for (const tqf::SourceTensor& t : model->tensors) {
        if (t.shape.size() < 2) continue;
        std::vector<float> f(t.num_elements());
        if (!t.ToF32(f.data()).ok()) continue;
        auto qt = tqf::Quantize(q, f.data(), t.rows(), t.cols(), t.shape.size(), t.dtype, t.data);
        if (!qt.ok()) continue;
        c.bytes += qt->data.size();
        c.tensors.push_back(std::move(qt->data));
      }
      out.push_back(std::move(c));
    }
    return out;
  }
  Corpus c;  // Laplacian int8, scale 12 (about 6.5 bits/byte), 8 x 1 MiB
  c.name = "synthetic/laplace";
  std::mt19937 rng(1);
  std::exponential_distribution<double> ex(1.0 / 12);
  for (int t = 0; t < 8; ++t) {
    std::vector<uint8_t> v(1 << 20);
    for (auto& b : v) {
      long x = std::lround(ex(rng)) * ((rng() & 1) ? 1 : -1);
      b = static_cast<uint8_t>(static_cast<int8_t>(std::max(-127L, std::min(127L, x))));
    }
    c.bytes += v.size();
    c.tensors.push_back(std::move(v));
  }
  out.push_back(std::move(c));
  return out;
}

struct Block {
  const tqf::CodecTables* tables;
  std::vector<uint8_t> enc;
  size_t offset, size;
};

// A corpus encoded with one tqf codec, 64 KiB blocks, tables as PackModel
// builds them.
struct Encoded {
  std::vector<std::shared_ptr<const tqf::CodecTables>> tables;
  std::vector<Block> blocks;
  size_t stored = 0;
};

Encoded EncodeCorpus(const tqf::Codec* codec, const Corpus& c) {
  Encoded e;
  std::vector<int> dict(c.tensors.size(), -1);
  if (codec->uses_dictionary()) {
    auto b = codec->NewDictionaryBuilder();
    for (size_t i = 0; i < c.tensors.size(); ++i)
      b->Add(i, c.tensors[i].data(), c.tensors[i].size());
    auto plan = b->Build();
    for (auto& d : plan->dictionaries) {
      e.tables.push_back(*codec->LoadDictionary(d.data(), d.size()));
      e.stored += d.size();
    }
    dict = plan->tensor_dictionary;
  }
  size_t offset = 0;
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    const auto& t = c.tensors[i];
    for (size_t o = 0; o < t.size(); o += kBlock) {
      Block b{dict[i] >= 0 ? e.tables[dict[i]].get() : nullptr,
              {},
              offset + o,
              std::min(kBlock, t.size() - o)};
      (void)codec->Encode(b.tables, t.data() + o, b.size, &b.enc);
      e.stored += b.enc.size();
      e.blocks.push_back(std::move(b));
    }
    offset += t.size();
  }
  return e;
}

void DecodeTqf(benchmark::State& state, const tqf::Codec* codec, const Corpus* c, int kernel,
               int threads) {
  const auto saved = tqf::codec_internal::ActiveRansKernel();
  if (kernel >= 0 &&
      !tqf::codec_internal::SetRansKernel(static_cast<tqf::codec_internal::RansKernel>(kernel))) {
    state.SkipWithError("kernel not supported by this CPU");
    return;
  }
  Encoded e = EncodeCorpus(codec, *c);
  std::vector<uint8_t> out(c->bytes);
  const long n = static_cast<long>(e.blocks.size());
  // Pairs of consecutive blocks through DecodeMany, as the Reader decodes
  // a list of blocks (rans-alias interleaves a pair).
  const long pairs = (n + 1) / 2;
  for (auto _ : state) {
    int bad = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : bad)
    for (long p = 0; p < pairs; ++p) {
      tqf::DecodeJob jobs[2];
      const long count = std::min<long>(2, n - 2 * p);
      for (long k = 0; k < count; ++k) {
        const Block& b = e.blocks[2 * p + k];
        jobs[k].tables = b.tables;
        jobs[k].in = b.enc.data();
        jobs[k].in_size = b.enc.size();
        jobs[k].out = out.data() + b.offset;
        jobs[k].out_size = b.size;
      }
      codec->DecodeMany(jobs, static_cast<size_t>(count));
      for (long k = 0; k < count; ++k) bad += !jobs[k].status.ok();
    }
    if (bad) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * c->bytes);
  state.counters["ratio"] = static_cast<double>(c->bytes) / e.stored;
  state.counters["bits/B"] = 8.0 * e.stored / c->bytes;
  tqf::codec_internal::SetRansKernel(saved);
}

void DecodeZstd(benchmark::State& state, const Corpus* c, int level, int threads) {
  std::vector<std::vector<uint8_t>> frames;
  size_t stored = 0;
  for (const auto& t : c->tensors) {
    std::vector<uint8_t> f(ZSTD_compressBound(t.size()));
    f.resize(ZSTD_compress(f.data(), f.size(), t.data(), t.size(), level));
    stored += f.size();
    frames.push_back(std::move(f));
  }
  std::vector<uint8_t> out(c->bytes);
  std::vector<size_t> offsets;
  size_t off = 0;
  for (const auto& t : c->tensors) offsets.push_back(off), off += t.size();
  const long n = static_cast<long>(frames.size());
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(dynamic)
    for (long i = 0; i < n; ++i) {
      ZSTD_decompress(out.data() + offsets[i], c->tensors[i].size(), frames[i].data(),
                      frames[i].size());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * c->bytes);
  state.counters["ratio"] = static_cast<double>(c->bytes) / stored;
  state.counters["bits/B"] = 8.0 * stored / c->bytes;
}

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<Corpus> corpora = LoadCorpora();
  const char* kKernels[] = {"scalar", "avx2", "avx512", "avx512vbmi"};
  for (const Corpus& c : corpora) {
    for (int threads : {1, 2}) {
      const std::string suffix = "/" + c.name + "/threads:" + std::to_string(threads);
      for (const tqf::Codec* codec : tqf::ByteCodecs()) {
        const bool alias = codec->kind() == tqf::CodecKind::kRansAlias;
        if (codec->kind() == tqf::CodecKind::kRans || alias) {
          // avx512vbmi uses byte tables only for rans-alias (rans: gathers).
          for (int k = 0; k < (alias ? 4 : 3); ++k) {
            benchmark::RegisterBenchmark(
                (std::string("decode/") + codec->name() + "-" + kKernels[k] + suffix).c_str(),
                DecodeTqf, codec, &c, k, threads)
                ->UseRealTime();
          }
        } else {
          benchmark::RegisterBenchmark((std::string("decode/") + codec->name() + suffix).c_str(),
                                       DecodeTqf, codec, &c, -1, threads)
              ->UseRealTime();
        }
      }
      for (int level : {1, 3, 9, 19}) {
        benchmark::RegisterBenchmark(("decode/zstd-" + std::to_string(level) + suffix).c_str(),
                                     DecodeZstd, &c, level, threads)
            ->UseRealTime();
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
