// Strings and paths between Python and tqf (see convert.h).
#include "convert.h"

#include <pybind11/stl.h>

#include "errors.h"

namespace tqf::python {
namespace py = pybind11;

py::str FileString(const std::string& s) {
  PyObject* o =
      PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

py::str TextString(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

std::string ToBytes(py::handle obj, const char* what) {
  if (PyBytes_Check(obj.ptr())) return std::string(py::reinterpret_borrow<py::bytes>(obj));
  if (!PyUnicode_Check(obj.ptr())) {
    throw py::type_error(std::string(what) + " must be str or bytes, not " +
                         std::string(py::str(obj.get_type().attr("__name__"))));
  }
  PyObject* b = PyUnicode_AsEncodedString(obj.ptr(), "utf-8", "surrogateescape");
  if (b == nullptr) throw py::error_already_set();
  return std::string(py::reinterpret_steal<py::bytes>(b));
}

std::string ToPath(py::handle obj) {
  py::object encoded = py::module_::import("os").attr("fsencode")(obj);
  std::string path(py::reinterpret_borrow<py::bytes>(encoded));
  if (path.find('\0') != std::string::npos) ThrowInvalidArgument("path contains a NUL byte");
  if (path.empty()) ThrowInvalidArgument("empty path");
  return path;
}

py::dict HparamsDict(const Hyperparameters& h) {
  py::dict d;
  d["architecture"] = FileString(h.architecture);
  d["dim"] = h.dim;
  d["hidden_dim"] = h.hidden_dim;
  d["n_layers"] = h.n_layers;
  d["n_heads"] = h.n_heads;
  d["n_kv_heads"] = h.n_kv_heads;
  d["head_dim"] = h.head_dim;
  d["vocab_size"] = h.vocab_size;
  d["context_length"] = h.context_length;
  d["norm_eps"] = h.norm_eps;
  d["rope_theta"] = h.rope_theta;
  d["rope_scaling_factor"] = h.rope_scaling_factor;
  d["rope_low_freq_factor"] = h.rope_low_freq_factor;
  d["rope_high_freq_factor"] = h.rope_high_freq_factor;
  d["rope_original_context"] = h.rope_original_context;
  d["tied_embeddings"] = h.tied_embeddings;
  return d;
}

py::dict TokenizerDict(const TokenizerData& t) {
  py::dict d;
  d["kind"] = TokenizerKindName(t.kind);
  d["vocab_size"] = t.tokens.size();
  py::list tokens(t.tokens.size());
  for (size_t i = 0; i < t.tokens.size(); ++i) tokens[i] = FileString(t.tokens[i]);
  d["tokens"] = tokens;
  d["scores"] = t.scores;
  d["token_types"] = t.token_types;
  py::list merges(t.merges.size());
  for (size_t i = 0; i < t.merges.size(); ++i) merges[i] = FileString(t.merges[i]);
  d["merges"] = merges;
  d["pre_split_regex"] = FileString(t.pre_split_regex);
  d["bos_id"] = t.bos_id;
  d["eos_id"] = t.eos_id;
  d["pad_id"] = t.pad_id;
  d["unk_id"] = t.unk_id;
  d["add_bos"] = t.add_bos;
  d["add_eos"] = t.add_eos;
  return d;
}

}  // namespace tqf::python
