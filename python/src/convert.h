// Conversions between Python objects and the strings and paths tqf uses.
//
// Strings that come from a file (tensor names, metadata, vocabulary) may be
// any bytes: they become str with errors="surrogateescape", so every byte
// survives and a name read from keys() finds its tensor again. Text meant
// for people (detokenize, generation) is decoded with errors="replace".
//
// Thread-safety: call with the GIL held.
#ifndef TQF_PYTHON_CONVERT_H_
#define TQF_PYTHON_CONVERT_H_

#include <pybind11/pybind11.h>

#include <string>

#include "tqf/types.h"

namespace tqf::python {

// `s` (bytes from a file) as str, invalid UTF-8 kept as lone surrogates.
pybind11::str FileString(const std::string& s);
// `s` as str, invalid UTF-8 replaced by U+FFFD.
pybind11::str TextString(const std::string& s);
// A str (UTF-8, surrogateescape) or bytes argument as bytes; TypeError otherwise.
std::string ToBytes(pybind11::handle obj, const char* what);
// A path argument (str, bytes or os.PathLike) as the file system's bytes.
std::string ToPath(pybind11::handle obj);

// A model's hyperparameters and tokenizer as dicts (File.hparams,
// File.tokenizer, Model.hparams).
pybind11::dict HparamsDict(const Hyperparameters& h);
pybind11::dict TokenizerDict(const TokenizerData& t);

}  // namespace tqf::python

#endif  // TQF_PYTHON_CONVERT_H_
