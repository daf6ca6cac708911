// tqf.open and tqf.File: a .tqf read like safetensors' safe_open. A File
// shares ownership of its Reader (the mapping) with every zero-copy array it
// hands out, so arrays stay valid after the `with` block closes the File.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "errors.h"
#include "gil.h"
#include "tqf/codec.h"
#include "tqf/internal/inspect_json.h"
#include "tqf/internal/text.h"
#include "tqf/reader.h"

namespace tqf::python {
namespace py = pybind11;
namespace {

using ReaderPtr = std::shared_ptr<const Reader>;

// The base object of a zero-copy array: owns a reference to the Reader, so
// the mapping lives as long as any array over it.
py::capsule KeepAlive(ReaderPtr reader) {
  return py::capsule(new ReaderPtr(std::move(reader)),
                     [](void* p) { delete static_cast<ReaderPtr*>(p); });
}

int ThreadsArg(std::optional<int> threads) {
  if (threads && *threads < 0) ThrowInvalidArgument("threads must be >= 0 (0: all cores)");
  return threads.value_or(0);
}

const char* CodecName(CodecKind kind) {
  const Codec* c = FindCodec(kind);
  return c ? c->name() : "unknown";
}

// The numpy type of a tensor's stored elements (bfloat16, which numpy
// lacks, as its uint16 bit patterns).
py::dtype StoredDType(const TensorInfo& t) {
  switch (t.dtype) {
    case DType::kF32: return py::dtype("float32");
    case DType::kF16: return py::dtype("float16");
    case DType::kBF16: return py::dtype("uint16");
    case DType::kI8: return py::dtype("int8");
    default: break;  // block types are never stored
  }
  throw StatusError(Status::NotSupported("tensor '" + t.name + "': stored type " +
                                         DTypeName(t.dtype) + " has no numpy equivalent"));
}

std::vector<py::ssize_t> ShapeOf(const TensorInfo& t) {
  std::vector<py::ssize_t> shape;
  for (uint64_t d : t.shape) {
    if (d > static_cast<uint64_t>(PY_SSIZE_T_MAX)) {
      throw StatusError(Status::ResourceExhausted("tensor '" + t.name + "': dimension " +
                                                  std::to_string(d) + " is too large"));
    }
    shape.push_back(static_cast<py::ssize_t>(d));
  }
  return shape;
}

py::tuple ShapeTuple(const TensorInfo& t) {
  py::tuple out(t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) out[i] = py::int_(t.shape[i]);
  return out;
}

// What File.get_quantized returns.
struct QuantizedTensor {
  py::str name;
  py::tuple shape;
  py::str dtype;
  py::array codes;
  py::array scales;
  py::str scheme;
  uint32_t quant_block = 0;
  py::str codec;
  bool zero_copy = false;
};

// The quantization parameters, shaped by what they scale: (rows,) per
// channel, (rows, blocks per row) per block, flat otherwise.
py::array ScalesOf(const ReaderPtr& r, size_t index) {
  const TensorInfo& t = r->tensors()[index];
  std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(t.num_params)};
  if (t.quant == QuantKind::kBlock && t.quant_block > 0) {
    const uint64_t per_row = (t.cols() + t.quant_block - 1) / t.quant_block;
    if (t.rows() * per_row == t.num_params) {
      shape = {static_cast<py::ssize_t>(t.rows()), static_cast<py::ssize_t>(per_row)};
    }
  }
  py::array_t<float> scales(shape);
  float* out = scales.mutable_data();
  Check(WithoutGil([&] { return r->CopyParams(index, out, t.num_params); }));
  return std::move(scales);
}

// Checks the block checksums of a raw-coded tensor without keeping a copy:
// each block is decoded into one scratch block (the reader checks its
// stored and decoded checksums).
Status CheckRawBlocks(const Reader& r, size_t index) {
  const TensorInfo& t = r.tensors()[index];
  std::vector<uint8_t> scratch(std::min<uint64_t>(t.block_size, t.raw_size));
  for (uint32_t b = 0; b < t.block_count; ++b) {
    const uint64_t start = static_cast<uint64_t>(b) * t.block_size;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(t.block_size, t.raw_size - start));
    TQF_RETURN_IF_ERROR(r.DecodeBlock(index, b, scratch.data(), n));
  }
  return Status::OK();
}

class File {
 public:
  File(ReaderPtr reader, std::string path, bool verify_checksums)
      : reader_(std::move(reader)), path_(std::move(path)), verify_(verify_checksums) {}

  static File Open(py::handle path_arg, bool verify_checksums) {
    const std::string path = ToPath(path_arg);
    ReadOptions options;
    options.verify_checksums = verify_checksums;
    ReaderPtr reader = Unwrap(WithoutGil([&] { return Reader::Open(path, options); }));
    return File(std::move(reader), path, verify_checksums);
  }

  // The reader, or InvalidArgumentError (a ValueError) once closed.
  ReaderPtr reader() const {
    if (!reader_) ThrowInvalidArgument("I/O operation on a closed tqf file");
    return reader_;
  }
  void Close() { reader_.reset(); }
  bool closed() const { return reader_ == nullptr; }
  py::str path() const { return FileString(path_); }

  size_t Index(const ReaderPtr& r, py::handle name) const {
    return Unwrap(r->FindTensor(ToBytes(name, "tensor name")));
  }

  py::list Keys() const {
    ReaderPtr r = reader();
    py::list out(r->tensors().size());
    for (size_t i = 0; i < r->tensors().size(); ++i) out[i] = FileString(r->tensors()[i].name);
    return out;
  }

  bool Contains(py::handle name) const {
    if (!PyUnicode_Check(name.ptr()) && !PyBytes_Check(name.ptr())) return false;
    return reader()->FindTensor(ToBytes(name, "tensor name")).ok();
  }

  py::array GetTensor(py::handle name, std::optional<int> threads) const {
    ReaderPtr r = reader();
    const size_t index = Index(r, name);
    const int nthreads = ThreadsArg(threads);
    const TensorInfo& t = r->tensors()[index];
    py::array_t<float> out(ShapeOf(t));
    float* data = out.mutable_data();
    const size_t count = static_cast<size_t>(t.num_elements());
    Check(WithoutGil([&] { return r->DecodeTensorF32(index, data, count, nthreads); }));
    return std::move(out);
  }

  QuantizedTensor GetQuantized(py::handle name, std::optional<int> threads) const {
    ReaderPtr r = reader();
    const size_t index = Index(r, name);
    const int nthreads = ThreadsArg(threads);
    const TensorInfo& t = r->tensors()[index];
    const py::dtype dtype = StoredDType(t);
    if (t.raw_size != t.num_elements() * static_cast<uint64_t>(dtype.itemsize())) {
      throw StatusError(Status::Corruption(
          "tensor '" + t.name + "': raw size " + std::to_string(t.raw_size) +
          " != " + std::to_string(t.num_elements()) + " elements of " + DTypeName(t.dtype)));
    }
    QuantizedTensor q;
    q.name = FileString(t.name);
    q.shape = ShapeTuple(t);
    q.dtype = py::str(DTypeName(t.dtype));
    q.scheme = py::str(QuantKindName(t.quant));
    q.quant_block = t.quant_block;
    q.codec = py::str(CodecName(t.codec));
    q.scales = ScalesOf(r, index);
    // The raw codec stores the blocks' bytes back to back: the stream is
    // the array. Any other codec decodes into a fresh array.
    q.zero_copy = t.codec == CodecKind::kRaw && t.stored_size == t.raw_size;
    if (q.zero_copy) {
      if (verify_) Check(WithoutGil([&] { return CheckRawBlocks(*r, index); }));
      q.codes = py::array(dtype, ShapeOf(t), std::vector<py::ssize_t>{}, r->data() + t.data_offset,
                          KeepAlive(r));
      q.codes.attr("setflags")(py::arg("write") = false);  // the mapping is read-only
    } else {
      q.codes = py::array(dtype, ShapeOf(t));
      uint8_t* out = static_cast<uint8_t*>(q.codes.mutable_data());
      const size_t size = static_cast<size_t>(t.raw_size);
      Check(WithoutGil([&] { return r->DecodeTensor(index, out, size, nthreads); }));
    }
    return q;
  }

  py::object Inspect() const {
    const std::string json = InspectJson(*reader());
    return py::module_::import("json").attr("loads")(py::str(json));
  }

  py::dict Verify(std::optional<int> threads) const {
    ReaderPtr r = reader();
    const int nthreads = ThreadsArg(threads);
    const VerifyReport report = WithoutGil([&] { return r->Verify(nthreads); });
    py::list problems;
    for (const VerifyProblem& p : report.problems) {
      py::dict d;
      d["where"] = py::str(TerminalSafe(p.where));
      d["code"] = static_cast<int>(p.status.code());
      d["message"] = py::str(TerminalSafe(p.status.ToString()));
      problems.append(d);
    }
    py::dict out;
    out["ok"] = report.problems.empty();
    out["tensors_checked"] = report.tensors_checked;
    out["blocks_checked"] = report.blocks_checked;
    out["bytes_decoded"] = report.bytes_decoded;
    out["problems"] = problems;
    return out;
  }

  py::dict Metadata() const {
    ReaderPtr r = reader();
    py::dict d;
    for (const auto& [k, v] : r->model().metadata) d[FileString(k)] = FileString(v);
    return d;
  }

  std::string Repr() const {
    if (!reader_) return "<tqf.File '" + TerminalSafe(path_) + "' (closed)>";
    return "<tqf.File '" + TerminalSafe(path_) + "' (" + std::to_string(reader_->tensors().size()) +
           " tensors)>";
  }

 private:
  ReaderPtr reader_;  // null once closed
  std::string path_;
  bool verify_;
};

const char kFileDoc[] = R"doc(An open .tqf file, memory-mapped (made by tqf.open).

Use it as a context manager: `with tqf.open(path) as f: ...`. Leaving the block
closes the File; arrays it returned keep the mapping alive and stay valid.
All methods may be called from several threads at once.)doc";

}  // namespace

void BindFile(py::module_& m) {
  py::class_<QuantizedTensor>(m, "QuantizedTensor",
                              "A tensor as stored: integer codes and the scales that turn them "
                              "into values (File.get_quantized).")
      .def_readonly("name", &QuantizedTensor::name)
      .def_readonly("shape", &QuantizedTensor::shape)
      .def_readonly("dtype", &QuantizedTensor::dtype, "stored element type: i8, f32, f16, bf16")
      .def_readonly("codes", &QuantizedTensor::codes,
                    "the stored elements, shaped like the tensor: int8 codes for i8, the values "
                    "for f32/f16, uint16 bit patterns for bf16; read-only and zero-copy when "
                    "zero_copy is set")
      .def_readonly("scales", &QuantizedTensor::scales,
                    "float32 quantization parameters: (rows,) for channel, (rows, blocks) for "
                    "block, [scale, zero_point] for tensor-minmax, empty when unquantized")
      .def_readonly("scheme", &QuantizedTensor::scheme,
                    "quantizer: none, tensor-minmax, channel, block")
      .def_readonly("quant_block", &QuantizedTensor::quant_block)
      .def_readonly("codec", &QuantizedTensor::codec)
      .def_readonly("zero_copy", &QuantizedTensor::zero_copy,
                    "codes is a view into the file's mapping (raw codec)")
      .def("__repr__", [](const QuantizedTensor& q) {
        return "<tqf.QuantizedTensor " + std::string(py::repr(q.name)) + " " +
               std::string(py::str(q.dtype)) + " " + std::string(py::str(q.scheme)) + " " +
               std::string(py::str(q.codec)) + ">";
      });

  py::class_<File>(m, "File", kFileDoc)
      .def("keys", &File::Keys, "Tensor names, in file order.")
      .def("__len__", [](const File& f) { return f.reader()->tensors().size(); })
      .def("__iter__", [](const File& f) { return py::iter(f.Keys()); })
      .def("__contains__", &File::Contains)
      .def("get_tensor", &File::GetTensor, py::arg("name"), py::arg("threads") = py::none(),
           "The tensor dequantized to a new float32 array shaped like it: the values `tqf unpack "
           "--dtype f32` writes, bit for bit. Decodes on `threads` threads (None: all cores) "
           "with the GIL released. NotFoundError for an unknown name; CorruptionError or "
           "ChecksumMismatchError for damaged data.")
      .def("get_quantized", &File::GetQuantized, py::arg("name"), py::arg("threads") = py::none(),
           "The tensor as stored (a QuantizedTensor): codes, scales, scheme, quant_block, codec. "
           "With the raw codec, codes is a read-only view into the mapping (its block "
           "checksums checked first unless opened with verify_checksums=False); otherwise the "
           "streams are decoded into a new array.")
      .def("inspect", &File::Inspect,
           "What `tqf inspect FILE --json` prints, as a dict (the same text, parsed).")
      .def("verify", &File::Verify, py::arg("threads") = py::none(),
           "What `tqf verify` checks: every checksum, every block decoded (GIL released). "
           "Returns {'ok', 'tensors_checked', 'blocks_checked', 'bytes_decoded', 'problems': "
           "[{'where', 'code', 'message'}]}; a damaged file is reported, not raised.")
      .def("metadata", &File::Metadata, "The free key-value metadata, as a dict of str.")
      .def_property_readonly(
          "hparams", [](const File& f) { return HparamsDict(f.reader()->model().hparams); },
          "Architecture and hyperparameters, as a dict.")
      .def_property_readonly(
          "tokenizer", [](const File& f) { return TokenizerDict(f.reader()->model().tokenizer); },
          "The tokenizer stored in the file, as a dict: kind, vocab_size, tokens, scores, "
          "token_types, merges, pre_split_regex, bos/eos/pad/unk ids, add_bos, add_eos.")
      .def_property_readonly("path", &File::path)
      .def_property_readonly("closed", &File::closed)
      .def("close", &File::Close, "Drops this File's reference to the mapping.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__",
           [](File& f, py::args) {
             f.Close();
             return false;
           })
      .def("__repr__", &File::Repr);

  m.def("open", &File::Open, py::arg("path"), py::arg("verify_checksums") = true,
        "Opens and maps a .tqf, checking its structure (footer, header checksum, every "
        "extent). With verify_checksums, every block's checksums are checked as it is "
        "decoded. NotFoundError, IOError, CorruptionError, NotSupportedError or "
        "ChecksumMismatchError for a file that cannot be used.");
}

}  // namespace tqf::python
