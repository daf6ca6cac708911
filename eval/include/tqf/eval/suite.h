// An evaluation run for `tqf eval`: open a model (a .tqf, or any importable
// source model packed unquantized into a temporary .tqf so that the
// baseline runs through the same runtime), load tasks, score them, and
// summarise (accuracy with standard error, latency, agreement).
//
// Ownership: an EvalModel owns its Model and Tokenizer. A temporary .tqf is
// unlinked as soon as it is mapped, so it never outlives the process even
// when the process is killed.
// Thread-safety: one thread drives an EvalModel.
#ifndef TQF_EVAL_SUITE_H_
#define TQF_EVAL_SUITE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tqf/eval/data.h"
#include "tqf/eval/score.h"
#include "tqf/result.h"
#include "tqf/rt/model.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::eval {

struct EvalModel {
  std::string path;         // as given
  std::string format;       // "tqf", or the source format ("gguf", ...)
  std::string describe;     // "quant channel, codec rans" / "gguf F32, packed raw"
  uint64_t file_bytes = 0;  // size on disk of `path`
  // Bits per weight of the weight matrices: MeasureWeightBits for a .tqf,
  // the source's own element size (32, 16, 8.5 for Q8_0) for a source.
  double bits_per_weight = 0;
  std::unique_ptr<rt::Model> model;
  std::unique_ptr<rt::Tokenizer> tokenizer;
};

// Opens `path`: a .tqf directly; otherwise imports it (GGUF, safetensors,
// llama2.c) and packs it with QuantScheme::kRaw and the raw codec into a
// temporary file under $TMPDIR (or /tmp). Errors: the Reader's or the
// importer's (when both fail, the message names both), the packer's, the
// Model's and the Tokenizer's.
Result<std::unique_ptr<EvalModel>> OpenEvalModel(const std::string& path,
                                                 const rt::ModelOptions& options);

enum class TaskKind { kPerplexity, kArc, kHellaswag, kMmlu };
const char* TaskKindName(TaskKind kind);  // "ppl", "arc", "hellaswag", "mmlu"

struct EvalTask {
  TaskKind kind = TaskKind::kPerplexity;
  std::string name;  // file or directory base name, e.g. "ARC-Easy-validation"
  std::string path;
  std::string text;                   // kPerplexity
  std::vector<McQuestion> questions;  // the others (after `limit`)
  size_t total_questions = 0;         // before `limit`
};

// Loads a task; `limit` > 0 keeps the first `limit` questions. MMLU's
// (interleaved across subjects, see eval_data.h) are then grouped by
// subject, so that consecutive questions share the 5-shot header.
Result<EvalTask> LoadTask(TaskKind kind, const std::string& path, size_t limit);

struct RunOptions {
  size_t ctx = 0;                             // 0: the model's ctx_size()
  size_t stride = 0;                          // perplexity stride; 0: ctx / 2
  size_t ppl_tokens = 0;                      // perplexity: score the first N tokens only; 0: all
  const std::atomic<bool>* cancel = nullptr;  // checked between questions / windows
  std::function<void(size_t done, size_t total)> progress;
};

struct TaskResult {
  std::string task;
  TaskKind kind = TaskKind::kPerplexity;
  PerplexityResult ppl;           // kPerplexity
  std::vector<McResult> answers;  // one per question answered, in order
  std::vector<int> gold;          // parallel to answers
  bool cancelled = false;
};

// Runs `task` on `m`. Multiple-choice questions reuse the KV cache across
// questions where their token sequences share a prefix (see KvState), so
// the latency of a question counts only the tokens it did not share with
// the previous one. A cancel stops at the next question (or window) and
// returns what was measured, with `cancelled` set.
Result<TaskResult> RunTask(EvalModel* m, const EvalTask& task, const RunOptions& options);

struct McSummary {
  size_t n = 0;
  double acc = 0, acc_se = 0;                // by the raw sum
  double acc_norm = 0, acc_norm_se = 0;      // by the per-byte score
  double latency_mean = 0, latency_p95 = 0;  // seconds per question
  size_t truncated = 0;                      // questions whose context was cut
  size_t boundary_merges = 0;                // options whose first token merged with the prompt
  double tokens_per_question = 0;
};
McSummary Summarize(const TaskResult& r);

// Fraction of the questions both answered on which `a` and `b` chose the
// same option (by the raw sum, or by the normalised score); 0 if none.
double Agreement(const TaskResult& a, const TaskResult& b, bool norm);

}  // namespace tqf::eval

#endif  // TQF_EVAL_SUITE_H_
