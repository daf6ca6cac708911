// tqf.pack: what `tqf pack` does (import, quantize, compress, write
// atomically), as a call. Runs without the GIL; the progress callable and
// Ctrl-C are served between tensors, and either stops the pack (no output
// is left) with its exception.
#include "tqf/pack.h"

#include <omp.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <optional>
#include <string>

#include "bindings.h"
#include "convert.h"
#include "errors.h"
#include "gil.h"
#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/internal/files.h"
#include "tqf/rt/finetune.h"
#include "tqf/rt/pack_low_bit.h"

namespace tqf::python {
namespace py = pybind11;
namespace {

// `calib`: a text file's path (str, bytes or PathLike) or a number of
// tokens to sample from the model itself.
rt::CalibrationRequest CalibrationFrom(const py::object& calib, std::optional<int> threads) {
  rt::CalibrationRequest r;
  r.threads = threads.value_or(0);
  if (py::isinstance<py::bool_>(calib)) {
    throw py::type_error("calib must be a text file's path or a number of tokens to generate");
  }
  if (py::isinstance<py::int_>(calib)) {
    const long long n = calib.cast<long long>();
    if (n < 1 || n > (1LL << 24))
      ThrowInvalidArgument("calib: tokens to generate must be 1..2**24");
    r.generate = static_cast<uint64_t>(n);
  } else {
    r.text_path = ToPath(calib);
  }
  return r;
}

std::string CodecNames() {
  std::string s;
  for (const Codec* c : ByteCodecs()) s += (s.empty() ? "" : ", ") + std::string(c->name());
  return s;
}

// PackOptions from the arguments, checked as `tqf pack` checks its flags.
PackOptions MakePackOptions(const std::string& quant, const std::optional<std::string>& codec,
                            int64_t block_size, std::optional<int> threads, bool allow_nonfinite) {
  PackOptions options;
  options.quant = Unwrap(ParseQuantSpec(quant));
  if (codec) {
    options.codec = FindCodecByName(*codec);
    if (options.codec == nullptr) {
      ThrowInvalidArgument("unknown codec '" + *codec + "' (known: " + CodecNames() + ")");
    }
  }
  if (block_size < 1 || block_size > (1 << 30)) {
    ThrowInvalidArgument("block_size " + std::to_string(block_size) + " outside 1..2**30");
  }
  if (threads && (*threads < 0 || *threads > 4096)) {
    ThrowInvalidArgument("threads must be in 0..4096 (0 or None: all cores)");
  }
  options.writer.block_size = static_cast<uint32_t>(block_size);
  options.writer.threads = threads.value_or(0);
  options.allow_nonfinite = allow_nonfinite;
  return options;
}

py::dict ReportDict(const std::string& format, const PackReport& r) {
  py::list tensors;
  for (const PackedTensorReport& t : r.tensors) {
    py::dict d;
    d["name"] = FileString(t.name);
    d["elements"] = t.elements;
    d["source_bytes"] = t.source_bytes;
    d["raw_bytes"] = t.raw_bytes;
    d["stored_bytes"] = t.stored_bytes;
    d["params_bytes"] = t.params_bytes;
    d["dtype"] = DTypeName(t.dtype);
    d["scheme"] = QuantSpecName(t.quant);
    const Codec* c = FindCodec(t.codec);
    d["codec"] = c ? c->name() : "unknown";
    tensors.append(d);
  }
  py::dict d;
  d["format"] = format;
  d["source_file_bytes"] = r.source_file_bytes;
  d["source_tensor_bytes"] = r.source_tensor_bytes;
  d["elements"] = r.elements;
  d["raw_bytes"] = r.raw_bytes;
  d["stored_bytes"] = r.stored_bytes;
  d["dictionary_bytes"] = r.dictionary_bytes;
  d["params_bytes"] = r.params_bytes;
  d["codebook_bytes"] = r.codebook_bytes;
  d["bits_per_weight"] = r.weight_bits.bits_per_weight();
  d["file_bytes"] = r.file_bytes;
  d["seconds"] = r.seconds;
  d["tensors"] = tensors;
  return d;
}

// Sets the OpenMP thread count for the calling thread while it lives (as
// `tqf pack --threads` does for the whole process), then restores it.
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : saved_(omp_get_max_threads()), set_(threads > 0) {
    if (set_) omp_set_num_threads(threads);
  }
  ~OmpThreads() {
    if (set_) omp_set_num_threads(saved_);
  }

 private:
  int saved_;
  bool set_;
};

// The distillation's options from the arguments (None: the library's
// defaults), checked as `tqf pack --finetune-lr/-batch/-average` are.
rt::FinetuneOptions MakeFinetuneOptions(int64_t steps, std::optional<double> lr,
                                        std::optional<int64_t> batch, std::optional<double> average,
                                        std::optional<int> threads) {
  rt::FinetuneOptions fo;
  fo.steps = static_cast<size_t>(steps);
  if (lr) {
    if (!(*lr > 0.0 && *lr <= 1.0)) ThrowInvalidArgument("finetune_lr must be in (0, 1]");
    fo.lr = static_cast<float>(*lr);
  }
  if (batch) {
    if (*batch < 1 || *batch > 4096) ThrowInvalidArgument("finetune_batch must be 1..4096");
    fo.batch = static_cast<size_t>(*batch);
  }
  if (average) {
    if (!(*average >= 0.0 && static_cast<float>(*average) < 1.0f))
      ThrowInvalidArgument("finetune_average must be in [0, 1)");
    fo.average = static_cast<float>(*average);
  }
  fo.threads = threads.value_or(0);
  return fo;
}

// finetune: options->refine distils fo.steps steps on the session's sampled
// tokens, reporting progress and honouring cancellation as the pack does.
void SetFinetune(const rt::CalibrationSession& session, rt::FinetuneOptions fo,
                 std::shared_ptr<rt::FinetuneReport> report, PackOptions* options) {
  fo.cancel = options->cancel;
  auto progress = options->progress;
  fo.progress = [progress](size_t done, size_t total) { progress("finetune", done, total); };
  options->refine = rt::FinetuneRefiner(&session.finetune_sequences(), fo, std::move(report));
}

py::dict Pack(py::handle src_arg, py::handle dst_arg, const std::string& quant,
              const std::optional<std::string>& codec, std::optional<double> bits, py::object calib,
              py::object progress, py::object tokenizer, int64_t block_size,
              std::optional<int> threads, bool allow_nonfinite, int64_t finetune,
              int64_t finetune_tokens, std::optional<double> finetune_lr,
              std::optional<int64_t> finetune_batch, std::optional<double> finetune_average) {
  const std::string src = ToPath(src_arg), dst = ToPath(dst_arg);
  PackOptions options = MakePackOptions(quant, codec, block_size, threads, allow_nonfinite);
  if (bits && quant != "channel")
    ThrowInvalidArgument("bits chooses the schemes: give it or quant");
  if (bits && !(*bits >= 1.0 && *bits <= 8.5)) ThrowInvalidArgument("bits must be in 1 .. 8.5");
  std::optional<rt::CalibrationRequest> calib_request;
  if (!calib.is_none()) calib_request = CalibrationFrom(calib, threads);
  if (finetune < 0 || finetune > (1 << 20)) ThrowInvalidArgument("finetune: steps must be 0..2**20");
  if (finetune > 0 && !calib_request) {
    ThrowInvalidArgument("finetune distils on calibration tokens: give calib");
  }
  if (finetune_tokens < 1024 || finetune_tokens > (1 << 24))
    ThrowInvalidArgument("finetune_tokens must be 1024..2**24");
  if (finetune > 0) calib_request->finetune_tokens = static_cast<uint64_t>(finetune_tokens);
  const rt::FinetuneOptions finetune_options =
      MakeFinetuneOptions(finetune, finetune_lr, finetune_batch, finetune_average, threads);
  if (!progress.is_none() && !PyCallable_Check(progress.ptr())) {
    throw py::type_error("progress must be callable(phase, done, total) or None");
  }
  ImportOptions iopt;
  if (!tokenizer.is_none()) iopt.tokenizer_path = ToPath(tokenizer);
  if (dst == src) ThrowInvalidArgument("output would overwrite the input");
  for (const std::string& in :
       {src, iopt.tokenizer_path, calib_request ? calib_request->text_path : std::string()}) {
    if (!in.empty()) Check(CheckOutputIsNotInput(in, dst));
  }

  // Between tensors (on this thread): the callable, then pending signals.
  // An exception from either is left pending and cancels the pack.
  std::atomic<bool> cancel{false};
  options.cancel = &cancel;
  options.progress = [&](const char* phase, size_t done, size_t total) {
    py::gil_scoped_acquire gil;
    if (cancel.load() || PyErr_Occurred()) return;
    if (!progress.is_none()) {
      PyObject* r =
          PyObject_CallFunction(progress.ptr(), "snn", phase, static_cast<Py_ssize_t>(done),
                                static_cast<Py_ssize_t>(total));
      if (r == nullptr) {
        cancel.store(true);
        return;
      }
      Py_DECREF(r);
    }
    if (PyErr_CheckSignals() != 0) cancel.store(true);
  };
  OmpThreads omp_threads(options.writer.threads);
  std::string format, choice;
  auto finetuned = std::make_shared<rt::FinetuneReport>();
  Result<PackReport> report = WithoutGil([&]() -> Result<PackReport> {
    Result<SourceModel> model = ImportModel(src, iopt);
    if (!model.ok()) return model.status();
    format = model->format;
    std::unique_ptr<rt::CalibrationSession> session;
    if (finetune > 0) TQF_RETURN_IF_ERROR(rt::CheckFinetunable(*model, finetune_options));
    if (calib_request) {
      auto started = rt::CalibrationSession::Start(*model, *calib_request, options.progress);
      if (!started.ok()) return started.status().WithContext("calibration");
      session = std::move(started).value();
      options.statistics = session->statistics();
      if (finetune > 0) SetFinetune(*session, finetune_options, finetuned, &options);
    }
    if (!bits) return PackModel(*model, dst, options);
    rt::BitsRequest br;
    br.bits = *bits;
    return rt::PackWithinBits(*model, dst, br, session.get(), options, &choice, options.progress);
  });
  if (PyErr_Occurred()) throw py::error_already_set();
  py::dict d = ReportDict(format, Unwrap(std::move(report)));
  if (!choice.empty()) d["bits_choice"] = choice;
  if (finetuned->steps) d["finetune"] = rt::DescribeFinetune(*finetuned);
  return d;
}

}  // namespace

void BindPack(py::module_& m) {
  m.def("pack", &Pack, py::arg("src"), py::arg("dst"), py::kw_only(), py::arg("quant") = "channel",
        py::arg("codec") = py::none(), py::arg("bits") = py::none(), py::arg("calib") = py::none(),
        py::arg("progress") = py::none(), py::arg("tokenizer") = py::none(),
        py::arg("block_size") = 64 * 1024, py::arg("threads") = py::none(),
        py::arg("allow_nonfinite") = false, py::arg("finetune") = 0,
        py::arg("finetune_tokens") = 262144, py::arg("finetune_lr") = py::none(),
        py::arg("finetune_batch") = py::none(), py::arg("finetune_average") = py::none(),
        R"doc(Packs a GGUF, safetensors or llama2.c model into a .tqf, as `tqf pack` does.

quant: any `tqf pack --quant` scheme: raw | tensor-minmax | channel | block32, or
low-bit q<2..6>[a]-g<G>, nf4-g<G>, ec<bits>, vq<d>x<K>-g<G>|-row. codec: raw |
dict4 | rans | rans-alias (None: the default). bits: the best file at or under this
many bits per weight (a scheme per matrix; excludes quant). calib: a text file (path)
or a number of tokens to sample from the model itself, for GPTQ error compensation
and measured sensitivity. progress: called as progress(phase, done, total)
("calib-gen", "finetune-gen", "calib", "costs", "codebooks", "analyse", "finetune",
"encode"); an
exception it raises stops the pack and propagates. tokenizer: tokenizer.bin of a
llama2.c checkpoint. finetune: with calib, this many steps of distillation
(`tqf pack --finetune`) on finetune_tokens tokens sampled from the model, with
finetune_lr (--finetune-lr), finetune_batch (--finetune-batch) and finetune_average
(--finetune-average) or, None, their defaults; the report's "finetune" describes it. The output is written atomically: a failed or interrupted
pack leaves nothing. Runs without the GIL. Returns the pack report as a dict.)doc");
}

}  // namespace tqf::python
