// tqf: pack, inspect, verify and run LLaMA-family models in .tqf files.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "commands.h"
#include "tqf/signals.h"
#include "tqf/source.h"
#include "tqf/version.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

// Keep in the order `tqf --help` lists them.
const Command kCommands[] = {
    {"pack", tqf::tools::CmdPack, "import a model, quantize, compress into a .tqf"},
    {"inspect", tqf::tools::CmdInspect, "show a .tqf's header, tensors and sizes"},
    {"verify", tqf::tools::CmdVerify, "check every structure and checksum of a .tqf"},
    {"compare", tqf::tools::CmdCompare,
     "sizes and decode speeds of every codec and zstd vs the entropy bound"},
    {"unpack", tqf::tools::CmdUnpack, "export a .tqf back to GGUF"},
    {"fetch", tqf::tools::CmdFetch, "download a .tqf from a URL, verified block by block"},
#if TQF_WITH_RUNTIME
    {"run", tqf::tools::CmdRun, "generate text from a .tqf with the bundled CPU runtime"},
    {"bench", tqf::tools::CmdBench, "prompt and generation speed, as llama.cpp's llama-bench"},
    {"eval", tqf::tools::CmdEval, "perplexity and multiple-choice accuracy (ARC, HellaSwag, MMLU)"},
    {"serve", tqf::tools::CmdServe,
     "share one model's decoded layers with many `tqf run --attach`"},
    {"tokenize", tqf::tools::CmdTokenize, "print the token ids of a text (or the text of ids)"},
#endif
    {"synth", tqf::tools::CmdSynth, "write a random-weight GGUF with the shapes of a real model"},
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "tqf %s: compressed single-file LLaMA models\n\nusage: tqf COMMAND [ARGS]\n\n",
               tqf::VersionString());
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(
      out,
      "\n`tqf COMMAND --help` describes a command.\n\n"
      "Any FILE.tqf may be an http:// or https:// URL: it is read lazily with Range\n"
      "requests, every block verified against its checksum. Remote options, for any\n"
      "command:\n"
      "  --cache-dir DIR        keep verified blocks in DIR, shared by URLs and processes\n"
      "  --cache-max-bytes N    evict the least recently used blocks past N bytes\n"
      "  --http-retries N       retries per range (default 4, exponential backoff)\n"
      "  --http-timeout S       connect timeout; a stalled transfer is dropped after 3*S\n"
      "  --http-stats           print requests and bytes fetched on exit (stderr)\n");
}

// Takes the remote options (any command's) out of argv; false with a
// message on a bad value.
bool TakeRemoteOptions(int* argc, char** argv, bool* stats) {
  tqf::RemoteOptions o = tqf::DefaultRemoteOptions();
  int out = 2;
  for (int i = 2; i < *argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < *argc;
    char* end = nullptr;
    if (a == "--http-stats") {
      *stats = true;
      continue;
    }
    if (a != "--cache-dir" && a != "--cache-max-bytes" && a != "--http-retries" &&
        a != "--http-timeout") {
      argv[out++] = argv[i];
      continue;
    }
    if (!has_value) {
      std::fprintf(stderr, "tqf: %s needs a value\n", a.c_str());
      return false;
    }
    const char* v = argv[++i];
    if (a == "--cache-dir") {
      o.cache_dir = v;
      continue;
    }
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (*v == '\0' || *end != '\0' || *v == '-' || (a != "--cache-max-bytes" && n > 1000)) {
      std::fprintf(stderr, "tqf: bad %s '%s'\n", a.c_str(), v);
      return false;
    }
    if (a == "--cache-max-bytes") o.cache_max_bytes = n;
    if (a == "--http-retries") o.max_retries = static_cast<int>(n);
    if (a == "--http-timeout") {
      o.connect_timeout_s = static_cast<long>(std::max(1ULL, n));
      o.low_speed_timeout_s = 3 * o.connect_timeout_s;
    }
  }
  *argc = out;
  argv[out] = nullptr;
  tqf::SetDefaultRemoteOptions(o);
  return true;
}

void PrintRemoteStats() {
  const tqf::SourceStats s = tqf::RemoteStats();
  std::fprintf(stderr,
               "tqf: http: %llu requests, %llu bytes fetched, %llu retries; cache: %llu hits, "
               "%llu bytes\n",
               (unsigned long long)s.requests, (unsigned long long)s.bytes_fetched,
               (unsigned long long)s.retries, (unsigned long long)s.cache_hits,
               (unsigned long long)s.cache_hit_bytes);
}

// Other threads runnable (the 4th field of /proc/loadavg, "R/T", counts
// this one too): the least of up to five looks 1 ms apart, so that a
// kernel worker caught running once does not count while a busy process
// does; a look that sees none ends it (no fewer can be seen). -1 where
// unknown.
int OtherRunnableThreads() {
  int least = -1;
  for (int i = 0; i < 5 && least != 0; ++i) {
    if (i > 0) usleep(1000);
    FILE* f = std::fopen("/proc/loadavg", "r");
    if (f == nullptr) return -1;
    double l1, l5, l15;
    int running = 0, total = 0;
    const int got = std::fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total);
    std::fclose(f);
    if (got != 5 || running < 1) return -1;
    least = least < 0 ? running - 1 : std::min(least, running - 1);
  }
  return least;
}

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
  return CPU_COUNT(&set);
}

// OpenMP threads wait for the next parallel region between the runtime's
// many short ones (a hundred or more a token). libgomp's default spins ~3 ms
// first: on a machine whose cores are busy with anything else the spinning
// threads take the cores the working ones need, and generation crawled
// (5-50x slower, measured under load). Waiting passively instead costs a
// futex wake-up per region: on an idle 2-vCPU VM held generation of a 1B
// model ran 21-23 tok/s passive vs 27-30 spinning. So when the process
// starts on cores that are free (fewer other threads runnable than half
// the usable CPUs), threads spin for a bounded GOMP_SPINCOUNT of 100000
// (~1 ms, and libgomp spins far less once it runs more threads than CPUs),
// and otherwise wait passively (under six busy processes: 7.8-8.1 tok/s
// passive vs 5.4-6.7 spinning). libgomp reads the environment when it
// loads, before main, hence one re-execution with the policy set. A user's
// own OMP_WAIT_POLICY is respected.
void DefaultOpenMpWaits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  const int others = OtherRunnableThreads(), cpus = UsableCpus();
  const bool free_cores = others >= 0 && cpus > 0 && 2 * others < cpus;
  if (setenv("OMP_WAIT_POLICY", free_cores ? "active" : "passive", 1) != 0) return;
  if (free_cores && std::getenv("GOMP_SPINCOUNT") == nullptr) setenv("GOMP_SPINCOUNT", "100000", 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on with libgomp's default.
}

// Runs a command so that no exception escapes as an abort: libtqf returns
// Statuses, but the standard library throws when memory runs out
// (bad_alloc) or a size is impossible (length_error); the sites that size
// allocations from input check them first and name the size, this is the
// backstop.
int RunGuarded(const Command& c, int argc, char** argv) {
  try {
    return c.fn(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tqf %s: resource exhausted: out of memory\n", c.name);
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "tqf %s: resource exhausted: a size too large to allocate (%s)\n", c.name,
                 e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tqf %s: internal error: %s\n", c.name, e.what());
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  DefaultOpenMpWaits(argv);
  // The tool, not the library, decides what signals do: a killed pack or
  // unpack removes its temporary output before dying, and a model file
  // truncated or rewritten under us is an error, not a crash.
  tqf::InstallSignalCleanup();
  tqf::InstallMappedFileFaultHandler();
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    std::printf("tqf %s\n", tqf::VersionString());
    return 0;
  }
  bool stats = false;
  if (!TakeRemoteOptions(&argc, argv, &stats)) return 2;
  for (const Command& c : kCommands) {
    if (cmd != c.name) continue;
    const int rc = RunGuarded(c, argc - 1, argv + 1);
    if (stats) PrintRemoteStats();
    return rc;
  }
  std::fprintf(stderr, "tqf: unknown command '%s' (see `tqf --help`)\n", cmd.c_str());
  return 2;
}
