// ExportGguf: .tqf -> GGUF v3 (dequantized tensors, llama.* and tokenizer keys).
#include "tqf/export_gguf.h"

#include <set>

#include "tqf/gguf_writer.h"
#include "tqf/quantize.h"

namespace tqf {

namespace {

Status WriteMetadata(GgufWriter& w, const ModelInfo& m) {
  const Hyperparameters& h = m.hparams;
  const std::string arch = h.architecture.empty() ? "llama" : h.architecture;
  TQF_RETURN_IF_ERROR(w.SetString("general.architecture", arch));
  const std::string p = arch + ".";
  if (h.dim) TQF_RETURN_IF_ERROR(w.SetU32(p + "embedding_length", h.dim));
  if (h.hidden_dim) TQF_RETURN_IF_ERROR(w.SetU32(p + "feed_forward_length", h.hidden_dim));
  if (h.n_layers) TQF_RETURN_IF_ERROR(w.SetU32(p + "block_count", h.n_layers));
  if (h.n_heads) TQF_RETURN_IF_ERROR(w.SetU32(p + "attention.head_count", h.n_heads));
  if (h.n_kv_heads) TQF_RETURN_IF_ERROR(w.SetU32(p + "attention.head_count_kv", h.n_kv_heads));
  if (h.head_dim) TQF_RETURN_IF_ERROR(w.SetU32(p + "rope.dimension_count", h.head_dim));
  if (h.context_length) TQF_RETURN_IF_ERROR(w.SetU32(p + "context_length", h.context_length));
  if (h.vocab_size) TQF_RETURN_IF_ERROR(w.SetU32(p + "vocab_size", h.vocab_size));
  TQF_RETURN_IF_ERROR(w.SetF32(p + "attention.layer_norm_rms_epsilon", h.norm_eps));
  TQF_RETURN_IF_ERROR(w.SetF32(p + "rope.freq_base", h.rope_theta));
  if (h.rope_scaling_factor > 0) {
    TQF_RETURN_IF_ERROR(w.SetString(p + "rope.scaling.type", "llama3"));
    TQF_RETURN_IF_ERROR(w.SetF32(p + "rope.scaling.factor", h.rope_scaling_factor));
    TQF_RETURN_IF_ERROR(w.SetF32(p + "rope.scaling.low_freq_factor", h.rope_low_freq_factor));
    TQF_RETURN_IF_ERROR(w.SetF32(p + "rope.scaling.high_freq_factor", h.rope_high_freq_factor));
    TQF_RETURN_IF_ERROR(w.SetU32(p + "rope.scaling.original_context_length", h.rope_original_context));
  }
  const TokenizerData& t = m.tokenizer;
  if (t.kind != TokenizerKind::kNone) {
    TQF_RETURN_IF_ERROR(w.SetString("tokenizer.ggml.model",
                                    t.kind == TokenizerKind::kByteLevelBpe ? "gpt2" : "llama"));
    TQF_RETURN_IF_ERROR(w.SetStringArray("tokenizer.ggml.tokens", t.tokens));
    if (!t.scores.empty()) TQF_RETURN_IF_ERROR(w.SetF32Array("tokenizer.ggml.scores", t.scores));
    if (!t.token_types.empty()) TQF_RETURN_IF_ERROR(w.SetI32Array("tokenizer.ggml.token_type", t.token_types));
    if (!t.merges.empty()) TQF_RETURN_IF_ERROR(w.SetStringArray("tokenizer.ggml.merges", t.merges));
    if (t.bos_id >= 0) TQF_RETURN_IF_ERROR(w.SetU32("tokenizer.ggml.bos_token_id", t.bos_id));
    if (t.eos_id >= 0) TQF_RETURN_IF_ERROR(w.SetU32("tokenizer.ggml.eos_token_id", t.eos_id));
    if (t.unk_id >= 0) TQF_RETURN_IF_ERROR(w.SetU32("tokenizer.ggml.unknown_token_id", t.unk_id));
    if (t.pad_id >= 0) TQF_RETURN_IF_ERROR(w.SetU32("tokenizer.ggml.padding_token_id", t.pad_id));
    TQF_RETURN_IF_ERROR(w.SetBool("tokenizer.ggml.add_bos_token", t.add_bos));
    TQF_RETURN_IF_ERROR(w.SetBool("tokenizer.ggml.add_eos_token", t.add_eos));
  }
  // Free metadata, except keys written above from typed fields.
  std::set<std::string> seen;
  for (const auto& [k, v] : m.metadata) {
    if (k.empty() || k.rfind(p, 0) == 0 || k.rfind("tokenizer.ggml.", 0) == 0 ||
        k == "general.architecture" || k == "general.alignment" || !seen.insert(k).second) {
      continue;
    }
    TQF_RETURN_IF_ERROR(w.SetString(k, v));
  }
  return Status::OK();
}

}  // namespace

Status ExportGguf(const Reader& reader, const std::string& path, const ExportOptions& options) {
  if (options.dtype != DType::kF32 && options.dtype != DType::kF16) {
    return Status::InvalidArgument(std::string("cannot export tensors as ") + DTypeName(options.dtype) +
                                   " (f32 or f16)");
  }
  TQF_ASSIGN_OR_RETURN(auto w, GgufWriter::Create(path));
  TQF_RETURN_IF_ERROR(WriteMetadata(*w, reader.model()));
  const auto& tensors = reader.tensors();
  for (const TensorInfo& t : tensors) {
    // Norms and other 1-D tensors stay f32 (GGUF convention).
    DType dt = t.shape.size() < 2 ? DType::kF32 : options.dtype;
    TQF_RETURN_IF_ERROR(w->AddTensor(t.name, t.shape, dt).WithContext("tensor '" + t.name + "'"));
  }
  std::vector<float> values;
  std::vector<uint16_t> halves;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    try {
      values.resize(t.num_elements());
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate its f32 copy");
    }
    TQF_RETURN_IF_ERROR(reader.DecodeTensorF32(i, values.data(), values.size(), options.threads));
    if (t.shape.size() < 2 || options.dtype == DType::kF32) {
      TQF_RETURN_IF_ERROR(w->WriteData(values.data(), values.size() * sizeof(float)));
    } else {
      halves.resize(values.size());
      for (size_t k = 0; k < values.size(); ++k) halves[k] = F32ToF16(values[k]);
      TQF_RETURN_IF_ERROR(w->WriteData(halves.data(), halves.size() * sizeof(uint16_t)));
    }
    if (options.progress) options.progress(i + 1, tensors.size());
  }
  return w->Finish();
}

}  // namespace tqf
