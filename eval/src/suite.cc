// Opening models (packing sources raw), loading and running tasks, summaries.
#include "tqf/eval/suite.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/reader.h"
#include "tqf/rt/calibrate.h"

namespace tqf::eval {

using rt::Model;
using rt::ModelOptions;
using rt::Tokenizer;
namespace {

std::string BaseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  const size_t dot = base.rfind('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  return base;
}

// "quant channel, codec rans" from the tensors of a .tqf.
std::string DescribeTqf(const Reader& reader) {
  std::set<std::string> quants, codecs;
  for (const TensorInfo& t : reader.tensors()) {
    if (t.shape.size() < 2) continue;
    std::string q = t.quant == QuantKind::kNone ? DTypeName(t.dtype) : QuantKindName(t.quant);
    if (t.quant == QuantKind::kBlock) q += std::to_string(t.quant_block);
    if (!t.quantizer.empty()) q = t.quantizer;  // the low-bit scheme's own name
    quants.insert(q);
    const Codec* c = FindCodec(t.codec);
    codecs.insert(c != nullptr ? c->name() : "?");
  }
  auto join = [](const std::set<std::string>& s) {
    std::string out;
    for (const std::string& x : s) out += (out.empty() ? "" : "+") + x;
    return out;
  };
  return "quant " + join(quants) + ", codec " + join(codecs);
}

Status Finish(std::shared_ptr<const Reader> reader, const ModelOptions& options, EvalModel* m) {
  Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::Create(reader->model().tokenizer);
  if (!tok.ok()) return tok.status().WithContext(m->path + ": tokenizer");
  Result<std::unique_ptr<Model>> model = Model::Create(reader, options);
  if (!model.ok()) return model.status().WithContext(m->path);
  m->tokenizer = std::move(tok).value();
  m->model = std::move(model).value();
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<EvalModel>> OpenEvalModel(const std::string& path,
                                                 const ModelOptions& options) {
  auto m = std::make_unique<EvalModel>();
  m->path = path;
  Result<std::unique_ptr<Reader>> opened = Reader::Open(path);
  if (opened.ok()) {
    std::shared_ptr<const Reader> reader(std::move(opened).value());
    m->format = "tqf";
    m->file_bytes = reader->file_info().file_size;
    m->bits_per_weight = MeasureWeightBits(*reader).bits_per_weight();
    m->describe = DescribeTqf(*reader);
    TQF_RETURN_IF_ERROR(Finish(std::move(reader), options, m.get()));
    return m;
  }
  if (opened.status().IsNotFound() || opened.status().IsIOError()) return opened.status();
  Result<SourceModel> src = ImportModel(path);
  if (!src.ok()) {
    return Status(src.status().code(), path + ": neither a .tqf (" + opened.status().ToString() +
                                           ") nor an importable model (" + src.status().ToString() +
                                           ")");
  }
  // Always f32: a source evaluated at its own precision.
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const Reader> reader,
                       rt::PackSourceForRuntime(*src, UINT64_MAX));
  m->format = src->format;
  m->file_bytes = src->file_bytes;
  uint64_t weights = 0, bytes = 0;
  for (const SourceTensor& t : src->tensors) {
    if (t.shape.size() < 2) continue;
    weights += t.num_elements();
    bytes += t.size;
  }
  m->bits_per_weight = weights ? 8.0 * bytes / weights : 0.0;
  std::set<std::string> dtypes;
  for (const SourceTensor& t : src->tensors) dtypes.insert(DTypeName(t.dtype));
  std::string dts;
  for (const std::string& d : dtypes) dts += (dts.empty() ? "" : "+") + d;
  m->describe = src->format + " " + dts + ", source precision (packed raw)";
  TQF_RETURN_IF_ERROR(Finish(std::move(reader), options, m.get()));
  return m;
}

const char* TaskKindName(TaskKind kind) {
  switch (kind) {
    case TaskKind::kPerplexity: return "ppl";
    case TaskKind::kArc: return "arc";
    case TaskKind::kHellaswag: return "hellaswag";
    case TaskKind::kMmlu: return "mmlu";
  }
  return "?";
}

Result<EvalTask> LoadTask(TaskKind kind, const std::string& path, size_t limit) {
  EvalTask t;
  t.kind = kind;
  t.path = path;
  t.name = kind == TaskKind::kMmlu ? "mmlu" : BaseName(path);
  Result<std::vector<McQuestion>> qs = Status::NotFound("no task");
  switch (kind) {
    case TaskKind::kPerplexity: {
      TQF_ASSIGN_OR_RETURN(t.text, LoadText(path));
      return t;
    }
    case TaskKind::kArc: qs = LoadArc(path); break;
    case TaskKind::kHellaswag: qs = LoadHellaswag(path); break;
    case TaskKind::kMmlu: qs = LoadMmlu(path); break;
  }
  if (!qs.ok()) return qs.status();
  t.questions = std::move(qs).value();
  t.total_questions = t.questions.size();
  if (limit > 0 && t.questions.size() > limit) t.questions.resize(limit);
  if (kind == TaskKind::kMmlu) {
    // Run each subject's questions together, so the KV cache can keep the
    // subject's 5-shot header from one question to the next.
    auto subject = [](const McQuestion& q) { return q.id.substr(0, q.id.rfind('/')); };
    std::stable_sort(
        t.questions.begin(), t.questions.end(),
        [&](const McQuestion& a, const McQuestion& b) { return subject(a) < subject(b); });
  }
  return t;
}

Result<TaskResult> RunTask(EvalModel* m, const EvalTask& task, const RunOptions& options) {
  TaskResult r;
  r.task = task.name;
  r.kind = task.kind;
  if (task.kind == TaskKind::kPerplexity) {
    PerplexityOptions po;
    po.ctx = options.ctx;
    po.stride = options.stride;
    po.max_tokens = options.ppl_tokens;
    po.cancel = options.cancel;
    po.progress = options.progress;
    TQF_ASSIGN_OR_RETURN(r.ppl, ComputePerplexity(m->model.get(), *m->tokenizer, task.text, po));
    r.cancelled = r.ppl.cancelled;
    return r;
  }
  KvState kv;  // the model ran something else before this task
  McOptions mo;
  mo.ctx = options.ctx;
  mo.kv = &kv;
  for (size_t i = 0; i < task.questions.size(); ++i) {
    if (options.cancel != nullptr && options.cancel->load()) {
      r.cancelled = true;
      break;
    }
    const McQuestion& q = task.questions[i];
    Result<McResult> a = ScoreQuestion(m->model.get(), *m->tokenizer, q, mo);
    if (!a.ok()) return a.status().WithContext(task.name + " question " + q.id);
    r.answers.push_back(std::move(a).value());
    r.gold.push_back(q.gold);
    if (options.progress) options.progress(i + 1, task.questions.size());
  }
  return r;
}

McSummary Summarize(const TaskResult& r) {
  McSummary s;
  s.n = r.answers.size();
  if (s.n == 0) return s;
  size_t right = 0, right_norm = 0, tokens = 0;
  std::vector<double> lat;
  for (size_t i = 0; i < s.n; ++i) {
    const McResult& a = r.answers[i];
    right += a.pick_raw == r.gold[i];
    right_norm += a.pick_norm == r.gold[i];
    s.truncated += a.truncated;
    s.boundary_merges += a.boundary_merges;
    tokens += a.tokens_run;
    lat.push_back(a.seconds);
  }
  const double n = static_cast<double>(s.n);
  s.acc = right / n;
  s.acc_norm = right_norm / n;
  s.acc_se = std::sqrt(s.acc * (1 - s.acc) / n);
  s.acc_norm_se = std::sqrt(s.acc_norm * (1 - s.acc_norm) / n);
  std::sort(lat.begin(), lat.end());
  double sum = 0;
  for (double x : lat) sum += x;
  s.latency_mean = sum / n;
  const size_t rank = static_cast<size_t>(std::ceil(0.95 * n));  // nearest rank
  s.latency_p95 = lat[std::max<size_t>(rank, 1) - 1];
  s.tokens_per_question = tokens / n;
  return s;
}

double Agreement(const TaskResult& a, const TaskResult& b, bool norm) {
  const size_t n = std::min(a.answers.size(), b.answers.size());
  if (n == 0) return 0;
  size_t same = 0;
  for (size_t i = 0; i < n; ++i) {
    same += norm ? a.answers[i].pick_norm == b.answers[i].pick_norm
                 : a.answers[i].pick_raw == b.answers[i].pick_raw;
  }
  return static_cast<double>(same) / static_cast<double>(n);
}

}  // namespace tqf::eval
