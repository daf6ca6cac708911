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

namespace tqf::python {
namespace py = pybind11;
namespace {

// Sub-8-bit quantization (`bits`, `calib`) is not in PackOptions yet: it is
// being built as a separate change. Until then asking for it is refused
// here, the one place to wire it up.
Status ApplySubByteOptions(const std::optional<int>& bits, const py::object& calib,
                           PackOptions* options) {
  if (bits) {
    return Status::NotSupported("bits=" + std::to_string(*bits) +
                                ": sub-8-bit quantization is not available in this build "
                                "(8-bit only; use bits=None)");
  }
  if (!calib.is_none()) {
    return Status::NotSupported(
        "calib: calibration data is used by sub-8-bit quantization, which is not available in "
        "this build (use calib=None)");
  }
  (void)options;
  return Status::OK();
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

py::dict Pack(py::handle src_arg, py::handle dst_arg, const std::string& quant,
              const std::optional<std::string>& codec, std::optional<int> bits, py::object calib,
              py::object progress, py::object tokenizer, int64_t block_size,
              std::optional<int> threads, bool allow_nonfinite) {
  const std::string src = ToPath(src_arg), dst = ToPath(dst_arg);
  PackOptions options = MakePackOptions(quant, codec, block_size, threads, allow_nonfinite);
  Check(ApplySubByteOptions(bits, calib, &options));
  if (!progress.is_none() && !PyCallable_Check(progress.ptr())) {
    throw py::type_error("progress must be callable(phase, done, total) or None");
  }
  ImportOptions iopt;
  if (!tokenizer.is_none()) iopt.tokenizer_path = ToPath(tokenizer);
  if (dst == src) ThrowInvalidArgument("output would overwrite the input");
  for (const std::string& in : {src, iopt.tokenizer_path}) {
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
  std::string format;
  Result<PackReport> report = WithoutGil([&]() -> Result<PackReport> {
    Result<SourceModel> model = ImportModel(src, iopt);
    if (!model.ok()) return model.status();
    format = model->format;
    return PackModel(*model, dst, options);
  });
  if (PyErr_Occurred()) throw py::error_already_set();
  return ReportDict(format, Unwrap(std::move(report)));
}

}  // namespace

void BindPack(py::module_& m) {
  m.def("pack", &Pack, py::arg("src"), py::arg("dst"), py::kw_only(), py::arg("quant") = "channel",
        py::arg("codec") = py::none(), py::arg("bits") = py::none(), py::arg("calib") = py::none(),
        py::arg("progress") = py::none(), py::arg("tokenizer") = py::none(),
        py::arg("block_size") = 64 * 1024, py::arg("threads") = py::none(),
        py::arg("allow_nonfinite") = false,
        R"doc(Packs a GGUF, safetensors or llama2.c model into a .tqf, as `tqf pack` does.

quant: raw | tensor-minmax | channel | block32. codec: raw | dict4 | rans |
rans-alias (None: the default). bits, calib: sub-8-bit quantization, not in this
build yet (NotSupportedError unless None). progress: called as
progress(phase, done, total) between tensors ("analyse", then "encode"); an
exception it raises stops the pack and propagates. tokenizer: tokenizer.bin of a
llama2.c checkpoint. The output is written atomically: a failed or interrupted
pack leaves nothing. Runs without the GIL. Returns the pack report as a dict.)doc");
}

}  // namespace tqf::python
