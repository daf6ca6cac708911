// tqf bench FILE.tqf [options]: prompt-processing and generation speed of
// the bundled runtime, measured the way llama.cpp's llama-bench measures
// them, so the two can be put side by side (scripts/bench_vs_llamacpp.sh).
//
// ppN: N prompt tokens in one Forward call from position 0 (the KV cache is
// overwritten from the start, so every repetition sees a fresh context).
// tgN: N tokens one Forward call each, from an empty context (position 0),
// as llama-bench's tg test does. Tokens are synthetic (BOS, then ids cycling
// through 1..vocab-1): speed does not depend on which ids they are, and no
// tokenizer is needed. Each test runs once to warm up (decoding layers,
// faulting pages in), then R times; t/s is the mean and sample deviation.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "tqf/reader.h"
#include "tqf/rt/kernels.h"
#include "tqf/rt/model.h"

namespace tqf::tools {
namespace {

const char kUsage[] =
    "usage: tqf bench FILE.tqf [-p N] [-n N] [-t N[,N...]] [--mem-budget B[,B...]] [-r R]\n"
    "                 [--json]\n"
    "  Prompt processing (ppN) and generation (tgN) speed, as llama.cpp's llama-bench\n"
    "  measures them, for every combination of threads and budget.\n"
    "  -p N               prompt tokens of the pp test (default 512, or the model's\n"
    "                     context if smaller; 0 skips it)\n"
    "  -n N               generated tokens of the tg test (default 128; 0 skips it)\n"
    "  -t N[,N...]        compute threads (default: all cores)\n"
    "  --mem-budget B,..  decoded layers to hold: bytes (suffixes K, M, G), a layer\n"
    "                     count (2layers), or 'none' (default: none, keep every\n"
    "                     layer; see `tqf run --help`)\n"
    "  -r R               repetitions of each test after one warm-up (default 5)\n"
    "  --json             print the results as JSON instead of a markdown table\n";

struct BenchFlags {
  std::string file;
  long long prompt = 512, gen = 128, reps = 5;
  bool prompt_given = false, gen_given = false;  // defaults shrink to the context
  std::vector<int> threads;
  std::vector<MemBudget> budgets;  // none() = keep every layer
  bool json = false;
};

// Splits "a,b,c" and parses each item with `parse`; false if any is bad or empty.
template <typename T, typename F>
bool ParseList(const std::string& s, F parse, std::vector<T>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    T v{};
    if (!parse(s.substr(start, comma - start), &v)) return false;
    out->push_back(v);
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool ParseThreads(const std::string& s, int* out) {
  long long v = 0;
  if (!ParseInt(s, 1, 4096, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ParseBudget(const std::string& s, MemBudget* out) {
  if (s == "none") {
    *out = MemBudget{};
    return true;
  }
  return ParseMemBudget(s, out);
}

// One option at the front of `args`: 1 consumed, 0 not an option (or its
// value missing: args.error() says), kExitUsage after printing a usage error.
int ParseOption(Args& args, BenchFlags* f) {
  auto usage = [](const std::string& msg) { return Usage("bench", msg, kUsage); };
  std::string v;
  if (args.Value("-p", &v)) {
    if (!ParseInt(v, 0, 1 << 20, &f->prompt)) return usage("bad -p '" + v + "'");
    f->prompt_given = true;
  } else if (args.Value("-n", &v)) {
    if (!ParseInt(v, 0, 1 << 20, &f->gen)) return usage("bad -n '" + v + "'");
    f->gen_given = true;
  } else if (args.Value("-r", &v)) {
    if (!ParseInt(v, 1, 1000000, &f->reps)) return usage("bad -r '" + v + "' (want R >= 1)");
  } else if (args.Value("-t", &v) || args.Value("--threads", &v)) {
    if (!ParseList<int>(v, ParseThreads, &f->threads)) {
      return usage("bad -t '" + v + "' (thread counts 1..4096, comma-separated)");
    }
  } else if (args.Value("--mem-budget", &v)) {
    if (!ParseList<MemBudget>(v, ParseBudget, &f->budgets)) {
      return usage("bad --mem-budget '" + v + "' (" + kMemBudgetForms +
                   ", or none; comma-separated)");
    }
  } else if (args.Is("--json")) {
    f->json = true;
  } else {
    return 0;
  }
  return 1;
}

// Returns -1 when parsing succeeded, else the exit code.
int ParseFlags(int argc, char** argv, BenchFlags* f) {
  Args args(argc, argv);
  auto usage = [](const std::string& msg) { return Usage("bench", msg, kUsage); };
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    const int r = ParseOption(args, f);
    if (r == 1) continue;
    if (r > 1 || !args.error().empty()) return args.error().empty() ? r : usage(args.error());
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return usage("unknown option '" + a + "'");
    if (!f->file.empty()) return usage("more than one file given");
    f->file = a;
  }
  if (!args.error().empty()) return usage(args.error());
  if (f->file.empty()) return usage("no model file given");
  if (f->prompt == 0 && f->gen == 0) return usage("nothing to measure (-p 0 and -n 0)");
  if (f->threads.empty())
    f->threads = {static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
  if (f->budgets.empty()) f->budgets = {MemBudget{}};
  return -1;
}

// What is measured and its result.
struct TestResult {
  int threads = 0;
  int64_t budget = -1;     // bytes in force; -1 = none
  int budget_layers = -1;  // the budget as given in layers, or -1
  std::string kernels;
  std::string test;  // "pp512", "tg128"
  long long n_prompt = 0, n_gen = 0;
  // Weight bytes a token's matmuls read: every decoded layer (as held:
  // nibbles or int8) and the held embedding, head and norms (the embedding
  // counted in full: exact when the head is tied to it, one row too many
  // otherwise).
  uint64_t token_bytes = 0;
  std::vector<double> samples;  // tokens per second, one per repetition
  // Process CPU seconds (all threads) per token over the repetitions: the
  // work a token costs, steadier than t/s on a machine shared with others.
  double cpu_per_token = 0;
  double Mean() const {
    double s = 0;
    for (double v : samples) s += v;
    return samples.empty() ? 0 : s / samples.size();
  }
  double Stddev() const {  // sample deviation, as llama-bench's
    if (samples.size() < 2) return 0;
    const double m = Mean();
    double s = 0;
    for (double v : samples) s += (v - m) * (v - m);
    return std::sqrt(s / (samples.size() - 1));
  }
};

// The synthetic tokens: BOS (or 1), then ids cycling through 1..vocab-1.
std::vector<int32_t> SyntheticTokens(const Reader& reader, size_t n) {
  const int64_t vocab = reader.model().hparams.vocab_size;
  const int32_t bos = reader.model().tokenizer.bos_id;
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) {
    t[i] = static_cast<int32_t>(vocab > 1 ? 1 + static_cast<int64_t>(i) % (vocab - 1) : 0);
  }
  if (n > 0 && bos >= 0 && bos < vocab) t[0] = bos;
  return t;
}

// Seconds for one repetition of a test: the pp test is one Forward call of
// `prompt` tokens from position 0, the tg test `gen` calls of one token each.
Result<double> TimeOnce(rt::Model* model, const std::vector<int32_t>& tokens, bool prompt,
                        std::vector<float>* logits) {
  const auto start = std::chrono::steady_clock::now();
  if (prompt) {
    TQF_RETURN_IF_ERROR(model->Forward(tokens.data(), tokens.size(), 0, false, logits));
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      TQF_RETURN_IF_ERROR(model->Forward(&tokens[i], 1, i, false, logits));
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double CpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Warm-up, then `reps` timed repetitions into r->samples.
Status RunTest(rt::Model* model, const Reader& reader, long long reps, TestResult* r) {
  const bool prompt = r->n_prompt > 0;
  const std::vector<int32_t> tokens =
      SyntheticTokens(reader, static_cast<size_t>(prompt ? r->n_prompt : r->n_gen));
  std::vector<float> logits;
  TQF_RETURN_IF_ERROR(TimeOnce(model, tokens, prompt, &logits).status());
  const double cpu_start = CpuSeconds();
  for (long long i = 0; i < reps; ++i) {
    TQF_ASSIGN_OR_RETURN(double seconds, TimeOnce(model, tokens, prompt, &logits));
    r->samples.push_back(seconds > 0 ? tokens.size() / seconds : 0.0);
  }
  r->cpu_per_token = (CpuSeconds() - cpu_start) / (static_cast<double>(tokens.size()) * reps);
  return Status::OK();
}

// What the table's model columns show, measured once.
struct ModelSummary {
  std::string file;
  uint64_t file_bytes = 0, params = 0;
  double bits_per_weight = 0;
};

ModelSummary Summarize(const std::string& path, const Reader& reader) {
  ModelSummary s;
  s.file = path;
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) s.file_bytes = static_cast<uint64_t>(st.st_size);
  for (const TensorInfo& t : reader.tensors()) s.params += t.num_elements();
  s.bits_per_weight = MeasureWeightBits(reader).bits_per_weight();
  return s;
}

std::string BudgetText(int64_t b, int layers) {
  if (b < 0) return "none";
  if (layers < 0) return HumanBytes(static_cast<uint64_t>(b));
  return std::to_string(layers) + (layers == 1 ? " layer" : " layers");
}

std::string HumanCount(uint64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  }
  return buf;
}

void PrintTableHeader() {
  std::printf(
      "| model | size | params | bits/weight | threads | budget | kernels | test | t/s |\n"
      "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n");
}

void PrintTableRow(const ModelSummary& m, const TestResult& r) {
  std::printf("| %s | %s | %s | %.3f | %d | %s | %s | %s | %.2f ± %.2f |\n",
              TerminalSafe(m.file).c_str(), HumanBytes(m.file_bytes).c_str(),
              HumanCount(m.params).c_str(), m.bits_per_weight, r.threads,
              BudgetText(r.budget, r.budget_layers).c_str(), r.kernels.c_str(), r.test.c_str(),
              r.Mean(), r.Stddev());
  std::fflush(stdout);
}

uint64_t PeakRssBytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // Linux: KiB
}

// How OpenMP threads wait between regions in this run (main.cc chooses
// unless the user did): speeds differ by ~1.3x between the two.
std::string EnvOr(const char* name, const char* absent) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : absent;
}

std::string JsonStringOrNull(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? "\"" + JsonEscape(v) + "\"" : "null";
}

void PrintJson(const ModelSummary& m, const std::vector<TestResult>& results) {
  std::printf(
      "{\n  \"model\": \"%s\",\n  \"size_bytes\": %llu,\n  \"params\": %llu,\n"
      "  \"bits_per_weight\": %s,\n  \"peak_rss_bytes\": %llu,\n"
      "  \"omp_wait_policy\": %s,\n  \"gomp_spincount\": %s,\n  \"results\": [",
      JsonEscape(m.file).c_str(), static_cast<unsigned long long>(m.file_bytes),
      static_cast<unsigned long long>(m.params), JsonNumber(m.bits_per_weight).c_str(),
      static_cast<unsigned long long>(PeakRssBytes()),
      JsonStringOrNull("OMP_WAIT_POLICY").c_str(), JsonStringOrNull("GOMP_SPINCOUNT").c_str());
  for (size_t i = 0; i < results.size(); ++i) {
    const TestResult& r = results[i];
    std::string samples;
    for (double v : r.samples) samples += (samples.empty() ? "" : ", ") + JsonNumber(v);
    std::printf(
        "%s\n    {\"threads\": %d, \"mem_budget\": %s, \"mem_budget_layers\": %s, \"kernels\": "
        "\"%s\", \"test\": \"%s\", "
        "\"n_prompt\": %lld, \"n_gen\": %lld, \"weight_bytes_per_token\": %llu, \"avg_ts\": %s, "
        "\"stddev_ts\": %s, \"cpu_seconds_per_token\": %s, "
        "\"samples_ts\": [%s]}",
        i ? "," : "", r.threads, r.budget < 0 ? "null" : std::to_string(r.budget).c_str(),
        r.budget_layers < 0 ? "null" : std::to_string(r.budget_layers).c_str(),
        JsonEscape(r.kernels).c_str(), r.test.c_str(), r.n_prompt, r.n_gen,
        static_cast<unsigned long long>(r.token_bytes), JsonNumber(r.Mean()).c_str(),
        JsonNumber(r.Stddev()).c_str(), JsonNumber(r.cpu_per_token).c_str(), samples.c_str());
  }
  std::printf("\n  ]\n}\n");
}

// Runs the pp and tg tests on one (threads, budget) model; appends results
// (and prints their table rows unless --json).
Status BenchConfig(const BenchFlags& f, std::shared_ptr<const Reader> reader,
                   const ModelSummary& summary, int threads, const MemBudget& budget,
                   std::vector<TestResult>* results) {
  rt::ModelOptions mo;
  mo.mem_budget = budget.bytes;
  mo.mem_budget_layers = budget.layers;
  mo.threads = threads;
  mo.ctx_size = static_cast<uint32_t>(std::max<long long>({f.prompt, f.gen, 1}));
  mo.max_batch = static_cast<size_t>(std::max<long long>(f.prompt, 1));
  TQF_ASSIGN_OR_RETURN(std::unique_ptr<rt::Model> model, rt::Model::Create(reader, mo));
  for (const bool prompt : {true, false}) {
    const long long n = prompt ? f.prompt : f.gen;
    if (n == 0) continue;
    TestResult r;
    r.threads = model->threads();
    r.budget = model->mem_budget();
    r.budget_layers = budget.layers;
    r.kernels = rt::KernelPathName(model->ops().path);
    r.test = (prompt ? "pp" : "tg") + std::to_string(n);
    r.token_bytes = model->hparams().n_layers * model->layer_bytes() + model->resident_bytes();
    (prompt ? r.n_prompt : r.n_gen) = n;
    TQF_RETURN_IF_ERROR(RunTest(model.get(), *reader, f.reps, &r));
    // Held layers (no budget) are all in memory now, in the form they are
    // held (nibble-held 4-bit tensors take about half their int8 bytes).
    const uint64_t held = model->provider_stats().held_bytes;
    if (budget.none() && held > 0) r.token_bytes = held + model->resident_bytes();
    if (!f.json) PrintTableRow(summary, r);
    results->push_back(std::move(r));
  }
  return Status::OK();
}

}  // namespace

int CmdBench(int argc, char** argv) {
  BenchFlags f;
  if (int code = ParseFlags(argc, argv, &f); code >= 0) return code;
  Result<std::unique_ptr<Reader>> opened = Reader::Open(f.file);
  if (!opened.ok()) {
    const bool not_tqf = opened.status().IsCorruption() || opened.status().IsNotSupported();
    return Fail("bench", f.file + ": " + opened.status().ToString() +
                             (not_tqf ? " (FILE must be a .tqf; make one with `tqf pack`)" : ""));
  }
  std::shared_ptr<const Reader> reader(std::move(opened).value());
  const uint64_t model_ctx = reader->model().hparams.context_length;
  if (model_ctx > 0) {  // a default never exceeds a small model's context
    if (!f.prompt_given) f.prompt = std::min<long long>(f.prompt, model_ctx);
    if (!f.gen_given) f.gen = std::min<long long>(f.gen, model_ctx);
  }
  const long long longest = std::max(f.prompt, f.gen);
  if (model_ctx > 0 && static_cast<uint64_t>(longest) > model_ctx) {
    return Usage("bench",
                 "-p/-n " + std::to_string(longest) + " exceeds the model's context of " +
                     std::to_string(model_ctx) + " tokens",
                 kUsage);
  }
  const ModelSummary summary = Summarize(f.file, *reader);
  std::vector<TestResult> results;
  if (!f.json) PrintTableHeader();
  for (const int threads : f.threads) {
    for (const MemBudget& budget : f.budgets) {
      Status s = BenchConfig(f, reader, summary, threads, budget, &results);
      if (!s.ok()) return Fail("bench", f.file + ": " + s.ToString());
    }
  }
  if (f.json) {
    PrintJson(summary, results);
  } else {
    std::printf("\nweights read per token %s; peak RSS %s; OpenMP waits %s (spin count %s)\n",
                HumanBytes(results.empty() ? 0 : results.back().token_bytes).c_str(),
                HumanBytes(PeakRssBytes()).c_str(), EnvOr("OMP_WAIT_POLICY", "default").c_str(),
                EnvOr("GOMP_SPINCOUNT", "default").c_str());
  }
  return kExitOk;
}

}  // namespace tqf::tools
