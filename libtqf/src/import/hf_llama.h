// Hugging Face config.json support for the safetensors importer (internal):
// LlamaForCausalLM hyperparameters, HF -> GGUF tensor names, and the q/k row
// permutation of llama.cpp's convert_hf_to_gguf.py.
#ifndef TQF_IMPORT_HF_LLAMA_H_
#define TQF_IMPORT_HF_LLAMA_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tqf/import.h"

namespace tqf::hf {

// Reads `config_path`. For a llama model (model_type "llama" or
// architectures containing "LlamaForCausalLM") fills m->info.hparams,
// renames the tensors to canonical names and permutes attn_q / attn_k rows
// into m->buffers. Other architectures only set hparams.architecture.
// kCorruption for malformed JSON or inconsistent shapes.
Status ApplyConfig(const std::string& config_path, SourceModel* m);

// kNotFound naming `dir`config.json or `dir`tokenizer.json when either is
// missing. `dir` is empty or ends in '/'.
Status RequireSidecars(const std::string& dir);

// Applies what lies in `dir` (empty or ending in '/') beside the weights:
// config.json (ApplyConfig), tokenizer.json (an unsupported one becomes an
// "import.note" metadata entry) and generation_config.json (its
// eos_token_id, an int or a list, becomes tokenizer.eos_id = the first and
// tokenizer.stop_ids = all). kCorruption for malformed files.
Status ApplySidecars(const std::string& dir, SourceModel* m);

// generation_config.json's eos_token_id as a list (empty when absent or
// null). kCorruption for malformed JSON or non-id entries.
Result<std::vector<int32_t>> ReadGenerationStopIds(const std::string& path);

// A sharded checkpoint: `index_path` names model.safetensors.index.json;
// its weight_map's shards are memory-mapped (kept alive by the result) and
// merged into one model, then ApplySidecars. kCorruption naming the file and
// tensor for a shard path outside the directory, a tensor missing from its
// shard, in two shards or not in weight_map; kNotFound for a missing shard
// or a missing config.json / tokenizer.json.
Result<SourceModel> ImportSafetensorsIndex(const std::string& index_path);

// A Hugging Face model directory: model.safetensors.index.json if present,
// else model.safetensors; both need config.json and tokenizer.json.
Result<SourceModel> ImportDirectory(const std::string& dir);

bool IsDirectory(const std::string& path);

// Rows of a (rows x row_bytes) matrix reordered as
// reshape(n_head, 2, rows/n_head/2, ...).swapaxes(1, 2): output row
// h*hd + j*2 + i takes input row h*hd + i*hd/2 + j (hd = rows/n_head).
// Precondition: rows % (2*n_head) == 0; src and dst do not overlap.
void PermuteRows(const uint8_t* src, uint8_t* dst, size_t rows, size_t row_bytes, size_t n_head);

}  // namespace tqf::hf

#endif  // TQF_IMPORT_HF_LLAMA_H_
