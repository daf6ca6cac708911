// Hugging Face config.json support for the safetensors importer (internal):
// LlamaForCausalLM hyperparameters, HF -> GGUF tensor names, and the q/k row
// permutation of llama.cpp's convert_hf_to_gguf.py.
#ifndef TQF_IMPORT_HF_LLAMA_H_
#define TQF_IMPORT_HF_LLAMA_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "tqf/import.h"

namespace tqf::hf {

// Reads `config_path`. For a llama model (model_type "llama" or
// architectures containing "LlamaForCausalLM") fills m->info.hparams,
// renames the tensors to canonical names and permutes attn_q / attn_k rows
// into m->buffers. Other architectures only set hparams.architecture.
// kCorruption for malformed JSON or inconsistent shapes.
Status ApplyConfig(const std::string& config_path, SourceModel* m);

// Rows of a (rows x row_bytes) matrix reordered as
// reshape(n_head, 2, rows/n_head/2, ...).swapaxes(1, 2): output row
// h*hd + j*2 + i takes input row h*hd + i*hd/2 + j (hd = rows/n_head).
// Precondition: rows % (2*n_head) == 0; src and dst do not overlap.
void PermuteRows(const uint8_t* src, uint8_t* dst, size_t rows, size_t row_bytes, size_t n_head);

}  // namespace tqf::hf

#endif  // TQF_IMPORT_HF_LLAMA_H_
