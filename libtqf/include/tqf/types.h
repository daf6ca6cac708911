// Enumerations and plain value types shared by the whole library: element
// types, quantizers, codecs, and the model description (hyperparameters and
// tokenizer) that a .tqf carries in its header.
//
// The numeric values of the enums are written into files: they are
// append-only and never reused (see format-spec/tqf-format.md).
//
// Thread-safety: plain values.
#ifndef TQF_TYPES_H_
#define TQF_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tqf/visibility.h"

namespace tqf {

// Element type of a tensor, in a source file or as stored in a .tqf.
enum class DType : uint8_t {
  kF32 = 0,
  kF16 = 1,
  kBF16 = 2,
  kI8 = 3,    // signed 8-bit, with quantization parameters
  kQ8_0 = 4,  // GGUF Q8_0 blocks (source files only)
  // ggml's other block types, as llama.cpp GGUFs hold them (source files
  // only: imported by dequantizing exactly as ggml does).
  kQ4_0 = 5,
  kQ4_1 = 6,
  kQ5_0 = 7,
  kQ5_1 = 8,
  kQ2_K = 9,
  kQ3_K = 10,
  kQ4_K = 11,
  kQ5_K = 12,
  kQ6_K = 13,
  kIQ4_NL = 14,
  kIQ4_XS = 15,
};
// The largest DType value this library knows.
constexpr uint8_t kMaxDType = 15;
TQF_EXPORT const char* DTypeName(DType t);
// Bytes per element for the fixed-width types; 0 for block types (Q8_0...).
TQF_EXPORT size_t DTypeSize(DType t);
// Bits per element as a source file stores the type, block scales included
// (32 for F32, 8.5 for Q8_0, 4.5 for Q4_K).
TQF_EXPORT double DTypeBits(DType t);

// How a tensor's values were mapped to int8 (kNone: stored unquantized).
//   kTensorMinMax: x = scale * (q - zero_point), one (scale, zero_point) per
//                  tensor, the paper's asymmetric 256-level quantizer;
//                  params = {scale, zero_point}.
//   kChannel:      x = scale[row] * q, q in [-127, 127], one scale per output
//                  row (first dimension); params = scales, one per row.
//   kBlock:        x = scale[b] * q, q in [-127, 127], one scale per block
//                  of `quant_block` consecutive elements of a row (a row's
//                  last block may be short); params = scales, row-major.
enum class QuantKind : uint8_t {
  kNone = 0,
  kTensorMinMax = 1,
  kChannel = 2,
  kBlock = 3,
};
TQF_EXPORT const char* QuantKindName(QuantKind q);

// Codecs that turn a tensor's stored bytes into codeword streams.
enum class CodecKind : uint8_t {
  kRaw = 0,        // bytes stored as they are
  kDict4 = 1,      // the paper's fixed 4-byte-group dictionary code
  kRans = 2,       // interleaved static rANS, near order-0 entropy (format-spec/codec-rans.md)
  kRansAlias = 3,  // the same with alias-method slot layout (faster decode; format 1.1)
  // One byte per `dim` elements, the index of a codebook vector, coded with
  // rans-alias and expanded through the tensor's codebook (format 1.2).
  kRansAliasVq = 4,
};

// How a tensor's quantization parameters are stored (format 1.2).
//   kF32:  4 bytes each, little-endian.
//   kLog8: an f32 `base`, then one byte per parameter: code 0 is 0, code c
//          is Log8Scale(base, c) = base * 2^((c - 128) / 16) (see
//          quantize.h). 8 bits a scale instead of 32, with 4.4% steps that
//          quantizers choose from directly, so storing them is exact.
enum class ParamsFormat : uint8_t {
  kF32 = 0,
  kLog8 = 1,
};
TQF_EXPORT const char* ParamsFormatName(ParamsFormat f);
// Stored bytes of `n` params in format `f`.
TQF_EXPORT uint64_t ParamsBytes(ParamsFormat f, uint64_t n);

enum class TokenizerKind : uint8_t {
  kNone = 0,
  kSentencePieceBpe = 1,  // Llama 2 / llama2.c: tokens with scores, <0xNN> byte fallback
  kByteLevelBpe = 2,      // Llama 3 / GPT-2: byte-to-unicode vocabulary with ranked merges
};
TQF_EXPORT const char* TokenizerKindName(TokenizerKind k);

// Architecture and hyperparameters of a LLaMA-family model. Fields a model
// does not have stay 0. Matrices are (out, in) row-major in a .tqf.
struct Hyperparameters {
  std::string architecture;  // "llama", or the source's name (e.g. "gpt2")
  uint32_t dim = 0;          // embedding width
  uint32_t hidden_dim = 0;   // feed-forward width
  uint32_t n_layers = 0;
  uint32_t n_heads = 0;
  uint32_t n_kv_heads = 0;
  uint32_t head_dim = 0;  // dim / n_heads unless the model says otherwise
  uint32_t vocab_size = 0;
  uint32_t context_length = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  // Llama 3 rope scaling ("llama3" rope type); rope_scaling_factor 0 = off.
  float rope_scaling_factor = 0.0f;
  float rope_low_freq_factor = 0.0f;
  float rope_high_freq_factor = 0.0f;
  uint32_t rope_original_context = 0;
  bool tied_embeddings = false;  // output head reuses token_embd.weight
};

// Everything a runtime needs to tokenize, taken from the source model.
struct TokenizerData {
  TokenizerKind kind = TokenizerKind::kNone;
  std::vector<std::string> tokens;   // id -> token bytes (as the source spells them)
  std::vector<float> scores;         // SentencePiece scores (empty or one per token)
  std::vector<int32_t> token_types;  // GGUF token types (empty or one per token)
  std::vector<std::string> merges;   // byte-level BPE merges "a b", rank order
  std::string pre_split_regex;       // byte-level BPE pre-tokenizer pattern
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  // Every id that ends generation (eos_id among them), when the source
  // names several (Llama 3 instruct: <|end_of_text|>, <|eom_id|>,
  // <|eot_id|>); empty: eos_id alone. Stored in the .tqf header as the
  // metadata entry "tokenizer.stop_ids" (the schema has one eos_id).
  std::vector<int32_t> stop_ids;
  int32_t pad_id = -1;
  int32_t unk_id = -1;
  bool add_bos = true;
  bool add_eos = false;
};

// The model description stored in a .tqf header.
struct ModelInfo {
  Hyperparameters hparams;
  TokenizerData tokenizer;
  // Free key-value metadata (source name, licence, importer notes...).
  std::vector<std::pair<std::string, std::string>> metadata;
};

}  // namespace tqf

#endif  // TQF_TYPES_H_
