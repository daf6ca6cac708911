#include "tqf/types.h"

#include "import/ggml_blocks.h"
#include "tqf/version.h"

namespace tqf {

const char* VersionString() { return TQF_VERSION_STRING; }

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kQ8_0: return "q8_0";
    case DType::kQ4_0: return "q4_0";
    case DType::kQ4_1: return "q4_1";
    case DType::kQ5_0: return "q5_0";
    case DType::kQ5_1: return "q5_1";
    case DType::kQ2_K: return "q2_K";
    case DType::kQ3_K: return "q3_K";
    case DType::kQ4_K: return "q4_K";
    case DType::kQ5_K: return "q5_K";
    case DType::kQ6_K: return "q6_K";
    case DType::kIQ4_NL: return "iq4_nl";
    case DType::kIQ4_XS: return "iq4_xs";
  }
  return "unknown";
}

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI8: return 1;
    default: return 0;  // block types
  }
  return 0;
}

double DTypeBits(DType t) {
  if (const ggml::BlockType* bt = ggml::FindByDType(t)) return ggml::BitsPerWeight(*bt);
  return 8.0 * static_cast<double>(DTypeSize(t));
}

const char* QuantKindName(QuantKind q) {
  switch (q) {
    case QuantKind::kNone: return "none";
    case QuantKind::kTensorMinMax: return "tensor-minmax";
    case QuantKind::kChannel: return "channel";
    case QuantKind::kBlock: return "block";
  }
  return "unknown";
}

const char* ParamsFormatName(ParamsFormat f) {
  switch (f) {
    case ParamsFormat::kF32: return "f32";
    case ParamsFormat::kLog8: return "log8";
  }
  return "unknown";
}

uint64_t ParamsBytes(ParamsFormat f, uint64_t n) {
  if (n == 0) return 0;
  return f == ParamsFormat::kLog8 ? 4 + n : 4 * n;
}

const char* TokenizerKindName(TokenizerKind k) {
  switch (k) {
    case TokenizerKind::kNone: return "none";
    case TokenizerKind::kSentencePieceBpe: return "sentencepiece-bpe";
    case TokenizerKind::kByteLevelBpe: return "byte-level-bpe";
  }
  return "unknown";
}

}  // namespace tqf
