// The parts of the `tqf._tqf` extension module, each defined in its own
// file and called once from module.cc.
#ifndef TQF_PYTHON_BINDINGS_H_
#define TQF_PYTHON_BINDINGS_H_

#include <pybind11/pybind11.h>

namespace tqf::python {

void BindFile(pybind11::module_& m);   // file.cc: tqf.open, File, QuantizedTensor
void BindModel(pybind11::module_& m);  // model.cc: Model, GenerationStream
void BindPack(pybind11::module_& m);   // pack.cc: tqf.pack

}  // namespace tqf::python

#endif  // TQF_PYTHON_BINDINGS_H_
