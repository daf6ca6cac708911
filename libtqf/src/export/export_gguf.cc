// ExportGguf: .tqf -> GGUF v3 (dequantized tensors, <arch>.* and tokenizer keys),
// and the metadata writer `tqf synth` shares.
#include "tqf/export_gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "tqf/gguf_writer.h"
#include "tqf/internal/gguf_keys.h"
#include "tqf/internal/half.h"
#include "tqf/internal/pretokenizer.h"
#include "tqf/internal/rope.h"
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
  // Llama 3 rope scaling is not written as keys: llama.cpp knows no
  // "llama3" scaling type. Its converter's form, the rope_freqs.weight
  // divisors, goes with the tensors (ExportGguf, tqf synth).
  return Status::OK();
}

// The stop ids besides EOS as llama.cpp's end-of-turn / end-of-message ids
// (which the importer reads back as stop ids): <|eot_id|> and <|eom_id|> by
// their text, other ids into whichever is left. GGUF has no key for a third.
void StopIdsAsGguf(const TokenizerData& t, int32_t* eot, int32_t* eom) {
  std::vector<int32_t> rest;
  for (int32_t id : t.stop_ids) {
    if (id == t.eos_id || id < 0 || static_cast<size_t>(id) >= t.tokens.size()) continue;
    if (t.tokens[id] == "<|eot_id|>" && *eot < 0) {
      *eot = id;
    } else if (t.tokens[id] == "<|eom_id|>" && *eom < 0) {
      *eom = id;
    } else {
      rest.push_back(id);
    }
  }
  for (int32_t id : rest) {
    if (*eot < 0) {
      *eot = id;
    } else if (*eom < 0) {
      *eom = id;
    }
  }
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
  int32_t eot = -1, eom = -1;
  StopIdsAsGguf(t, &eot, &eom);
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerEotId, eot));
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerEomId, eom));
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerUnknownId, t.unk_id));
  TQF_RETURN_IF_ERROR(SetId(w, GgufKey::kTokenizerPaddingId, t.pad_id));
  TQF_RETURN_IF_ERROR(w->SetBool(GgufKeyName(GgufKey::kTokenizerAddBos), t.add_bos));
  return w->SetBool(GgufKeyName(GgufKey::kTokenizerAddEos), t.add_eos);
}

constexpr size_t kQ8Block = 32;

// One Q8_0 block (f16 d, 32 int8) for v[0..32): the better, by squared
// error, of ggml's own rounding (d = amax / 127, as llama-quantize makes
// it) and, when the values lie on a tqf code grid s * q (grid > 0), d =
// f16(s) with q = round(v / d): the int8 codes themselves, so an int8 tqf
// tensor leaves for Q8_0 with only its scale rounded to f16.
void EncodeQ8_0(const float* v, float grid, uint8_t* out) {
  auto encode = [v](float d, int8_t* q) {
    const float dh = F16ToF32(F32ToF16(d));
    const float id = dh != 0.0f ? 1.0f / dh : 0.0f;
    double err = 0;
    for (size_t j = 0; j < kQ8Block; ++j) {
      const float r = std::round(v[j] * id);
      q[j] = static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, r)));
      const double e = static_cast<double>(v[j]) - static_cast<double>(dh) * q[j];
      err += e * e;
    }
    return err;
  };
  float amax = 0;
  for (size_t j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(v[j]));
  int8_t qa[kQ8Block], qb[kQ8Block];
  float d = amax / 127.0f;
  const double err_a = encode(d, qa);
  const int8_t* q = qa;
  if (grid > 0 && std::isfinite(grid) && encode(grid, qb) < err_a) {
    d = grid;
    q = qb;
  }
  const uint16_t dh = F32ToF16(d);
  std::memcpy(out, &dh, 2);  // little-endian hosts only, as the writer
  std::memcpy(out + 2, q, kQ8Block);
}

// The code-grid scale of each 32-value block of a row-major tensor, or 0
// when its values are not s * q on one scale (unquantized, min-max with a
// zero point, or quantizer blocks that split a Q8_0 block).
std::vector<float> Q8GridScales(const Reader& reader, size_t index) {
  const TensorInfo& t = reader.tensors()[index];
  const uint64_t rows = t.rows(), cols = t.cols(), per_row = cols / kQ8Block;
  std::vector<float> grid(rows * per_row, 0.0f);
  const bool channel = t.quant == QuantKind::kChannel;
  const bool block = t.quant == QuantKind::kBlock && t.quant_block % kQ8Block == 0;
  if (t.dtype != DType::kI8 || (!channel && !block)) return grid;
  std::vector<float> params(t.num_params);
  if (!reader.CopyParams(index, params.data(), params.size()).ok()) return grid;
  const uint64_t qblocks = block ? (cols + t.quant_block - 1) / t.quant_block : 1;
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t b = 0; b < per_row; ++b) {
      const uint64_t p = channel ? r : r * qblocks + b * kQ8Block / t.quant_block;
      if (p < params.size()) grid[r * per_row + b] = params[p];
    }
  }
  return grid;
}

// The type a tensor is exported as: 1-D tensors stay f32 (GGUF convention);
// Q8_0 needs rows of whole blocks, else f16 (as llama-quantize falls back).
DType ExportType(const TensorInfo& t, DType want) {
  if (t.shape.size() < 2) return DType::kF32;
  if (want == DType::kQ8_0 && t.cols() % kQ8Block != 0) return DType::kF16;
  return want;
}

// llama.cpp's general.file_type (llama_ftype) for the export type.
int FileType(DType t) {
  switch (t) {
    case DType::kF16: return 1;   // LLAMA_FTYPE_MOSTLY_F16
    case DType::kQ8_0: return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
    default: return 0;            // LLAMA_FTYPE_ALL_F32
  }
}

Status WriteTensorData(const Reader& reader, size_t i, DType dt, const std::vector<float>& values,
                       GgufWriter* w) {
  if (dt == DType::kF32) return w->WriteData(values.data(), values.size() * sizeof(float));
  if (dt == DType::kF16) {
    std::vector<uint16_t> halves(values.size());
    for (size_t k = 0; k < values.size(); ++k) halves[k] = F32ToF16(values[k]);
    return w->WriteData(halves.data(), halves.size() * sizeof(uint16_t));
  }
  const std::vector<float> grid = Q8GridScales(reader, i);
  std::vector<uint8_t> blocks(grid.size() * 34);
  for (size_t b = 0; b < grid.size(); ++b) {
    EncodeQ8_0(values.data() + b * kQ8Block, grid[b], blocks.data() + b * 34);
  }
  return w->WriteData(blocks.data(), blocks.size());
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
  if (options.dtype != DType::kF32 && options.dtype != DType::kF16 &&
      options.dtype != DType::kQ8_0) {
    return Status::InvalidArgument(std::string("cannot export tensors as ") +
                                   DTypeName(options.dtype) + " (f32, f16 or q8_0)");
  }
  TQF_ASSIGN_OR_RETURN(auto w, GgufWriter::Create(path));
  GgufMetadataOptions meta;
  meta.file_type = FileType(options.dtype);
  TQF_RETURN_IF_ERROR(WriteGgufMetadata(reader.model(), meta, w.get()));
  const auto& tensors = reader.tensors();
  for (const TensorInfo& t : tensors) {
    TQF_RETURN_IF_ERROR(w->AddTensor(t.name, t.shape, ExportType(t, options.dtype))
                            .WithContext("tensor '" + t.name + "'"));
  }
  // Llama 3 rope scaling held as parameters leaves as llama.cpp's divisors.
  const Hyperparameters& h = reader.model().hparams;
  const uint32_t head_dim = h.head_dim ? h.head_dim : (h.n_heads ? h.dim / h.n_heads : 0);
  std::vector<float> divisors;
  if (!reader.FindTensor(kRopeFreqsTensor).ok()) divisors = Llama3RopeDivisors(h, head_dim);
  if (!divisors.empty()) {
    TQF_RETURN_IF_ERROR(w->AddTensor(kRopeFreqsTensor, {divisors.size()}, DType::kF32));
  }
  std::vector<float> values;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    try {
      values.resize(t.num_elements());
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate its f32 copy");
    }
    TQF_RETURN_IF_ERROR(reader.DecodeTensorF32(i, values.data(), values.size(), options.threads));
    TQF_RETURN_IF_ERROR(WriteTensorData(reader, i, ExportType(t, options.dtype), values, w.get())
                            .WithContext("tensor '" + t.name + "'"));
    if (options.progress) options.progress(i + 1, tensors.size());
  }
  if (!divisors.empty()) {
    TQF_RETURN_IF_ERROR(w->WriteData(divisors.data(), divisors.size() * sizeof(float)));
  }
  return w->Finish();
}

}  // namespace tqf
