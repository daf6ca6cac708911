// Importers: read a model from GGUF v3, safetensors (+ config.json and
// tokenizer.json beside it), or a llama2.c checkpoint (+ tokenizer.bin) into
// a SourceModel with canonical tensor names and (out, in) row-major shapes.
// Hugging Face checkpoints may be sharded (model.safetensors.index.json).
//
// Canonical names for LLaMA models (the GGUF convention):
//   token_embd.weight, output_norm.weight, output.weight,
//   blk.N.{attn_norm,attn_q,attn_k,attn_v,attn_output,
//          ffn_norm,ffn_gate,ffn_up,ffn_down}.weight
// Q and K projections follow GGUF's layout (rotary pairs adjacent, as
// llama.cpp's converter permutes Hugging Face weights). Other architectures
// keep their source names.
//
// Ownership: a SourceModel owns the mappings of its source files
// (`keep_alive`); the tensors' `data` pointers stay valid while it, or a
// copy of it, lives.
// Thread-safety: a SourceModel may be read from many threads.
#ifndef TQF_IMPORT_H_
#define TQF_IMPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tqf/result.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

struct SourceTensor {
  std::string name;               // canonical name
  std::vector<uint64_t> shape;    // row-major, outermost first
  DType dtype = DType::kF32;      // F32, F16, BF16 or a ggml block type (Q8_0, Q4_K...)
  const uint8_t* data = nullptr;  // into a mapping the SourceModel owns
  size_t size = 0;                // bytes at data

  uint64_t num_elements() const;
  // rows = shape[0] for ndim >= 2 (product of all but the last dim), else 1;
  // cols = last dim.
  uint64_t rows() const;
  uint64_t cols() const;
  // Decodes the elements to fp32 into out[0..num_elements()).
  Status ToF32(float* out) const;
};

struct SourceModel {
  std::string format;  // "gguf", "safetensors", "llama2c"
  std::string path;
  ModelInfo info;
  std::vector<SourceTensor> tensors;
  uint64_t file_bytes = 0;  // size of the weights file(s) read
  // Owns what the tensors' `data` point into: the mappings of the source
  // files and any tensor bytes the importer rewrote (e.g. Hugging Face q/k
  // rows permuted to the GGUF layout). Copies of a SourceModel share it.
  std::shared_ptr<const void> keep_alive;
};

struct ImportOptions {
  // llama2.c: tokenizer.bin path. Empty: "tokenizer.bin" beside the
  // checkpoint, then tok<vocab_size>.bin beside it.
  std::string tokenizer_path;
};

// Detects the format of `path` from its content (GGUF magic; safetensors
// header; otherwise a llama2.c checkpoint if its header is consistent with
// its size) and imports it. A directory is read as a Hugging Face model
// directory (model.safetensors.index.json and its shards, or
// model.safetensors; config.json and tokenizer.json required,
// generation_config.json optional); a path ending in
// ".safetensors.index.json" as a sharded checkpoint's index. Shards are
// memory-mapped, never copied whole. kNotSupported for unknown formats or tensor
// types, kCorruption for malformed files, kNotFound for missing files.
TQF_EXPORT Result<SourceModel> ImportModel(const std::string& path,
                                           const ImportOptions& options = {});

TQF_EXPORT Result<SourceModel> ImportGguf(const std::string& path);
TQF_EXPORT Result<SourceModel> ImportSafetensors(const std::string& path);
TQF_EXPORT Result<SourceModel> ImportLlama2c(const std::string& path,
                                             const ImportOptions& options = {});

// Reads a tokenizer on its own: a llama2.c tokenizer.bin (SentencePiece
// BPE with scores) or a Hugging Face tokenizer.json: byte-level BPE (merges,
// added/special tokens, the pre-tokenizer regex), or SentencePiece-style BPE
// with byte_fallback (Llama 2, TinyLlama, Mistral), read as kSentencePieceBpe
// with scores derived from the merge ranks (score = -rank).
TQF_EXPORT Result<TokenizerData> ImportTokenizer(const std::string& path);

}  // namespace tqf

#endif  // TQF_IMPORT_H_
