// tqf.Error and its subclasses (see errors.h).
#include "errors.h"

#include <array>

#include "tqf/internal/text.h"

namespace tqf::python {
namespace py = pybind11;
namespace {

struct ErrorClass {
  StatusCode code;
  const char* name;        // attribute of the module
  PyObject* builtin_base;  // a standard exception to derive from too, or nullptr
  const char* doc;
};

// One class per StatusCode (append-only, like the codes).
const std::array<ErrorClass, 8> kErrorClasses = {{
    {StatusCode::kCorruption, "CorruptionError", nullptr,
     "The bytes of a file are malformed (bad magic, structure, a stream that does not decode)."},
    {StatusCode::kNotSupported, "NotSupportedError", nullptr,
     "Well-formed, but a feature or type this build does not handle (a newer format, an "
     "unknown codec, an option not implemented yet)."},
    {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
     "The caller passed something unusable (also a ValueError)."},
    {StatusCode::kIOError, "IOError", PyExc_OSError,
     "The operating system said no, or a mapped file changed while in use (also an OSError)."},
    {StatusCode::kNotFound, "NotFoundError", nullptr,
     "A named thing (file, tensor, service) does not exist."},
    {StatusCode::kChecksumMismatch, "ChecksumMismatchError", nullptr,
     "Bytes are structurally intact but a stored checksum differs."},
    {StatusCode::kResourceExhausted, "ResourceExhaustedError", nullptr,
     "A size exceeds what can be allocated, or a budget."},
    {StatusCode::kCancelled, "CancelledError", nullptr, "The operation was interrupted."},
}};

// Created once at import; owned by the module for the interpreter's life.
PyObject* g_base = nullptr;
std::array<PyObject*, kErrorClasses.size()> g_classes{};

PyObject* ClassFor(StatusCode code) {
  for (size_t i = 0; i < kErrorClasses.size(); ++i) {
    if (kErrorClasses[i].code == code) return g_classes[i];
  }
  return g_base;
}

void Raise(const Status& status) {
  PyObject* cls = ClassFor(status.code());
  // As the `tqf` command prints it: escaped for a terminal (names quoted
  // from a hostile file may hold control characters or invalid UTF-8).
  py::str text(TerminalSafe(status.ToString()));
  py::object exc =
      py::reinterpret_steal<py::object>(PyObject_CallFunctionObjArgs(cls, text.ptr(), nullptr));
  if (!exc) return;  // the call set an error (MemoryError): raise that
  exc.attr("code") = static_cast<int>(status.code());
  exc.attr("message") = py::str(TerminalSafe(status.message()));
  PyErr_SetObject(cls, exc.ptr());
}

}  // namespace

void BindErrors(py::module_& m) {
  g_base = PyErr_NewExceptionWithDoc(
      "tqf.Error",
      "Base of every error tqf raises. str(e) is the message `tqf` prints after `tqf CMD: `; "
      "e.code is the tqf::StatusCode number and e.message the message without the code name.",
      PyExc_Exception, nullptr);
  if (g_base == nullptr) throw py::error_already_set();
  m.attr("Error") = py::handle(g_base);
  for (size_t i = 0; i < kErrorClasses.size(); ++i) {
    const ErrorClass& c = kErrorClasses[i];
    py::tuple bases = c.builtin_base
                          ? py::make_tuple(py::handle(g_base), py::handle(c.builtin_base))
                          : py::make_tuple(py::handle(g_base));
    const std::string qualified = std::string("tqf.") + c.name;
    g_classes[i] = PyErr_NewExceptionWithDoc(qualified.c_str(), c.doc, bases.ptr(), nullptr);
    if (g_classes[i] == nullptr) throw py::error_already_set();
    m.attr(c.name) = py::handle(g_classes[i]);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const StatusError& e) {
      Raise(e.status());
    }
  });
}

}  // namespace tqf::python
