// Running C++ work without the GIL, so other Python threads run meanwhile.
// The work must not touch Python objects (numpy buffers obtained before,
// held alive by the caller, are fine).
#ifndef TQF_PYTHON_GIL_H_
#define TQF_PYTHON_GIL_H_

#include <pybind11/pybind11.h>

#include <utility>

namespace tqf::python {

// Returns fn() computed with the GIL released (re-acquired before return).
template <typename Fn>
auto WithoutGil(Fn&& fn) {
  pybind11::gil_scoped_release nogil;
  return std::forward<Fn>(fn)();
}

}  // namespace tqf::python

#endif  // TQF_PYTHON_GIL_H_
