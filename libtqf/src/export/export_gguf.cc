// ExportGguf: .tqf -> GGUF v3 (dequantized tensors, <arch>.* and tokenizer keys),
// and the metadata writer `tqf synth` shares.
#include "tqf/export_gguf.h"

#include <set>

#include "tqf/gguf_writer.h"
#include "tqf/internal/gguf_keys.h"
#include "tqf/internal/half.h"
#include "tqf/internal/pretokenizer.h"
#include "tqf/quantize.h"

namespace tqf {

namespace {

// Token ids are written only when they name a token.
Status SetId(GgufWriter* w, GgufKey key, int32_t id) {
  return id >= 0 ? w->SetU32(GgufKeyName(key), static_cast<uint32_t>(id)) : Status::OK();
}

Status WriteHparams(const Hyperparameters& h, const std::string& arch, GgufWriter* w) {
  auto u32 = [&](GgufKey key, uint32_t v) {
    return v != 0 ? w->SetU32(GgufKeyName(key, arch), v) : Status::OK();
  };
  TQF_RETURN_IF_ERROR(u32(GgufKey::kEmbeddingLength, h.dim));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kFeedForwardLength, h.hidden_dim));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kBlockCount, h.n_layers));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kHeadCount, h.n_heads));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kHeadCountKv, h.n_kv_heads));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kRopeDimensionCount, h.head_dim));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kContextLength, h.context_length));
  TQF_RETURN_IF_ERROR(u32(GgufKey::kVocabSize, h.vocab_size));
  TQF_RETURN_IF_ERROR(w->SetF32(GgufKeyName(GgufKey::kRmsEpsilon, arch), h.norm_eps));
  TQF_RETURN_IF_ERROR(w->SetF32(GgufKeyName(GgufKey::kRopeFreqBase, arch), h.rope_theta));
  if (h.rope_scaling_factor > 0) {
    TQF_RETURN_IF_ERROR(w->SetString(GgufKeyName(GgufKey::kRopeScalingType, arch), "llama3"));
    TQF_RETURN_IF_ERROR(
        w->SetF32(GgufKeyName(GgufKey::kRopeScalingFactor, arch), h.rope_scaling_factor));
    TQF_RETURN_IF_ERROR(
        w->SetF32(GgufKeyName(GgufKey::kRopeScalingLowFreqFactor, arch), h.rope_low_freq_factor));
    TQF_RETURN_IF_ERROR(
        w->SetF32(GgufKeyName(GgufKey::kRopeScalingHighFreqFactor, arch), h.rope_high_freq_factor));
    TQF_RETURN_IF_ERROR(w->SetU32(GgufKeyName(GgufKey::kRopeScalingOriginalContext, arch),
                                  h.rope_original_context));
  }
  return Status::OK();
}

Status WriteTokenizer(const TokenizerData& t, GgufWriter* w) {
  if (t.kind == TokenizerKind::kNone) return Status::OK();
  const bool byte_level = t.kind == TokenizerKind::kByteLevelBpe;
  TQF_RETURN_IF_ERROR(
      w->SetString(GgufKeyName(GgufKey::kTokenizerModel), byte_level ? "gpt2" : "llama"));
  PreTokenizer pre;
  if (byte_level && PreTokenizerFromSpec(t.pre_split_regex, &pre)) {
    TQF_RETURN_IF_ERROR(
        w->SetString(GgufKeyName(GgufKey::kTokenizerPre), PreTokenizerGgufName(pre)));
  }
  TQF_RETURN_IF_ERROR(w->SetStringArray(GgufKeyName(GgufKey::kTokenizerTokens), t.tokens));
  if (!t.scores.empty()) {
    TQF_RETURN_IF_ERROR(w->SetF32Array(GgufKeyName(GgufKey::kTokenizerScores), t.scores));
  }
  if (!t.token_types.empty()) {
    TQF_RETURN_IF_ERROR(w->SetI32Array(GgufKeyName(GgufKey::kTokenizerTokenType), t.token_types));
  }
  if (!t.merges.empty()) {
    TQF_RETURN_IF_ERROR(w->SetStringArray(GgufKeyName(GgufKey::kTokenizerMerges), t.merges));
  }
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerBosId, t.bos_id));
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerEosId, t.eos_id));
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerUnknownId, t.unk_id));
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerPaddingId, t.pad_id));
  TQF_RETURN_IF_ERROR(w->SetBool(GgufKeyName(GgufKey::kTokenizerAddBos), t.add_bos));
  return w->SetBool(GgufKeyName(GgufKey::kTokenizerAddEos), t.add_eos);
}

}  // namespace

Status WriteGgufMetadata(const ModelInfo& m, const GgufMetadataOptions& options, GgufWriter* w) {
  const Hyperparameters& h = m.hparams;
  const std::string arch = h.architecture.empty() ? "llama" : h.architecture;
  TQF_RETURN_IF_ERROR(w->SetString(GgufKeyName(GgufKey::kArchitecture), arch));
  if (options.file_type >= 0) {
    TQF_RETURN_IF_ERROR(
        w->SetU32(GgufKeyName(GgufKey::kFileType), static_cast<uint32_t>(options.file_type)));
  }
  TQF_RETURN_IF_ERROR(WriteHparams(h, arch, w));
  TQF_RETURN_IF_ERROR(WriteTokenizer(m.tokenizer, w));
  // Free metadata, except keys written above from typed fields.
  const std::string arch_prefix = arch + ".";
  std::set<std::string> typed = {GgufKeyName(GgufKey::kArchitecture),
                                 GgufKeyName(GgufKey::kAlignment)};
  if (options.file_type >= 0) typed.insert(GgufKeyName(GgufKey::kFileType));
  std::set<std::string> seen;
  for (const auto& [k, v] : m.metadata) {
    if (k.empty() || k.rfind(arch_prefix, 0) == 0 || k.rfind(kGgufTokenizerPrefix, 0) == 0 ||
        typed.count(k) != 0 || !seen.insert(k).second) {
      continue;
    }
    TQF_RETURN_IF_ERROR(w->SetString(k, v));
  }
  return Status::OK();
}

Status ExportGguf(const Reader& reader, const std::string& path, const ExportOptions& options) {
  if (options.dtype != DType::kF32 && options.dtype != DType::kF16) {
    return Status::InvalidArgument(std::string("cannot export tensors as ") +
                                   DTypeName(options.dtype) + " (f32 or f16)");
  }
  TQF_ASSIGN_OR_RETURN(auto w, GgufWriter::Create(path));
  TQF_RETURN_IF_ERROR(WriteGgufMetadata(reader.model(), GgufMetadataOptions(), w.get()));
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
