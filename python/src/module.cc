// The `tqf._tqf` extension module, re-exported by the `tqf` package
// (python/tqf/__init__.py): files (file.cc), models (model.cc), packing
// (pack.cc) and the error classes (errors.cc).
//
// Signals: the module installs no SIGINT/SIGTERM/SIGHUP handlers (Python's
// own stay in charge; long calls check for Ctrl-C between tensors, tokens
// and perplexity windows). It does install tqf's SIGBUS handler
// (InstallMappedFileFaultHandler) at import: a .tqf truncated or rewritten
// in place while mapped then makes decoding raise tqf.IOError ("model file
// changed while in use") instead of killing the interpreter. The handler
// acts only on faults inside tqf's guarded reads and passes every other
// SIGBUS to the handler it replaced (faulthandler's, or the default).
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "errors.h"
#include "tqf/signals.h"
#include "tqf/version.h"

PYBIND11_MODULE(_tqf, m) {
  m.doc() = "tqf: compressed single-file LLaMA models (.tqf) - read, pack and run them.";
  m.attr("__version__") = TQF_VERSION_STRING;
  tqf::InstallMappedFileFaultHandler();
  tqf::python::BindErrors(m);
  tqf::python::BindFile(m);
  tqf::python::BindModel(m);
  tqf::python::BindPack(m);
}
