// tqf.Model: the CPU runtime (tokenize, generate, logits, perplexity) on a
// .tqf, standalone or on the layers of a running `tqf serve`.
//
// A runtime Model is driven by one thread at a time and its KV cache holds
// the last call's tokens, so every call that runs it holds the model's
// mutex. Locking order: the mutex is only ever waited for with the GIL
// released (ModelLock), so a thread holding the mutex can always take the
// GIL back. Each such call bumps `epoch`; a GenerationStream whose epoch is
// no longer current (another call ran the model between two of its steps
// and overwrote the KV cache) replays its prompt and tokens first, so
// interleaved streams give the same text as uninterrupted ones, at the cost
// of one prefill per interruption.
#include "tqf/rt/model.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "errors.h"
#include "gil.h"
#include "tqf/eval/score.h"
#include "tqf/internal/text.h"
#include "tqf/reader.h"
#include "tqf/rt/generate.h"
#include "tqf/rt/tokenizer.h"
#include "tqf/service/shared_model.h"

namespace tqf::python {
namespace py = pybind11;
namespace {

// Everything a Model and its streams share.
struct ModelState {
  std::string path;
  std::string attach;  // service name, or empty
  std::shared_ptr<const Reader> reader;
  std::shared_ptr<serve::SharedModel> shared;
  std::unique_ptr<rt::Tokenizer> tokenizer;
  std::unique_ptr<rt::Model> model;
  std::mutex mu;                       // held by whatever runs `model` (ModelLock)
  std::atomic<std::thread::id> owner;  // the thread holding mu
  uint64_t epoch = 0;                  // bumped under mu by every call that runs `model`
  rt::GenerateStats last_generation;
  uint64_t last_seed = 0;
  uint64_t replays = 0;  // streams that rebuilt their KV cache after another call
};

// Holds s.mu for one call; waits (if it must) with the GIL released. A
// call that re-enters the model on the thread holding it (a Python signal
// handler run between tokens) is refused rather than deadlocking.
class ModelLock {
 public:
  explicit ModelLock(ModelState& s) : s_(s), lock_(s.mu, std::defer_lock) {
    if (s.owner.load() == std::this_thread::get_id()) {
      ThrowInvalidArgument(
          "this thread is already running the model (re-entered from a "
          "signal handler or callback)");
    }
    if (!lock_.try_lock()) {
      py::gil_scoped_release nogil;
      lock_.lock();
    }
    s.owner.store(std::this_thread::get_id());
  }
  ~ModelLock() { s_.owner.store(std::thread::id()); }
  ModelLock(const ModelLock&) = delete;
  ModelLock& operator=(const ModelLock&) = delete;

 private:
  ModelState& s_;
  std::unique_lock<std::mutex> lock_;
};

// Raises the pending Python exception, if a signal handler (Ctrl-C) set one.
// Call with the GIL held.
void CheckSignals() {
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

uint64_t ClockSeed() {
  return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

// Sampling settings, checked as `tqf run` checks its flags.
rt::GenerateOptions MakeGenerateOptions(int64_t max_tokens, double temperature, double top_p,
                                        py::object seed, bool stop_at_eos, uint64_t* seed_used) {
  if (max_tokens < 0 || max_tokens > (1 << 24)) {
    ThrowInvalidArgument("max_tokens " + std::to_string(max_tokens) + " outside 0..16777216");
  }
  if (!std::isfinite(temperature) || temperature < 0) {
    ThrowInvalidArgument("temperature must be finite and >= 0 (0: greedy)");
  }
  if (!(top_p > 0) || top_p > 1) ThrowInvalidArgument("top_p must be in (0, 1] (1: off)");
  if (seed.is_none()) {
    *seed_used = ClockSeed();
  } else {
    if (!PyLong_Check(seed.ptr())) throw py::type_error("seed must be an int or None");
    const unsigned long long v = PyLong_AsUnsignedLongLong(seed.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      ThrowInvalidArgument("seed must be in 0..2**64-1");
    }
    *seed_used = static_cast<uint64_t>(v);
  }
  rt::GenerateOptions go;
  go.max_tokens = static_cast<size_t>(max_tokens);
  go.sampler.temperature = static_cast<float>(temperature);
  go.sampler.top_p = static_cast<float>(top_p);
  go.sampler.seed = *seed_used;
  go.stop_at_eos = stop_at_eos;
  return go;
}

// The prompt's tokens, exactly as `tqf run` makes them (BOS as the model's
// metadata says), refused as it refuses them.
std::vector<int32_t> EncodePrompt(const ModelState& s, const std::string& text) {
  std::vector<int32_t> prompt = s.tokenizer->Encode(text, s.tokenizer->add_bos_default());
  if (prompt.empty()) ThrowInvalidArgument("the prompt encodes to no tokens");
  const uint64_t model_ctx = s.reader->model().hparams.context_length;
  if (model_ctx > 0 && prompt.size() >= model_ctx) {
    ThrowInvalidArgument("the prompt is " + std::to_string(prompt.size()) +
                         " tokens; the model's context is " + std::to_string(model_ctx));
  }
  return prompt;
}

// Starts a generation on a locked model: a new epoch, the prompt prefilled
// with the GIL released.
std::unique_ptr<rt::Generator> StartGeneration(ModelState& s, const std::vector<int32_t>& prompt,
                                               const rt::GenerateOptions& go, uint64_t seed) {
  s.epoch++;
  s.last_seed = seed;
  auto gen = std::make_unique<rt::Generator>(s.model.get(), *s.tokenizer, go);
  Status st = WithoutGil([&] { return gen->Start(prompt); });
  s.last_generation = gen->stats();
  Check(st);
  return gen;
}

// The next token of `gen` with the GIL released; false at the end.
bool Step(ModelState& s, rt::Generator* gen, int32_t* token, std::string* piece) {
  Result<bool> more = WithoutGil([&] { return gen->Next(token, piece); });
  s.last_generation = gen->stats();
  return Unwrap(std::move(more));
}

// Model.stream(): yields the generated text piece by piece. Pieces are
// decoded incrementally, so a character split across byte tokens comes out
// whole, once.
class GenerationStream {
 public:
  GenerationStream(std::shared_ptr<ModelState> s, std::unique_ptr<rt::Generator> gen)
      : s_(std::move(s)), gen_(std::move(gen)), epoch_(s_->epoch) {
    decoder_ = py::module_::import("codecs").attr("getincrementaldecoder")("utf-8")("replace");
  }

  py::str Next() {
    while (!done_) {
      CheckSignals();
      ModelLock lock(*s_);
      int32_t token = 0;
      std::string piece;
      bool more = false;
      try {
        if (s_->epoch != epoch_) {  // another call ran the model: rebuild our KV cache
          epoch_ = ++s_->epoch;
          s_->replays++;
          Check(WithoutGil([&] { return gen_->Replay(); }));
        }
        more = Step(*s_, gen_.get(), &token, &piece);
      } catch (...) {
        done_ = true;
        throw;
      }
      if (!more) {
        done_ = true;
        py::str rest = decoder_.attr("decode")(py::bytes(), true);
        if (py::len(rest) > 0) return rest;
        break;
      }
      tokens_.push_back(token);
      py::str text = decoder_.attr("decode")(py::bytes(piece));
      if (py::len(text) > 0) return text;
    }
    throw py::stop_iteration();
  }

  void Close() { done_ = true; }
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  std::shared_ptr<ModelState> s_;
  std::unique_ptr<rt::Generator> gen_;
  uint64_t epoch_;
  py::object decoder_;
  std::vector<int32_t> tokens_;
  bool done_ = false;
};

class Model {
 public:
  Model(py::object path, std::optional<int64_t> mem_budget, std::optional<int> threads,
        std::optional<std::string> attach, std::optional<int64_t> ctx_size, bool prefetch)
      : s_(std::make_shared<ModelState>()) {
    if (mem_budget && *mem_budget < 0) {
      ThrowInvalidArgument("mem_budget must be >= 0 bytes (None: decode each layer once, keep it)");
    }
    if (threads && (*threads < 0 || *threads > 4096)) {
      ThrowInvalidArgument("threads must be in 0..4096 (0 or None: all cores)");
    }
    if (ctx_size && (*ctx_size < 1 || *ctx_size > (1 << 24))) {
      ThrowInvalidArgument("ctx_size must be in 1..16777216");
    }
    if (attach && mem_budget) {
      ThrowInvalidArgument(
          "mem_budget does not apply with attach (the service's --cache bounds its layers)");
    }
    if (path.is_none() && !attach) ThrowInvalidArgument("no model file given");
    if (!path.is_none()) s_->path = ToPath(path);
    if (attach) s_->attach = *attach;
    rt::ModelOptions mo;
    mo.mem_budget = mem_budget.value_or(-1);
    mo.threads = threads.value_or(0);
    mo.ctx_size = static_cast<uint32_t>(ctx_size.value_or(0));
    mo.prefetch = prefetch;
    Check(WithoutGil([&] { return Open(mo); }));
  }

  std::vector<int32_t> Tokenize(py::handle text, std::optional<bool> add_bos,
                                bool parse_special) const {
    const std::string bytes = ToBytes(text, "text");
    const bool bos = add_bos.value_or(s_->tokenizer->add_bos_default());
    return WithoutGil([&] { return s_->tokenizer->Encode(bytes, bos, parse_special); });
  }

  py::str Detokenize(const std::vector<int32_t>& ids, bool render_special) const {
    return TextString(s_->tokenizer->Decode(ids, render_special));
  }

  py::str Generate(py::handle prompt_text, int64_t max_tokens, double temperature, double top_p,
                   py::object seed, bool stop_at_eos) {
    uint64_t seed_used = 0;
    const rt::GenerateOptions go = MakeGenerateOptions(max_tokens, temperature, top_p,
                                                       std::move(seed), stop_at_eos, &seed_used);
    const std::vector<int32_t> prompt = EncodePrompt(*s_, ToBytes(prompt_text, "prompt"));
    ModelLock lock(*s_);
    std::unique_ptr<rt::Generator> gen = StartGeneration(*s_, prompt, go, seed_used);
    std::string text;
    int32_t token = 0;
    std::string piece;
    while (Step(*s_, gen.get(), &token, &piece)) {
      text += piece;
      CheckSignals();  // Ctrl-C between tokens
    }
    return TextString(text);
  }

  GenerationStream Stream(py::handle prompt_text, int64_t max_tokens, double temperature,
                          double top_p, py::object seed, bool stop_at_eos) {
    uint64_t seed_used = 0;
    const rt::GenerateOptions go = MakeGenerateOptions(max_tokens, temperature, top_p,
                                                       std::move(seed), stop_at_eos, &seed_used);
    const std::vector<int32_t> prompt = EncodePrompt(*s_, ToBytes(prompt_text, "prompt"));
    ModelLock lock(*s_);
    return GenerationStream(s_, StartGeneration(*s_, prompt, go, seed_used));
  }

  py::array Logits(const std::vector<int32_t>& ids) {
    if (ids.empty()) ThrowInvalidArgument("no token ids");
    auto logits = std::make_unique<std::vector<float>>();
    {
      ModelLock lock(*s_);
      s_->epoch++;
      Check(WithoutGil(
          [&] { return s_->model->Forward(ids.data(), ids.size(), 0, true, logits.get()); }));
    }
    const size_t vocab = s_->model->hparams().vocab_size;
    if (logits->size() != ids.size() * vocab) {
      throw StatusError(Status::Corruption("logits: " + std::to_string(logits->size()) +
                                           " values for " + std::to_string(ids.size()) +
                                           " tokens x " + std::to_string(vocab)));
    }
    float* data = logits->data();
    py::capsule owner(logits.release(),
                      [](void* p) { delete static_cast<std::vector<float>*>(p); });
    return py::array_t<float>(
        {static_cast<py::ssize_t>(ids.size()), static_cast<py::ssize_t>(vocab)}, data, owner);
  }

  py::dict Perplexity(py::handle text_arg, std::optional<int64_t> ctx,
                      std::optional<int64_t> stride, std::optional<int64_t> max_tokens) {
    const std::string text = ToBytes(text_arg, "text");
    auto positive = [](const char* name, const std::optional<int64_t>& v) {
      if (v && *v < 1) ThrowInvalidArgument(std::string(name) + " must be >= 1 (None: default)");
      return static_cast<size_t>(v.value_or(0));
    };
    eval::PerplexityOptions po;
    po.ctx = positive("ctx", ctx);
    po.stride = positive("stride", stride);
    po.max_tokens = positive("max_tokens", max_tokens);
    std::atomic<bool> cancel{false};
    po.cancel = &cancel;
    po.progress = [&cancel](size_t, size_t) {  // between windows: Ctrl-C stops at the next
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) cancel.store(true);  // the exception stays pending
    };
    ModelLock lock(*s_);
    s_->epoch++;
    Result<eval::PerplexityResult> r = WithoutGil(
        [&] { return eval::ComputePerplexity(s_->model.get(), *s_->tokenizer, text, po); });
    if (PyErr_Occurred()) throw py::error_already_set();
    const eval::PerplexityResult p = Unwrap(std::move(r));
    py::dict d;
    d["perplexity"] = p.Perplexity();
    d["mean_nll"] = p.MeanNll();
    d["nll_sum"] = p.nll_sum;
    d["text_tokens"] = p.text_tokens;
    d["tokens_used"] = p.tokens_used;
    d["scored"] = p.scored;
    d["windows"] = p.windows;
    d["ctx"] = p.ctx;
    d["stride"] = p.stride;
    d["bos"] = p.bos;
    d["seconds"] = p.seconds;
    return d;
  }

  py::dict Stats() {
    ModelLock lock(*s_);
    const rt::Model& m = *s_->model;
    const rt::LayerProviderStats p = m.provider_stats();
    const rt::ForwardStats& f = m.forward_stats();
    const rt::GenerateStats& g = s_->last_generation;
    py::dict layers;
    layers["acquires"] = p.acquires;
    layers["hits"] = p.hits;
    layers["prefetch_hits"] = p.prefetch_hits;
    layers["misses"] = p.misses;
    layers["prefetches"] = p.prefetches;
    layers["prefetch_skipped"] = p.prefetch_skipped;
    layers["evictions"] = p.evictions;
    layers["decodes"] = p.decodes;
    layers["decoded_bytes"] = p.decoded_bytes;
    layers["decode_seconds"] = p.decode_seconds;
    layers["wait_seconds"] = p.wait_seconds;
    layers["held_bytes"] = p.held_bytes;
    layers["peak_held_bytes"] = p.peak_held_bytes;
    py::dict forward;
    forward["total_seconds"] = f.total_seconds;
    forward["wait_seconds"] = f.wait_seconds;
    forward["tokens"] = f.tokens;
    forward["passes"] = f.passes;
    py::dict gen;
    gen["prompt_tokens"] = g.prompt_tokens;
    gen["generated_tokens"] = g.generated_tokens;
    gen["prompt_seconds"] = g.prompt_seconds;
    gen["generate_passes"] = g.generate_passes;
    gen["generate_seconds"] = g.generate_seconds;
    gen["seed"] = s_->last_seed;
    py::dict d;
    d["kernels"] = rt::KernelPathName(m.ops().path);
    d["threads"] = m.threads();
    d["ctx_size"] = m.ctx_size();
    d["attach"] = s_->attach.empty() ? py::object(py::none()) : py::object(py::str(s_->attach));
    d["resident_bytes"] = m.resident_bytes();
    d["layer_bytes"] = m.layer_bytes();
    d["kv_cache_bytes"] = m.kv_cache_bytes();
    d["activation_bytes"] = m.activation_bytes();
    d["layers"] = layers;
    d["forward"] = forward;
    d["last_generation"] = gen;
    d["stream_replays"] = s_->replays;
    return d;
  }

  const ModelState& state() const { return *s_; }

 private:
  // Attaches (if asked), opens the file and builds tokenizer and model, as
  // `tqf run` does. Runs without the GIL.
  Status Open(rt::ModelOptions mo) {
    ModelState& s = *s_;
    if (!s.attach.empty()) {
      Result<std::shared_ptr<serve::SharedModel>> attached = serve::SharedModel::Attach(s.attach);
      if (!attached.ok()) return attached.status();
      s.shared = std::move(attached).value();
      if (s.path.empty()) s.path = s.shared->model_path();
      mo.layer_source = s.shared;
    }
    Result<std::unique_ptr<Reader>> opened = Reader::Open(s.path);
    if (!opened.ok()) return opened.status();
    s.reader = std::shared_ptr<const Reader>(std::move(opened).value());
    Result<std::unique_ptr<rt::Tokenizer>> tok = rt::Tokenizer::Create(s.reader->model().tokenizer);
    if (!tok.ok()) return tok.status().WithContext("tokenizer");
    s.tokenizer = std::move(tok).value();
    Result<std::unique_ptr<rt::Model>> model = rt::Model::Create(s.reader, mo);
    if (!model.ok()) return model.status();
    s.model = std::move(model).value();
    return Status::OK();
  }

  std::shared_ptr<ModelState> s_;
};

const char kModelDoc[] = R"doc(A model from a .tqf, run on the CPU.

Model(path, mem_budget=None, threads=None, attach=None, ctx_size=None, prefetch=True)
  path        the .tqf (with attach: defaults to the service's file, and must be it)
  mem_budget  bytes of decoded layers to hold (None: decode each layer once and keep
              it; 0: decode every layer at every use), as `tqf run --mem-budget`
  threads     compute threads (None or 0: all cores)
  attach      name of a running `tqf serve` whose decoded layers to use
  ctx_size    KV cache positions (None: the model's context, at most 4096)

Calls that run the model (generate, stream, logits, perplexity) take turns: one
thread at a time, the others wait with the GIL released. Work runs without the GIL.)doc";

}  // namespace

void BindModel(py::module_& m) {
  py::class_<GenerationStream>(m, "GenerationStream",
                               "Iterator over generated text (Model.stream). Ends at max_tokens, "
                               "EOS or a full context. If other calls ran the model between two "
                               "steps, the stream first rebuilds its KV cache (one prefill of its "
                               "prompt and tokens) and continues with the same text.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &GenerationStream::Next)
      .def("close", &GenerationStream::Close, "Ends the stream early.")
      .def_property_readonly("tokens", &GenerationStream::tokens,
                             "Ids of the tokens generated so far.");

  const char* sampling_doc =
      "Tokenizes `prompt` as `tqf run` does (BOS as the model's metadata says) and samples up "
      "to max_tokens new tokens: greedy at temperature 0, else nucleus sampling with top_p, "
      "from `seed` (None: from the clock; stats()['last_generation']['seed'] tells which). The "
      "same seed gives the text `tqf run -p PROMPT --seed SEED` prints after the prompt.";
  py::class_<Model>(m, "Model", kModelDoc)
      .def(py::init<py::object, std::optional<int64_t>, std::optional<int>,
                    std::optional<std::string>, std::optional<int64_t>, bool>(),
           py::arg("path") = py::none(), py::arg("mem_budget") = py::none(),
           py::arg("threads") = py::none(), py::arg("attach") = py::none(),
           py::arg("ctx_size") = py::none(), py::arg("prefetch") = true)
      .def("tokenize", &Model::Tokenize, py::arg("text"), py::arg("add_bos") = py::none(),
           py::arg("parse_special") = false,
           "Token ids of `text` (add_bos None: as the model's metadata says), as `tqf tokenize`.")
      .def("detokenize", &Model::Detokenize, py::arg("ids"), py::arg("render_special") = false,
           "The text of `ids` (invalid UTF-8 replaced by U+FFFD).")
      .def("generate", &Model::Generate, py::arg("prompt"), py::arg("max_tokens") = 128,
           py::arg("temperature") = 0.8, py::arg("top_p") = 0.9, py::arg("seed") = py::none(),
           py::arg("stop_at_eos") = true,
           (std::string(sampling_doc) + " Returns the new text (without the prompt).").c_str())
      .def("stream", &Model::Stream, py::arg("prompt"), py::arg("max_tokens") = 128,
           py::arg("temperature") = 0.8, py::arg("top_p") = 0.9, py::arg("seed") = py::none(),
           py::arg("stop_at_eos") = true,
           (std::string(sampling_doc) + " Returns an iterator over the new text, piece by piece.")
               .c_str())
      .def("logits", &Model::Logits, py::arg("ids"),
           "Runs `ids` from position 0 and returns every position's logits, a float32 array of "
           "shape (len(ids), vocab_size); row i predicts the token after ids[i].")
      .def("perplexity", &Model::Perplexity, py::arg("text"), py::arg("ctx") = py::none(),
           py::arg("stride") = py::none(), py::arg("max_tokens") = py::none(),
           "Sliding-window perplexity of `text`, as `tqf eval --ppl` computes it (ctx: window "
           "with BOS, default ctx_size; stride: default ctx/2; max_tokens: score only the "
           "first tokens). Returns a dict: perplexity, mean_nll, nll_sum, text_tokens, "
           "tokens_used, scored, windows, ctx, stride, bos, seconds.")
      .def("stats", &Model::Stats,
           "Kernels, threads, memory (resident, layers, KV cache, activations), layer cache and "
           "forward timings, and the last generation's counts, times and seed.")
      .def_property_readonly(
          "hparams", [](const Model& m) { return HparamsDict(m.state().reader->model().hparams); })
      .def_property_readonly("ctx_size", [](const Model& m) { return m.state().model->ctx_size(); })
      .def_property_readonly("vocab_size",
                             [](const Model& m) { return m.state().tokenizer->vocab_size(); })
      .def_property_readonly("bos_id", [](const Model& m) { return m.state().tokenizer->bos_id(); })
      .def_property_readonly("eos_id", [](const Model& m) { return m.state().tokenizer->eos_id(); })
      .def_property_readonly("path", [](const Model& m) { return FileString(m.state().path); })
      .def("__repr__", [](const Model& m) {
        return "<tqf.Model '" + TerminalSafe(m.state().path) + "'" +
               (m.state().attach.empty() ? "" : " attached to '" + m.state().attach + "'") + ">";
      });
}

}  // namespace tqf::python
