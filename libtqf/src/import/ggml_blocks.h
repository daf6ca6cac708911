// ggml's quantized block types (the weight types of llama.cpp GGUFs),
// decoded to f32 exactly as ggml's reference dequantizers decode them: the
// same integer unpacking, the same f16 scales, and the same float operations
// in the same order, so every value is bit-identical (the file is compiled
// with -ffp-contract=off so no multiply-add is fused). Internal to libtqf.
//
// Thread-safety: pure functions over caller-owned buffers.
#ifndef TQF_IMPORT_GGML_BLOCKS_H_
#define TQF_IMPORT_GGML_BLOCKS_H_

#include <cstddef>
#include <cstdint>

#include "tqf/types.h"

namespace tqf::ggml {

// One ggml block type: its ggml type number, name, elements and bytes per
// block, nominal bits per weight (bytes * 8 / elements), and its decoder,
// which writes `blocks * elements` floats from `blocks * bytes` bytes.
struct BlockType {
  uint32_t ggml_type;
  DType dtype;
  const char* name;
  uint32_t elements;
  uint32_t bytes;
  void (*decode)(const uint8_t* src, size_t blocks, float* dst);
};

// The block type for a ggml type number, or nullptr (F32/F16/BF16 and the
// types tqf does not import are not block types here).
const BlockType* FindByGgmlType(uint32_t ggml_type);
// The block type a DType names, or nullptr for element types (F32...).
const BlockType* FindByDType(DType dtype);

// Bits per weight of a block type (e.g. 4.5 for Q4_0 and Q4_K).
inline double BitsPerWeight(const BlockType& t) { return 8.0 * t.bytes / t.elements; }

}  // namespace tqf::ggml

#endif  // TQF_IMPORT_GGML_BLOCKS_H_
