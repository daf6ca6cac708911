// tqf eval FILE [tasks] / tqf eval --compare SOURCE [FILE...] [tasks]:
// perplexity and multiple-choice accuracy with per-question latency, for
// one model or side by side with the agreement of each variant's choices
// with the source's (the paper's table in one run). Scoring lives in
// runtime/eval_*.h; this file parses flags, drives the runs and prints.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "tqf/eval/suite.h"
#include "tqf/service/shared_model.h"

namespace tqf::tools {
namespace {

const char kUsage[] =
    "usage: tqf eval FILE [tasks] [options]\n"
    "       tqf eval --compare SOURCE [FILE...] [tasks] [options]\n"
    "  FILE/SOURCE: a .tqf, or a GGUF / safetensors / llama2.c model, evaluated at its\n"
    "  source precision (packed unquantized into a temporary .tqf, removed afterwards).\n"
    "tasks (each may be repeated):\n"
    "  --ppl TEXT         perplexity over a text file (CRLF or LF)\n"
    "  --arc JSONL        ARC questions (prompt \"Question: ..\\nAnswer:\")\n"
    "  --hellaswag TXT    HellaSwag in llama.cpp's 6-line format\n"
    "  --mmlu DIR         MMLU: DIR/dev and DIR/test CSVs, 5-shot\n"
    "options:\n"
    "  --limit N          first N questions of each multiple-choice task (MMLU\n"
    "                     interleaves subjects, so N samples all of them)\n"
    "  --ctx N            tokens per sequence (default: the model's context, at most\n"
    "                     4096); longer prompts are cut from the left\n"
    "  --stride N         perplexity window stride (default ctx/2)\n"
    "  --ppl-tokens N     perplexity over the text's first N tokens only\n"
    "  --mem-budget B     decoded layers to hold: bytes or Nlayers (see `tqf run`)\n"
    "  --attach NAME      use the decoded layers of the storage service NAME (`tqf\n"
    "                     serve`); FILE defaults to the service's model\n"
    "  --threads N        compute threads (default: all cores)\n"
    "  --json             machine-readable results on stdout\n"
    "Multiple choice: each option scored by the log-likelihood of its tokens given\n"
    "the prompt; acc picks the highest sum, acc_norm the highest sum per byte of\n"
    "the option (lm-eval-harness's acc_norm). Ctrl-C prints what was measured.\n";

constexpr int kExitInterrupted = 130;
std::atomic<bool> g_cancel{false};

extern "C" void OnSigint(int) {
  g_cancel.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct Flags {
  std::vector<std::string> files;  // files[0] is the source with --compare
  bool compare = false;
  std::vector<std::pair<eval::TaskKind, std::string>> tasks;
  long long limit = 0, ctx = 0, stride = 0, ppl_tokens = 0, threads = 0;
  MemBudget budget;  // none unless --mem-budget
  bool json = false;
  std::string attach;  // --attach NAME
};

int ParseFlags(int argc, char** argv, Flags* f) {
  Args args(argc, argv);
  std::string v;
  auto usage = [](const std::string& msg) { return Usage("eval", msg, kUsage); };
  auto count = [&](const char* flag, long long min, long long* out) {
    if (!ParseInt(v, min, 1LL << 40, out))
      return usage(std::string("bad ") + flag + " '" + v + "'");
    return -1;
  };
  while (!args.Done()) {
    int code = -1;
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("--ppl", &v))
      f->tasks.emplace_back(eval::TaskKind::kPerplexity, v);
    else if (args.Value("--arc", &v))
      f->tasks.emplace_back(eval::TaskKind::kArc, v);
    else if (args.Value("--hellaswag", &v))
      f->tasks.emplace_back(eval::TaskKind::kHellaswag, v);
    else if (args.Value("--mmlu", &v))
      f->tasks.emplace_back(eval::TaskKind::kMmlu, v);
    else if (args.Value("--compare", &v)) {
      if (f->compare) return usage("--compare given twice");
      f->compare = true;
      f->files.insert(f->files.begin(), v);
    } else if (args.Value("--limit", &v))
      code = count("--limit", 1, &f->limit);
    else if (args.Value("--ctx", &v))
      code = count("--ctx", 3, &f->ctx);
    else if (args.Value("--stride", &v))
      code = count("--stride", 1, &f->stride);
    else if (args.Value("--ppl-tokens", &v))
      code = count("--ppl-tokens", 2, &f->ppl_tokens);
    else if (args.Value("--threads", &v))
      code = count("--threads", 0, &f->threads);
    else if (args.Value("--mem-budget", &v)) {
      if (!ParseMemBudget(v, &f->budget))
        return usage("bad --mem-budget '" + v + "' (" + kMemBudgetForms + ")");
    } else if (args.Value("--attach", &v)) {
      f->attach = v;
    } else if (args.Is("--json")) {
      f->json = true;
    } else {
      if (!args.error().empty()) return usage(args.error());
      std::string a = args.Next();
      if (a.size() > 1 && a[0] == '-') return usage("unknown option '" + a + "'");
      f->files.push_back(a);
    }
    if (code >= 0) return code;
  }
  if (!args.error().empty()) return usage(args.error());
  if (!f->attach.empty() && (f->compare || !f->budget.none())) {
    return usage("--attach serves one model: no --compare, no --mem-budget");
  }
  if (f->files.empty() && f->attach.empty()) return usage("no model file given");
  if (!f->compare && f->files.size() > 1)
    return usage("more than one file given (use --compare SOURCE FILE...)");
  if (f->tasks.empty()) return usage("no task given (--ppl, --arc, --hellaswag or --mmlu)");
  return -1;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "ARC-Easy-validation" -> "ARC-Easy", "wikitext-2-raw-test" -> "wikitext-2".
std::string ShortName(const std::string& task) {
  size_t cut = task.size();
  for (const char* s : {"-validation", "-test", "-valid", "-raw", "_val"})
    cut = std::min(cut, task.find(s));
  return cut > 0 ? task.substr(0, cut) : task;
}

struct ModelRun {
  std::string path, format, describe;
  uint64_t file_bytes = 0;
  double bits_per_weight = 0;  // of the weight matrices
  uint32_t ctx = 0;
  std::vector<eval::TaskResult> results;  // parallel to the tasks run so far
};

// Agreement of run `m`'s task `t` with the source's (runs[0]); < 0 if the
// source has no result for it (interrupted).
double AgreeWithSource(const std::vector<ModelRun>& runs, size_t t, const eval::TaskResult& r,
                       bool norm) {
  if (t >= runs[0].results.size()) return -1;
  return eval::Agreement(runs[0].results[t], r, norm);
}

std::string Fmt(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c);
  return buf;
}

void PrintRow(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    std::string c = cells[i];
    if (c.size() < widths[i]) c.insert(i == 0 ? c.size() : 0, widths[i] - c.size(), ' ');
    line += (i ? "  " : "") + c;
  }
  std::printf("%s\n", line.c_str());
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    widths.resize(std::max(widths.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  for (const auto& r : rows) PrintRow(r, widths);
}

void PrintModels(const std::vector<ModelRun>& runs) {
  std::printf("models:\n");
  int width = 0;
  for (const ModelRun& m : runs) width = std::max(width, static_cast<int>(BaseName(m.path).size()));
  for (const ModelRun& m : runs) {
    std::printf("  %-*s  %s, %s on disk, context %u\n", width, BaseName(m.path).c_str(),
                m.describe.c_str(), HumanBytes(m.file_bytes).c_str(), m.ctx);
  }
}

// Model `m`'s summary row: each task's figure ("-" where it was not run) and
// the mean latency over its multiple-choice questions.
std::vector<std::string> SummaryRow(const std::vector<eval::EvalTask>& tasks,
                                    const std::vector<ModelRun>& runs, const ModelRun& m,
                                    bool compare) {
  std::vector<std::string> row = {BaseName(m.path), HumanBytes(m.file_bytes),
                                  Fmt("%.3f", m.bits_per_weight)};
  double lat_sum = 0;
  size_t lat_n = 0;
  for (size_t t = 0; t < tasks.size(); ++t) {
    const bool ppl = tasks[t].kind == eval::TaskKind::kPerplexity;
    if (t >= m.results.size()) {
      row.push_back("-");
      if (compare && !ppl) row.push_back("-");
      continue;
    }
    const eval::TaskResult& r = m.results[t];
    if (ppl) {
      row.push_back(Fmt("%.4f", r.ppl.Perplexity()));
      continue;
    }
    const eval::McSummary s = eval::Summarize(r);
    row.push_back(Fmt("%.3f", s.acc));
    if (compare) row.push_back(Fmt("%.3f", AgreeWithSource(runs, t, r, false)));
    lat_sum += s.latency_mean * s.n;
    lat_n += s.n;
  }
  row.push_back(lat_n ? Fmt("%.2f", 1e3 * lat_sum / lat_n) : "-");
  return row;
}

// One row per model.
void PrintSummary(const std::vector<eval::EvalTask>& tasks, const std::vector<ModelRun>& runs,
                  bool compare) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"model", "size", "bits/w"};
  for (const eval::EvalTask& t : tasks) {
    head.push_back(t.kind == eval::TaskKind::kPerplexity ? "ppl " + ShortName(t.name)
                                                         : ShortName(t.name) + " acc");
    if (compare && t.kind != eval::TaskKind::kPerplexity) head.push_back("agree");
  }
  head.push_back("ms/question");
  rows.push_back(head);
  for (const ModelRun& m : runs) rows.push_back(SummaryRow(tasks, runs, m, compare));
  std::printf("\n");
  PrintTable(rows);
}

// Details of perplexity task `t`, after its title line.
void PrintPerplexityDetails(size_t t, const std::vector<ModelRun>& runs) {
  std::printf(": perplexity, sliding window, BOS first when the model asks\n");
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"model", "tokens", "windows", "ctx", "stride", "nll/token", "ppl", "seconds"});
  for (const ModelRun& m : runs) {
    if (t >= m.results.size()) continue;
    const eval::PerplexityResult& p = m.results[t].ppl;
    std::string tokens = std::to_string(p.scored) + "/" + std::to_string(p.text_tokens);
    rows.push_back({BaseName(m.path), tokens, std::to_string(p.windows), std::to_string(p.ctx),
                    std::to_string(p.stride), Fmt("%.6f", p.MeanNll()), Fmt("%.4f", p.Perplexity()),
                    Fmt("%.2f", p.seconds)});
  }
  PrintTable(rows);
}

// Details of multiple-choice task `t`, after its title line.
void PrintMcDetails(const eval::EvalTask& task, size_t t, const std::vector<ModelRun>& runs,
                    bool compare, bool limited) {
  std::printf(": %zu of %zu questions%s\n", task.questions.size(), task.total_questions,
              limited && task.questions.size() < task.total_questions ? " (--limit)" : "");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> h = {"model", "n", "acc", "acc_norm"};
  if (compare) h.insert(h.end(), {"agree", "agree_norm"});
  h.insert(h.end(), {"ms mean", "ms p95", "tok/q", "truncated"});
  rows.push_back(h);
  size_t cut = 0;
  for (const ModelRun& m : runs) {
    if (t >= m.results.size()) continue;
    const eval::McSummary s = eval::Summarize(m.results[t]);
    std::vector<std::string> row = {BaseName(m.path), std::to_string(s.n),
                                    Fmt("%.3f +- %.3f", s.acc, s.acc_se),
                                    Fmt("%.3f +- %.3f", s.acc_norm, s.acc_norm_se)};
    if (compare) {
      row.push_back(Fmt("%.3f", AgreeWithSource(runs, t, m.results[t], false)));
      row.push_back(Fmt("%.3f", AgreeWithSource(runs, t, m.results[t], true)));
    }
    row.insert(row.end(), {Fmt("%.2f", 1e3 * s.latency_mean), Fmt("%.2f", 1e3 * s.latency_p95),
                           Fmt("%.0f", s.tokens_per_question), std::to_string(s.truncated)});
    rows.push_back(row);
    cut = std::max(cut, s.truncated);
  }
  PrintTable(rows);
  if (cut > 0) {
    std::printf(
        "note: %zu question(s) longer than the context were cut from the left "
        "(BOS and the options kept)\n",
        cut);
  }
}

void PrintText(const std::vector<eval::EvalTask>& tasks, const std::vector<ModelRun>& runs,
               bool compare, const Flags& f) {
  PrintModels(runs);
  PrintSummary(tasks, runs, compare);
  // Details: one block per task.
  for (size_t t = 0; t < tasks.size(); ++t) {
    std::printf("\n%s (%s)", tasks[t].name.c_str(), tasks[t].path.c_str());
    if (tasks[t].kind == eval::TaskKind::kPerplexity) {
      PrintPerplexityDetails(t, runs);
    } else {
      PrintMcDetails(tasks[t], t, runs, compare, f.limit > 0);
    }
  }
}

void PrintJson(const std::vector<eval::EvalTask>& tasks, const std::vector<ModelRun>& runs,
               bool compare, bool interrupted) {
  std::printf("{\"interrupted\": %s, \"models\": [", interrupted ? "true" : "false");
  for (size_t i = 0; i < runs.size(); ++i) {
    const ModelRun& m = runs[i];
    std::printf(
        "%s\n  {\"path\": \"%s\", \"format\": \"%s\", \"describe\": \"%s\", \"file_bytes\": %llu, "
        "\"bits_per_weight\": %.6f, \"ctx\": %u, \"tasks\": [",
        i ? "," : "", JsonEscape(m.path).c_str(), m.format.c_str(), JsonEscape(m.describe).c_str(),
        static_cast<unsigned long long>(m.file_bytes), m.bits_per_weight, m.ctx);
    for (size_t t = 0; t < m.results.size(); ++t) {
      const eval::TaskResult& r = m.results[t];
      std::printf(
          "%s\n    {\"task\": \"%s\", \"kind\": \"%s\", \"path\": \"%s\", \"cancelled\": %s, ",
          t ? "," : "", JsonEscape(r.task).c_str(), eval::TaskKindName(r.kind),
          JsonEscape(tasks[t].path).c_str(), r.cancelled ? "true" : "false");
      if (r.kind == eval::TaskKind::kPerplexity) {
        const eval::PerplexityResult& p = r.ppl;
        std::printf(
            "\"text_tokens\": %zu, \"scored\": %zu, \"windows\": %zu, \"ctx\": %zu, \"stride\": "
            "%zu, "
            "\"bos\": %s, \"nll_sum\": %.17g, \"mean_nll\": %.17g, \"ppl\": %.17g, \"seconds\": "
            "%.6f}",
            p.text_tokens, p.scored, p.windows, p.ctx, p.stride, p.bos ? "true" : "false",
            p.nll_sum, p.MeanNll(), p.Perplexity(), p.seconds);
        continue;
      }
      const eval::McSummary s = eval::Summarize(r);
      std::printf(
          "\"n\": %zu, \"total\": %zu, \"acc\": %.6f, \"acc_se\": %.6f, \"acc_norm\": %.6f, "
          "\"acc_norm_se\": %.6f, \"latency_mean_s\": %.6f, \"latency_p95_s\": %.6f, "
          "\"tokens_per_question\": %.1f, \"truncated\": %zu, \"boundary_merges\": %zu",
          s.n, tasks[t].total_questions, s.acc, s.acc_se, s.acc_norm, s.acc_norm_se, s.latency_mean,
          s.latency_p95, s.tokens_per_question, s.truncated, s.boundary_merges);
      if (compare) {
        std::printf(", \"agree\": %.6f, \"agree_norm\": %.6f", AgreeWithSource(runs, t, r, false),
                    AgreeWithSource(runs, t, r, true));
      }
      std::printf("}");
    }
    std::printf("]}");
  }
  std::printf("\n]}\n");
}

// Returns the exit code to end with (a task that does not load), or -1 to go
// on.
int LoadTasks(const Flags& f, std::vector<eval::EvalTask>* tasks) {
  for (const auto& [kind, path] : f.tasks) {
    Result<eval::EvalTask> t = eval::LoadTask(kind, path, static_cast<size_t>(f.limit));
    if (!t.ok()) return Fail("eval", t.status());
    tasks->push_back(std::move(t).value());
  }
  return -1;
}

// Model options from the flags; with --attach, the service's layers (and
// its model when no FILE is given). Returns the exit code to end with, or
// -1 to go on.
int MakeModelOptions(Flags* f, rt::ModelOptions* mo) {
  mo->mem_budget = f->budget.bytes;
  mo->mem_budget_layers = f->budget.layers;
  mo->threads = static_cast<int>(f->threads);
  mo->ctx_size = static_cast<uint32_t>(f->ctx);
  if (!f->attach.empty()) {
    Result<std::shared_ptr<serve::SharedModel>> shared = serve::SharedModel::Attach(f->attach);
    if (!shared.ok())
      return Fail("eval", "--attach " + f->attach + ": " + shared.status().ToString());
    mo->layer_source = *shared;
    if (f->files.empty()) f->files.push_back((*shared)->model_path());
  }
  return -1;
}

// Runs every task on model `m` (opened from `path`) until done or
// interrupted, appending each result to run->results.
Status RunTasks(const Flags& f, const std::vector<eval::EvalTask>& tasks, eval::EvalModel* m,
                const std::string& path, Progress* progress, ModelRun* run) {
  for (const eval::EvalTask& task : tasks) {
    if (g_cancel.load()) break;
    eval::RunOptions ro;
    ro.ctx = static_cast<size_t>(f.ctx);
    ro.stride = static_cast<size_t>(f.stride);
    ro.ppl_tokens = static_cast<size_t>(f.ppl_tokens);
    ro.cancel = &g_cancel;
    const std::string phase = BaseName(path) + " " + ShortName(task.name);
    ro.progress = [&](size_t done, size_t total) { progress->Update(phase, done, total); };
    Result<eval::TaskResult> r = eval::RunTask(m, task, ro);
    if (!r.ok()) return r.status().WithContext(path);
    run->results.push_back(std::move(r).value());
  }
  return Status::OK();
}

// Each model in turn, until done, interrupted or failed; what was measured
// stays in *runs, so a failure or Ctrl-C still reports it.
Status RunModels(const Flags& f, const std::vector<eval::EvalTask>& tasks,
                 const rt::ModelOptions& mo, std::vector<ModelRun>* runs) {
  Status failure;
  Progress progress("eval");
  for (const std::string& path : f.files) {
    if (g_cancel.load()) break;
    Result<std::unique_ptr<eval::EvalModel>> opened = eval::OpenEvalModel(path, mo);
    if (!opened.ok()) {
      failure = opened.status();
      break;
    }
    eval::EvalModel& m = **opened;
    runs->push_back(
        {path, m.format, m.describe, m.file_bytes, m.bits_per_weight, m.model->ctx_size(), {}});
    failure = RunTasks(f, tasks, &m, path, &progress, &runs->back());
    if (!failure.ok()) break;
  }
  progress.Finish();
  return failure;
}

}  // namespace

int CmdEval(int argc, char** argv) {
  Flags f;
  if (int code = ParseFlags(argc, argv, &f); code >= 0) return code;
  std::vector<eval::EvalTask> tasks;
  if (int code = LoadTasks(f, &tasks); code >= 0) return code;
  rt::ModelOptions mo;
  if (int code = MakeModelOptions(&f, &mo); code >= 0) return code;

  g_cancel.store(false);
  auto old_handler = std::signal(SIGINT, OnSigint);
  std::vector<ModelRun> runs;
  const Status failure = RunModels(f, tasks, mo, &runs);
  std::signal(SIGINT, old_handler == SIG_ERR ? SIG_DFL : old_handler);
  const bool interrupted = g_cancel.load();
  bool measured = false;
  for (const ModelRun& m : runs) measured = measured || !m.results.empty();
  if (!failure.ok() && !measured) return Fail("eval", failure);
  if (f.json) {
    PrintJson(tasks, runs, f.compare, interrupted);
  } else {
    if (interrupted)
      std::printf("interrupted: partial results (what was measured before Ctrl-C)\n");
    PrintText(tasks, runs, f.compare, f);
  }
  std::fflush(stdout);
  if (!failure.ok()) return Fail("eval", failure);
  if (interrupted) {
    std::fprintf(stderr, "tqf eval: interrupted\n");
    return kExitInterrupted;
  }
  return kExitOk;
}

}  // namespace tqf::tools
