// tqf run FILE.tqf -p PROMPT [options]: generate text with the bundled CPU
// runtime, decoding layers on demand within --mem-budget.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli.h"
#include "commands.h"
#include "tqf/reader.h"
#include "tqf/rt/generate.h"
#include "tqf/rt/mem_stats.h"
#include "tqf/rt/model.h"
#include "tqf/rt/tokenizer.h"
#include "tqf/service/shared_model.h"

namespace tqf::tools {
namespace {

const char kUsage[] =
    "usage: tqf run FILE.tqf -p PROMPT [-n TOKENS] [--temp T] [--top-p P] [--seed S]\n"
    "               [--mem-budget B] [--threads N] [--ctx-size N] [--no-prefetch] [--stats]\n"
    "       tqf run --attach NAME [FILE.tqf] -p PROMPT [options]\n"
    "  Streams the prompt's continuation to stdout.\n"
    "  -n TOKENS          new tokens to generate (default 128; stops early at EOS)\n"
    "  --temp T           sampling temperature (default 0.8; 0 = greedy)\n"
    "  --top-p P          nucleus sampling mass (default 0.9; 1 = off)\n"
    "  --seed S           sampling seed (default: from the clock, shown by --stats)\n"
    "  --mem-budget B     decoded layers to hold: bytes (suffixes K, M, G) or a layer\n"
    "                     count written Nlayers (2layers: twice the largest layer's\n"
    "                     decoded bytes). Absent:\n"
    "                     decode each layer once and keep it. 0: decode every layer\n"
    "                     each time it is used, one at a time, nothing prefetched.\n"
    "                     Otherwise cached + in-use + prefetched layers stay within B\n"
    "                     (the layer in use is always allowed). Embedding, output head\n"
    "                     and norms are held outside the budget.\n"
    "  --threads N        compute threads (default: all cores, minus one for the prefetch\n"
    "                     thread when --mem-budget is above 0). Between parallel\n"
    "                     regions OpenMP threads spin ~1 ms when tqf starts on free\n"
    "                     cores, else wait passively; OMP_WAIT_POLICY overrides.\n"
    "  --ctx-size N       KV cache positions (default: prompt + TOKENS; at most the\n"
    "                     model's context length)\n"
    "  --truncate-prompt  keep the last tokens of a prompt longer than the model's\n"
    "                     context (with a warning) instead of refusing it\n"
    "  --no-prefetch      do not decode the next layer in the background\n"
    "  --attach NAME      use the decoded layers (and embedding, output head) of the\n"
    "                     storage service NAME (`tqf serve`) instead of decoding them;\n"
    "                     FILE defaults to the service's model and must be that file\n"
    "  --stats            print speed, decode/compute time, cache and memory to stderr\n";

struct RunFlags {
  std::string file, prompt;
  bool has_prompt = false;
  long long tokens = 128, threads = 0, ctx = 0;
  double temp = 0.8, top_p = 0.9;
  unsigned long long seed = 0;
  bool has_seed = false;
  MemBudget budget;  // none unless --mem-budget
  bool prefetch = true, stats = false, truncate_prompt = false;
  std::string attach;  // --attach NAME
};

// Returns -1 when parsing succeeded, else the exit code.
int ParseFlags(int argc, char** argv, RunFlags* f) {
  Args args(argc, argv);
  std::string v;
  auto usage = [](const std::string& msg) { return Usage("run", msg, kUsage); };
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("-p", &v) || args.Value("--prompt", &v)) {
      f->prompt = v;
      f->has_prompt = true;
    } else if (args.Value("-n", &v) || args.Value("--tokens", &v)) {
      if (!ParseInt(v, 0, 1 << 24, &f->tokens)) return usage("bad -n '" + v + "'");
    } else if (args.Value("--temp", &v)) {
      if (!ParseDouble(v, &f->temp) || f->temp < 0) return usage("bad --temp '" + v + "'");
    } else if (args.Value("--top-p", &v)) {
      if (!ParseDouble(v, &f->top_p) || !(f->top_p > 0) || f->top_p > 1) {
        return usage("bad --top-p '" + v + "' (want 0 < P <= 1)");
      }
    } else if (args.Value("--seed", &v)) {
      long long s = 0;
      if (!ParseInt(v, 0, INT64_MAX, &s)) return usage("bad --seed '" + v + "'");
      f->seed = static_cast<unsigned long long>(s);
      f->has_seed = true;
    } else if (args.Value("--mem-budget", &v)) {
      if (!ParseMemBudget(v, &f->budget)) {
        return usage("bad --mem-budget '" + v + "' (" + kMemBudgetForms + ")");
      }
    } else if (args.Value("--threads", &v) || args.Value("-t", &v)) {
      if (!ParseInt(v, 0, 4096, &f->threads)) return usage("bad --threads '" + v + "'");
    } else if (args.Value("--ctx-size", &v)) {
      if (!ParseInt(v, 1, 1 << 24, &f->ctx)) return usage("bad --ctx-size '" + v + "'");
    } else if (args.Value("--attach", &v)) {
      f->attach = v;
    } else if (args.Is("--no-prefetch")) {
      f->prefetch = false;
    } else if (args.Is("--truncate-prompt")) {
      f->truncate_prompt = true;
    } else if (args.Is("--stats")) {
      f->stats = true;
    } else {
      if (!args.error().empty()) return usage(args.error());
      std::string a = args.Next();
      if (a.size() > 1 && a[0] == '-') return usage("unknown option '" + a + "'");
      if (!f->file.empty()) return usage("more than one file given");
      f->file = a;
    }
  }
  if (!args.error().empty()) return usage(args.error());
  if (f->file.empty() && f->attach.empty()) return usage("no model file given");
  if (!f->attach.empty() && !f->budget.none()) {
    return usage(
        "--mem-budget does not apply with --attach (the service's --cache bounds its layers)");
  }
  if (!f->has_prompt) return usage("no prompt given (-p PROMPT)");
  return -1;
}

// "116 MiB", or "2 layers (232 MiB)" for a layer count.
std::string BudgetText(const MemBudget& b, int64_t bytes) {
  const std::string human = HumanBytes(static_cast<uint64_t>(bytes));
  if (b.layers < 0) return human;
  return std::to_string(b.layers) + (b.layers == 1 ? " layer (" : " layers (") + human + ")";
}

void PrintStats(const RunFlags& f, const rt::Model& model, const rt::GenerateStats& g,
                uint64_t seed) {
  const rt::LayerProviderStats p = model.provider_stats();
  const rt::ForwardStats& fs = model.forward_stats();
  const rt::ProcMemory mem = rt::ReadProcMemory();
  auto rate = [](double n, double s) { return s > 0 ? n / s : 0.0; };
  FILE* o = stderr;
  std::fprintf(o, "\n--- tqf run stats ---\n");
  std::fprintf(o, "kernels        %s, %d threads; sampling temp %.3g top-p %.3g seed %llu\n",
               rt::KernelPathName(model.ops().path), model.threads(), f.temp, f.top_p,
               static_cast<unsigned long long>(seed));
  std::fprintf(o, "prompt         %zu tokens in %.3f s (%.2f tok/s)\n", g.prompt_tokens,
               g.prompt_seconds, rate(g.prompt_tokens, g.prompt_seconds));
  std::fprintf(o, "generation     %zu tokens; %zu forward passes in %.3f s (%.2f tok/s)\n",
               g.generated_tokens, g.generate_passes, g.generate_seconds,
               rate(g.generate_passes, g.generate_seconds));
  const double compute = fs.total_seconds - fs.wait_seconds;
  std::fprintf(
      o, "time           forward %.3f s = compute %.3f s + waiting for layers %.3f s (%.1f%%)\n",
      fs.total_seconds, compute, fs.wait_seconds,
      fs.total_seconds > 0 ? 100.0 * fs.wait_seconds / fs.total_seconds : 0.0);
  std::fprintf(o,
               "decode         %llu layer decodes, %s in %.3f s (%.1f%% of forward time; "
               "background decodes overlap compute); %llu chunks decoded by waiting acquires\n",
               static_cast<unsigned long long>(p.decodes), HumanBytes(p.decoded_bytes).c_str(),
               p.decode_seconds,
               fs.total_seconds > 0 ? 100.0 * p.decode_seconds / fs.total_seconds : 0.0,
               static_cast<unsigned long long>(p.helped_chunks));
  std::fprintf(
      o,
      "layer cache    budget %s; layer %s; %llu acquires: %llu hits, %llu prefetched, "
      "%llu misses; %llu prefetches (%llu skipped for budget), %llu evictions\n",
      !f.attach.empty()        ? ("service '" + f.attach + "'").c_str()
      : model.mem_budget() < 0 ? "none (keep all)"
                               : BudgetText(f.budget, model.mem_budget()).c_str(),
      HumanBytes(model.layer_bytes()).c_str(), static_cast<unsigned long long>(p.acquires),
      static_cast<unsigned long long>(p.hits), static_cast<unsigned long long>(p.prefetch_hits),
      static_cast<unsigned long long>(p.misses), static_cast<unsigned long long>(p.prefetches),
      static_cast<unsigned long long>(p.prefetch_skipped),
      static_cast<unsigned long long>(p.evictions));
  std::fprintf(o,
               "decoded held   layers %s now, %s peak; embedding+output+norms %s (always held, "
               "outside the budget)\n",
               HumanBytes(p.held_bytes).c_str(), HumanBytes(p.peak_held_bytes).c_str(),
               HumanBytes(model.resident_bytes()).c_str());
  std::fprintf(o, "buffers        KV cache %s (%u positions, fp32), activations %s\n",
               HumanBytes(model.kv_cache_bytes()).c_str(), model.ctx_size(),
               HumanBytes(model.activation_bytes()).c_str());
  std::fprintf(o, "memory         peak RSS (VmHWM) %s; RSS now %s (anonymous %s, file-backed %s)\n",
               HumanBytes(mem.peak_rss).c_str(), HumanBytes(mem.rss).c_str(),
               HumanBytes(mem.rss_anon).c_str(), HumanBytes(mem.rss_file).c_str());
}

// A prompt longer than the model's context is refused with both numbers
// (exit 2), or, with --truncate-prompt, cut from the left to leave room for
// the tokens asked (keeping a leading BOS), with a warning. Returns the exit
// code to end with, or -1 to go on.
int FitPrompt(const RunFlags& f, uint64_t model_ctx, int32_t bos, std::vector<int32_t>* prompt) {
  if (model_ctx == 0 || prompt->size() < model_ctx) return -1;
  if (!f.truncate_prompt) {
    return Fail("run",
                "the prompt is " + std::to_string(prompt->size()) +
                    " tokens; the model's context is " + std::to_string(model_ctx) +
                    " (--truncate-prompt keeps the prompt's last tokens)",
                kExitUsage);
  }
  const uint64_t room = std::min<uint64_t>(static_cast<uint64_t>(f.tokens), model_ctx / 2);
  const size_t keep = static_cast<size_t>(std::max<uint64_t>(model_ctx - room, 2));
  const bool has_bos = bos >= 0 && (*prompt)[0] == bos;
  std::vector<int32_t> cut;
  if (has_bos) cut.push_back(bos);
  cut.insert(cut.end(), prompt->end() - static_cast<long>(keep - cut.size()), prompt->end());
  std::fprintf(stderr,
               "tqf run: warning: the prompt's %zu tokens were cut to its last %zu (%s"
               "the model's context is %llu)\n",
               prompt->size(), cut.size(), has_bos ? "keeping BOS; " : "",
               static_cast<unsigned long long>(model_ctx));
  *prompt = std::move(cut);
  return -1;
}

}  // namespace

int CmdRun(int argc, char** argv) {
  RunFlags f;
  if (int code = ParseFlags(argc, argv, &f); code >= 0) return code;

  std::shared_ptr<serve::SharedModel> shared;
  if (!f.attach.empty()) {
    Result<std::shared_ptr<serve::SharedModel>> attached = serve::SharedModel::Attach(f.attach);
    if (!attached.ok())
      return Fail("run", "--attach " + f.attach + ": " + attached.status().ToString());
    shared = *attached;
    if (f.file.empty()) f.file = shared->model_path();
  }
  Result<std::unique_ptr<Reader>> opened = Reader::Open(f.file);
  if (!opened.ok()) {
    const bool not_tqf = opened.status().IsCorruption() || opened.status().IsNotSupported();
    return Fail("run", f.file + ": " + opened.status().ToString() +
                           (not_tqf ? " (FILE must be a .tqf; make one with `tqf pack`)" : ""));
  }
  std::shared_ptr<const Reader> reader(std::move(opened).value());
  Result<std::unique_ptr<rt::Tokenizer>> tok = rt::Tokenizer::Create(reader->model().tokenizer);
  if (!tok.ok()) return Fail("run", f.file + ": tokenizer: " + tok.status().ToString());
  std::vector<int32_t> prompt = (*tok)->Encode(f.prompt, (*tok)->add_bos_default());
  if (prompt.empty()) return Usage("run", "the prompt encodes to no tokens", kUsage);
  const uint64_t model_ctx = reader->model().hparams.context_length;
  if (int code = FitPrompt(f, model_ctx, (*tok)->bos_id(), &prompt); code >= 0) return code;

  rt::ModelOptions mo;
  mo.mem_budget = f.budget.bytes;
  mo.mem_budget_layers = f.budget.layers;
  mo.threads = static_cast<int>(f.threads);
  mo.prefetch = f.prefetch;
  mo.layer_source = shared;  // nullptr unless --attach
  uint64_t ctx =
      f.ctx > 0 ? static_cast<uint64_t>(f.ctx) : prompt.size() + static_cast<uint64_t>(f.tokens);
  if (f.ctx == 0 && model_ctx > 0) ctx = std::min(ctx, model_ctx);
  mo.ctx_size = static_cast<uint32_t>(std::min<uint64_t>(ctx, 1u << 24));
  Result<std::unique_ptr<rt::Model>> model = rt::Model::Create(reader, mo);
  if (!model.ok()) return Fail("run", f.file + ": " + model.status().ToString());

  const uint64_t seed =
      f.has_seed
          ? f.seed
          : static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  rt::GenerateOptions go;
  go.max_tokens = static_cast<size_t>(f.tokens);
  go.sampler.temperature = static_cast<float>(f.temp);
  go.sampler.top_p = static_cast<float>(f.top_p);
  go.sampler.seed = seed;
  std::fwrite(f.prompt.data(), 1, f.prompt.size(), stdout);
  std::fflush(stdout);
  rt::GenerateStats gs;
  Result<std::vector<int32_t>> out = rt::Generate(
      model->get(), **tok, prompt, go,
      [](const std::string& piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      },
      &gs);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!out.ok()) return Fail("run", f.file + ": " + out.status().ToString());
  if (f.stats) PrintStats(f, **model, gs, seed);
  return kExitOk;
}

}  // namespace tqf::tools
