// stream_read: multi-threaded memory read bandwidth, STREAM-style, so that
// generation speeds can be stated as a fraction of what memory allows
// (tokens/s x bytes read per token / bandwidth; scripts/bench_vs_llamacpp.sh).
//
// Each thread sums its own contiguous share of a buffer far larger than
// the caches (64-bit integer adds, which the compiler vectorizes: the loop
// is bound by loads, not arithmetic); the figure is the best of R passes,
// bytes / seconds, in GB/s (1e9 bytes), as STREAM reports its best time.
//
// usage: stream_read [-t THREADS] [--mib MIB] [-r R]
//   prints one line: "read bandwidth X GB/s (T threads, M MiB, best of R)"
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

struct Options {
  int threads = 0;  // 0: all cores
  size_t mib = 1024;
  int reps = 10;
};

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const long v = std::strtol(argv[++i], nullptr, 10);
    if (v <= 0) return false;
    if (a == "-t") {
      o->threads = static_cast<int>(v);
    } else if (a == "--mib") {
      o->mib = static_cast<size_t>(v);
    } else if (a == "-r") {
      o->reps = static_cast<int>(v);
    } else {
      return false;
    }
  }
  return true;
}

// Sum of words[0..n), four independent accumulators so loads overlap.
uint64_t SumWords(const uint64_t* words, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += words[i];
    b += words[i + 1];
    c += words[i + 2];
    d += words[i + 3];
  }
  for (; i < n; ++i) a += words[i];
  return a + b + c + d;
}

// One parallel pass over the buffer; returns its seconds, adds the sum to *sink.
double ReadPass(const uint64_t* words, size_t n, int threads, uint64_t* sink) {
  uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t begin = n * t / nt, end = n * (t + 1) / nt;
    total += SumWords(words + begin, end - begin);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  *sink += total;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::fprintf(stderr, "usage: stream_read [-t THREADS] [--mib MIB] [-r R]\n");
    return 2;
  }
  if (o.threads == 0) o.threads = omp_get_num_procs();
  const size_t n = o.mib * (size_t{1} << 20) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> words(new (std::nothrow) uint64_t[n]);
  if (!words) {
    std::fprintf(stderr, "stream_read: cannot allocate %zu MiB\n", o.mib);
    return 1;
  }
  // First touch from the threads that will read (NUMA placement), non-zero
  // so no page can be the shared zero page.
#pragma omp parallel for num_threads(o.threads) schedule(static)
  for (size_t i = 0; i < n; ++i) words[i] = i;
  uint64_t sink = 0;
  ReadPass(words.get(), n, o.threads, &sink);  // warm-up
  double best = 1e30;
  for (int r = 0; r < o.reps; ++r)
    best = std::min(best, ReadPass(words.get(), n, o.threads, &sink));
  const double gbps = static_cast<double>(n * sizeof(uint64_t)) / best / 1e9;
  std::printf("read bandwidth %.2f GB/s (%d threads, %zu MiB, best of %d)\n", gbps, o.threads,
              o.mib, o.reps);
  return sink == 42 ? 3 : 0;  // keeps the sums alive; never 42 in practice
}
