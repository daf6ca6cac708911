// layer_decode_bench: how fast a token's layers decode, the bound a
// budgeted run (`tqf run --mem-budget`) works against.
//
// A token under a budget decodes every layer once: the model's layer tensors
// (blk.N.attn_q .. ffn_down, in the runtime's order). Modes, run in
// alternating rounds so that they see the same machine state:
//   blocks    each layer's whole block list decoded into one pre-faulted
//             buffer as a budgeted run decodes it (chunks of 8 blocks claimed
//             by the threads, each read and decoded with
//             Reader::DecodeBlocksTransient into a per-thread buffer), without
//             the provider's bookkeeping: the decode bound.
//   blocks-mapped  Reader::DecodeBlocks over each layer's block list, reading
//             the mapping (the bound before budgeted runs read with pread).
//   releasing rt::DecodeTensorsReleasing, the helper that decodes a layer a
//             group at a time and releases its compressed pages after each.
//   provider  rt::LayerProvider at budget 0 (Acquire of every layer in
//             order): what a budget-0 run pays per token besides compute.
// Per mode: median and best seconds per token (all layers), decoded GB/s
// (1e9 bytes) and the tokens per second decoding alone would allow.
//
// usage: layer_decode_bench FILE.tqf [-t THREADS] [-r ROUNDS] [--no-verify]
//                                    [--modes blocks,blocks-mapped,releasing,provider]
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tqf/reader.h"
#include "tqf/rt/layer_provider.h"

namespace {

struct Options {
  std::string file;
  int threads = 2;
  int rounds = 5;
  bool verify = true;
  std::vector<std::string> modes = {"blocks", "blocks-mapped", "releasing", "provider"};
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-verify") {
      o->verify = false;
    } else if ((a == "-t" || a == "-r" || a == "--modes") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--modes") {
        o->modes = Split(v);
      } else {
        const int n = std::atoi(v.c_str());
        if (n <= 0) return false;
        (a == "-t" ? o->threads : o->rounds) = n;
      }
    } else if (a[0] != '-' && o->file.empty()) {
      o->file = a;
    } else {
      return false;
    }
  }
  return !o->file.empty();
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of the whole process (all threads): less sensitive than wall
// time to other processes on a shared machine.
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Every block of a layer's tensors, decoded into `buf` one tensor after
// another (each at a 64-byte boundary).
std::vector<tqf::BlockRef> LayerRefs(const tqf::Reader& reader, const std::vector<size_t>& tensors,
                                     uint8_t* buf) {
  std::vector<tqf::BlockRef> refs;
  uint8_t* out = buf;
  for (size_t idx : tensors) {
    const tqf::TensorInfo& t = reader.tensors()[idx];
    for (size_t b = 0; b < t.block_count; ++b) {
      refs.push_back({idx, b, out + static_cast<uint64_t>(b) * t.block_size});
    }
    out += (t.raw_size + 63) / 64 * 64;
  }
  return refs;
}

// The pure decode of every layer into `buf` (a layer's size at least).
tqf::Status DecodeBlocksPass(const tqf::Reader& reader,
                             const std::vector<std::vector<size_t>>& layers, uint8_t* buf,
                             int threads, bool release) {
  for (const std::vector<size_t>& tensors : layers) {
    const std::vector<tqf::BlockRef> refs = LayerRefs(reader, tensors, buf);
    TQF_RETURN_IF_ERROR(reader.DecodeBlocks(refs.data(), refs.size(), threads));
    if (release) {
      for (size_t idx : tensors) reader.DontNeed(idx);
    }
  }
  return tqf::Status::OK();
}

// The runtime's decode (DecodeJob in layer_provider.cc) without its
// bookkeeping: chunks of 8 blocks, each decoded by
// Reader::DecodeBlocksTransient on the thread that claimed it.
tqf::Status TransientPass(const tqf::Reader& reader, const std::vector<std::vector<size_t>>& layers,
                          uint8_t* buf, int threads) {
  constexpr size_t kChunk = 8;  // the provider's kChunkBlocks
  for (const std::vector<size_t>& tensors : layers) {
    const std::vector<tqf::BlockRef> refs = LayerRefs(reader, tensors, buf);
    const long chunks = static_cast<long>((refs.size() + kChunk - 1) / kChunk);
    std::vector<tqf::Status> errors(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long c = 0; c < chunks; ++c) {
      thread_local std::vector<uint8_t> scratch;
      const size_t first = static_cast<size_t>(c) * kChunk;
      errors[static_cast<size_t>(c)] = reader.DecodeBlocksTransient(
          &refs[first], std::min(kChunk, refs.size() - first), &scratch);
    }
    for (const tqf::Status& s : errors) TQF_RETURN_IF_ERROR(s);
  }
  return tqf::Status::OK();
}

tqf::Status ReleasingPass(const tqf::Reader& reader, const std::vector<std::vector<size_t>>& layers,
                          uint8_t* buf, int threads) {
  for (const std::vector<size_t>& tensors : layers) {
    std::vector<uint8_t*> outs;
    uint8_t* out = buf;
    for (size_t idx : tensors) {
      outs.push_back(out);
      out += (reader.tensors()[idx].raw_size + 63) / 64 * 64;
    }
    TQF_RETURN_IF_ERROR(tqf::rt::DecodeTensorsReleasing(reader, tensors.data(), outs.data(),
                                                        tensors.size(), threads));
  }
  return tqf::Status::OK();
}

tqf::Status ProviderPass(tqf::rt::LayerProvider* provider, size_t n_layers) {
  for (size_t l = 0; l < n_layers; ++l) {
    TQF_RETURN_IF_ERROR(provider->Acquire(static_cast<int>(l)).status());
  }
  return tqf::Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: layer_decode_bench FILE.tqf [-t THREADS] [-r ROUNDS] [--no-verify]\n"
                 "                          [--modes blocks,blocks-mapped,releasing,provider]\n");
    return 2;
  }
  tqf::ReadOptions ro;
  ro.verify_checksums = o.verify;
  auto opened = tqf::Reader::Open(o.file, ro);
  if (!opened.ok()) {
    std::fprintf(stderr, "layer_decode_bench: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  const tqf::Reader& reader = **opened;
  const std::vector<std::vector<size_t>> layers = tqf::rt::FindLayerMatrices(reader);
  uint64_t token_bytes = 0, layer_max = 0;
  for (const auto& tensors : layers) {
    uint64_t bytes = 0;
    for (size_t idx : tensors) bytes += (reader.tensors()[idx].raw_size + 63) / 64 * 64;
    token_bytes += bytes;
    layer_max = std::max(layer_max, bytes);
  }
  if (layers.empty()) {
    std::fprintf(stderr, "layer_decode_bench: %s has no blk.N layer tensors\n", o.file.c_str());
    return 1;
  }
  void* mapped = ::mmap(nullptr, layer_max, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mapped == MAP_FAILED) return 1;
  uint8_t* buf = static_cast<uint8_t*>(mapped);
  tqf::rt::LayerProviderOptions po;
  po.mem_budget = 0;
  po.decode_threads = o.threads;
  tqf::rt::LayerProvider provider(&reader, layers, po);

  std::map<std::string, std::vector<double>> secs, cpu;
  for (int r = 0; r <= o.rounds; ++r) {  // round 0 warms the page cache
    for (const std::string& m : o.modes) {
      const double start = Now();
      const double cpu_start = CpuNow();
      tqf::Status s =
          m == "blocks"           ? TransientPass(reader, layers, buf, o.threads)
          : m == "blocks-mapped"  ? DecodeBlocksPass(reader, layers, buf, o.threads, false)
          : m == "blocks-release" ? DecodeBlocksPass(reader, layers, buf, o.threads, true)
          : m == "releasing"      ? ReleasingPass(reader, layers, buf, o.threads)
          : m == "provider"       ? ProviderPass(&provider, layers.size())
                                  : tqf::Status::InvalidArgument("unknown mode " + m);
      if (!s.ok()) {
        std::fprintf(stderr, "layer_decode_bench: %s\n", s.ToString().c_str());
        return 1;
      }
      if (r > 0) secs[m].push_back(Now() - start);
      if (r > 0) cpu[m].push_back(CpuNow() - cpu_start);
    }
  }
  std::printf("%s: %zu layers, %.1f MB decoded per token, %d threads, checksums %s, %d rounds\n",
              o.file.c_str(), layers.size(), token_bytes / 1e6, o.threads, o.verify ? "on" : "off",
              o.rounds);
  // The provider's unit of --mem-budget: the bytes one decoded layer holds.
  std::printf("layer_bytes %zu\n", provider.layer_bytes(0));
  std::printf(
      "| mode | median s/token | best s/token | GB/s (median) | tok/s if only decoding | "
      "CPU s/token (median) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const std::string& m : o.modes) {
    std::vector<double> v = secs[m];
    std::sort(v.begin(), v.end());
    const double med = v[v.size() / 2];
    std::vector<double> c = cpu[m];
    std::sort(c.begin(), c.end());
    std::printf("| %s | %.4f | %.4f | %.2f | %.2f | %.4f |\n", m.c_str(), med, v.front(),
                token_bytes / med / 1e9, 1.0 / med, c[c.size() / 2]);
  }
  ::munmap(mapped, layer_max);
  return 0;
}
