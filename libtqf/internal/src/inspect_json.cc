// The JSON description of a .tqf (see inspect_json.h).
#include "tqf/internal/inspect_json.h"

#include <cstdarg>
#include <cstdio>
#include <vector>

#include "tqf/codec.h"
#include "tqf/internal/text.h"

namespace tqf {
namespace {

// printf onto the end of *out.
void Appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string* out, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  if (n > 0) {
    const size_t old = out->size();
    out->resize(old + static_cast<size_t>(n) + 1);
    std::vsnprintf(&(*out)[old], static_cast<size_t>(n) + 1, fmt, again);
    out->resize(old + static_cast<size_t>(n));
  }
  va_end(again);
}

const char* CodecName(CodecKind k) {
  const Codec* c = FindCodec(k);
  return c ? c->name() : "unknown";
}

std::string ShapeJson(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void AppendModel(const ModelInfo& m, std::string* out) {
  const Hyperparameters& h = m.hparams;
  Appendf(out,
          "  \"model\": {\"architecture\": \"%s\", \"dim\": %u, \"hidden_dim\": %u, "
          "\"n_layers\": %u, \"n_heads\": %u, \"n_kv_heads\": %u, \"head_dim\": %u, "
          "\"vocab_size\": %u, \"context_length\": %u, \"norm_eps\": %s, \"rope_theta\": %s, "
          "\"rope_scaling_factor\": %s, \"tied_embeddings\": %s},\n",
          JsonEscape(h.architecture).c_str(), h.dim, h.hidden_dim, h.n_layers, h.n_heads,
          h.n_kv_heads, h.head_dim, h.vocab_size, h.context_length, JsonNumber(h.norm_eps).c_str(),
          JsonNumber(h.rope_theta).c_str(), JsonNumber(h.rope_scaling_factor).c_str(),
          h.tied_embeddings ? "true" : "false");
  const TokenizerData& tok = m.tokenizer;
  Appendf(out,
          "  \"tokenizer\": {\"kind\": \"%s\", \"tokens\": %zu, \"merges\": %zu, \"bos_id\": %d, "
          "\"eos_id\": %d, \"add_bos\": %s},\n",
          TokenizerKindName(tok.kind), tok.tokens.size(), tok.merges.size(), tok.bos_id, tok.eos_id,
          tok.add_bos ? "true" : "false");
  Appendf(out, "  \"metadata\": {");
  for (size_t i = 0; i < m.metadata.size(); ++i) {
    Appendf(out, "%s\"%s\": \"%s\"", i ? ", " : "", JsonEscape(m.metadata[i].first).c_str(),
            JsonEscape(m.metadata[i].second).c_str());
  }
  Appendf(out, "},\n");
}

void AppendTensor(const TensorInfo& t, bool last, std::string* out) {
  Appendf(out,
          "    {\"name\": \"%s\", \"shape\": %s, \"source_dtype\": \"%s\", \"dtype\": \"%s\", "
          "\"quant\": \"%s\", \"quant_block\": %u, \"codec\": \"%s\", \"dictionary\": %d, "
          "\"elements\": %llu, \"raw_bytes\": %llu, \"stored_bytes\": %llu, "
          "\"params_bytes\": %llu, \"blocks\": %u, \"ratio\": %.4f, \"bits_per_weight\": %.4f, "
          "\"params_format\": \"%s\", \"codebook\": %d, \"scheme\": \"%s\"}%s\n",
          JsonEscape(t.name).c_str(), ShapeJson(t.shape).c_str(), DTypeName(t.source_dtype),
          DTypeName(t.dtype), QuantKindName(t.quant), t.quant_block, CodecName(t.codec),
          t.dictionary, static_cast<unsigned long long>(t.num_elements()),
          static_cast<unsigned long long>(t.raw_size),
          static_cast<unsigned long long>(t.stored_size),
          static_cast<unsigned long long>(t.params_bytes), t.block_count,
          t.stored_size ? static_cast<double>(t.raw_size) / t.stored_size : 0.0,
          t.num_elements() ? 8.0 * TensorStoredBytes(t) / t.num_elements() : 0.0,
          ParamsFormatName(t.params_format), t.codebook, JsonEscape(TensorScheme(t)).c_str(),
          last ? "" : ",");
}

}  // namespace

uint64_t TensorStoredBytes(const TensorInfo& t) { return t.stored_size + t.params_bytes; }

std::string TensorScheme(const TensorInfo& t) {
  return t.quantizer.empty() ? QuantKindName(t.quant) : t.quantizer;
}

std::string InspectJson(const Reader& r) {
  std::string out;
  const FileInfo& f = r.file_info();
  Appendf(&out, "{\n  \"format_version\": \"%u.%u\",\n  \"writer\": \"%s\",\n", f.format_major,
          f.format_minor, JsonEscape(f.writer).c_str());
  Appendf(&out, "  \"file_size\": %llu,\n  \"compat_flags\": %llu,\n  \"incompat_flags\": %llu,\n",
          static_cast<unsigned long long>(f.file_size),
          static_cast<unsigned long long>(f.compat_flags),
          static_cast<unsigned long long>(f.incompat_flags));
  AppendModel(r.model(), &out);
  Appendf(&out, "  \"sections\": [");
  for (size_t i = 0; i < r.sections().size(); ++i) {
    const SectionInfo& s = r.sections()[i];
    Appendf(&out, "%s{\"kind\": \"%s\", \"offset\": %llu, \"size\": %llu}", i ? ", " : "",
            s.kind.c_str(), static_cast<unsigned long long>(s.offset),
            static_cast<unsigned long long>(s.size));
  }
  Appendf(&out, "],\n  \"dictionaries\": [");
  for (size_t i = 0; i < r.dictionaries().size(); ++i) {
    const DictionaryInfo& d = r.dictionaries()[i];
    Appendf(&out, "%s{\"codec\": \"%s\", \"offset\": %llu, \"size\": %llu}", i ? ", " : "",
            CodecName(d.codec), static_cast<unsigned long long>(d.offset),
            static_cast<unsigned long long>(d.size));
  }
  Appendf(&out, "],\n  \"codebooks\": [");
  for (size_t i = 0; i < r.codebooks().size(); ++i) {
    const CodebookInfo& c = r.codebooks()[i];
    Appendf(&out, "%s{\"dim\": %u, \"entries\": %u, \"offset\": %llu, \"size\": %llu}",
            i ? ", " : "", c.dim, c.entries, static_cast<unsigned long long>(c.offset),
            static_cast<unsigned long long>(c.size));
  }
  const WeightBits w = MeasureWeightBits(r);
  Appendf(&out,
          "],\n  \"weight_bits\": {\"weights\": %llu, \"stream_bytes\": %llu, "
          "\"params_bytes\": %llu, \"dictionary_bytes\": %llu, \"codebook_bytes\": %llu, "
          "\"bits_per_weight\": %.6f},\n",
          static_cast<unsigned long long>(w.weights),
          static_cast<unsigned long long>(w.stream_bytes),
          static_cast<unsigned long long>(w.params_bytes),
          static_cast<unsigned long long>(w.dictionary_bytes),
          static_cast<unsigned long long>(w.codebook_bytes), w.bits_per_weight());
  Appendf(&out, "  \"tensors\": [\n");
  for (size_t i = 0; i < r.tensors().size(); ++i) {
    AppendTensor(r.tensors()[i], i + 1 == r.tensors().size(), &out);
  }
  Appendf(&out, "  ]\n}\n");
  return out;
}

}  // namespace tqf
