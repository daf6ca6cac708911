// Builds small .tqf files in memory for the format tests, and rewrites
// pieces of them (preamble, footer, header tables) with checksums fixed up,
// so a test can reach one specific check behind all the others.
#ifndef TQF_TESTS_TQF_FILE_BUILDER_H_
#define TQF_TESTS_TQF_FILE_BUILDER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/layout.h"
#include "tqf/writer.h"
#include "tqf_header_generated.h"

namespace tqf::testing {

// A deterministic small model: a few int8/f32 tensors with the given codec.
struct SmallModel {
  ModelInfo info;
  struct T {
    TensorSpec spec;
    std::vector<uint8_t> data;
    std::vector<float> params;
    std::vector<uint8_t> indices;  // rans-alias-vq: the vector index of each dim bytes
  };
  std::vector<T> tensors;
  struct Codebook {
    uint32_t dim = 0, entries = 0;
    std::vector<int8_t> vectors;
  };
  std::vector<Codebook> codebooks;  // format 1.2
};
SmallModel MakeSmallModel(CodecKind codec, uint32_t seed = 1);
// Format 1.2's features, from hand-made codes (independent of the
// quantizers): log8 params (block and row scales), codebooks and codec
// rans-alias-vq, the informative quantizer names, an f32-step tensor.
SmallModel MakeLowBitModel(uint32_t seed = 1);

// Writes `m` to `path` with `block_size`; the dictionary (if the codec needs
// one) is built from the tensors (for rans-alias-vq, from their indices:
// a rans-alias table).
void WriteSmallModel(const SmallModel& m, const std::string& path, uint32_t block_size = 1024,
                     const std::string& writer_name = "");

std::vector<uint8_t> ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes);

// Rewrites the preamble/footer through a callback; checksums recomputed.
void PatchPreamble(std::vector<uint8_t>* file, const std::function<void(format::Preamble*)>& fn);
void PatchFooter(std::vector<uint8_t>* file, const std::function<void(format::Footer*)>& fn);
// Replaces the header by the callback's edit of it: the new header is
// written where the old one was (the file grows or shrinks), and footer,
// preamble and checksums are fixed so that only the edit is wrong.
void PatchHeader(std::vector<uint8_t>* file, const std::function<void(fb::HeaderT*)>& fn);

}  // namespace tqf::testing

#endif  // TQF_TESTS_TQF_FILE_BUILDER_H_
