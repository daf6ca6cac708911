// The JSON description of an open .tqf that `tqf inspect --json` prints and
// the Python module's File.inspect() returns: written once here so the two
// cannot drift apart.
//
// Fields: format_version, writer, file_size, compat_flags, incompat_flags,
// model (hyperparameters), tokenizer (kind, counts, bos/eos, add_bos),
// metadata, sections, dictionaries, codebooks, weight_bits (the weight
// matrices' bits per weight, MeasureWeightBits), and one object per tensor
// (name, shape, dtypes, quantizer, codec, sizes, blocks, ratio and bits per
// weight to 4 decimals, params format, codebook, scheme). Strings from the file go through
// JsonEscape, so the text is always valid JSON. Thread-safety: reads the Reader's const tables
// only.
#ifndef TQF_INTERNAL_INSPECT_JSON_H_
#define TQF_INTERNAL_INSPECT_JSON_H_

#include <string>

#include "tqf/reader.h"

namespace tqf {

// The JSON text (multi-line, ending in a newline) describing `reader`.
std::string InspectJson(const Reader& reader);

// Bytes a tensor occupies in the file: stream + stored params (not its
// seek index).
uint64_t TensorStoredBytes(const TensorInfo& t);
// What made a tensor: the scheme its writer recorded ("q4a-g32"), else its
// stored form ("channel"). Untrusted text: escape before printing.
std::string TensorScheme(const TensorInfo& t);

}  // namespace tqf

#endif  // TQF_INTERNAL_INSPECT_JSON_H_
