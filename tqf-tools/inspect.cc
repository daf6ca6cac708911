// tqf inspect FILE [--json] [--tensors]
#include <cstdio>
#include <map>
#include <string>

#include "cli.h"
#include "commands.h"
#include "tqf/codec.h"
#include "tqf/internal/inspect_json.h"
#include "tqf/reader.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf inspect FILE.tqf [--json] [--tensors]\n"
    "  --json     machine-readable output (always lists every tensor)\n"
    "  --tensors  list every tensor (text mode)\n";

const char* CodecName(CodecKind k) {
  const Codec* c = FindCodec(k);
  return c ? c->name() : "unknown";
}

std::string ShapeStr(const std::vector<uint64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += " x ";
    s += std::to_string(shape[i]);
  }
  return s;
}

// The dictionaries and codebooks, with how many tensors use each.
void PrintTables(const Reader& r) {
  for (size_t i = 0; i < r.dictionaries().size(); ++i) {
    const DictionaryInfo& d = r.dictionaries()[i];
    size_t users = 0;
    for (const TensorInfo& t : r.tensors()) users += t.dictionary == int(i);
    std::printf("dictionary  %zu: %s, %llu bytes, used by %zu tensors\n", i, CodecName(d.codec),
                (unsigned long long)d.size, users);
  }
  for (size_t i = 0; i < r.codebooks().size(); ++i) {
    const CodebookInfo& c = r.codebooks()[i];
    size_t users = 0;
    for (const TensorInfo& t : r.tensors()) users += t.codebook == int(i);
    std::printf("codebook    %zu: %u vectors of %u, %llu bytes, used by %zu tensors\n", i,
                c.entries, c.dim, (unsigned long long)c.size, users);
  }
}

void PrintText(const Reader& r, bool list_tensors) {
  const FileInfo& f = r.file_info();
  const Hyperparameters& h = r.model().hparams;
  const TokenizerData& tok = r.model().tokenizer;
  // Strings from the file go through TerminalSafe: a hostile name must not
  // reach the terminal as control sequences.
  std::printf("format      .tqf %u.%u (written by %s), %llu bytes (%s)\n", f.format_major,
              f.format_minor, TerminalSafe(f.writer).c_str(), (unsigned long long)f.file_size,
              HumanBytes(f.file_size).c_str());
  std::printf("features    compat 0x%llx, incompat 0x%llx\n", (unsigned long long)f.compat_flags,
              (unsigned long long)f.incompat_flags);
  std::printf(
      "model       %s: dim %u, hidden %u, layers %u, heads %u (kv %u, head dim %u), vocab %u, "
      "context %u\n",
      TerminalSafe(h.architecture).c_str(), h.dim, h.hidden_dim, h.n_layers, h.n_heads,
      h.n_kv_heads, h.head_dim, h.vocab_size, h.context_length);
  std::printf("            norm eps %g, rope theta %g%s, %s embeddings\n", h.norm_eps, h.rope_theta,
              h.rope_scaling_factor > 0 ? " (llama3 rope scaling)" : "",
              h.tied_embeddings ? "tied" : "untied");
  std::printf("tokenizer   %s, %zu tokens, %zu merges, bos %d, eos %d%s\n",
              TokenizerKindName(tok.kind), tok.tokens.size(), tok.merges.size(), tok.bos_id,
              tok.eos_id, tok.add_bos ? ", adds bos" : "");
  for (const auto& [k, v] : r.model().metadata) {
    std::printf("metadata    %s = %s\n", TerminalSafe(k).c_str(),
                TerminalSafe(v.size() > 80 ? v.substr(0, 77) + "..." : v).c_str());
  }
  for (const SectionInfo& s : r.sections()) {
    std::printf("section     %-10s at 0x%-10llx %12llu bytes\n", s.kind.c_str(),
                (unsigned long long)s.offset, (unsigned long long)s.size);
  }
  PrintTables(r);
  PrintWeightSummary(r);
  uint64_t raw = 0, stored = 0, params = 0, elements = 0;
  std::map<std::string, uint64_t> by_codec;
  for (const TensorInfo& t : r.tensors()) {
    raw += t.raw_size;
    stored += t.stored_size;
    params += t.params_bytes;
    elements += t.num_elements();
    by_codec[std::string(CodecName(t.codec)) + "/" + DTypeName(t.dtype) + "/" +
             QuantKindName(t.quant)]++;
  }
  std::printf("tensors     %zu, %.3fM weights:", r.tensors().size(), elements / 1e6);
  for (const auto& [k, n] : by_codec) std::printf(" %llu %s", (unsigned long long)n, k.c_str());
  std::printf("\n");
  uint64_t dict_bytes = 0;
  for (const DictionaryInfo& d : r.dictionaries()) dict_bytes += d.size;
  std::printf(
      "sizes       %llu B of tensor data -> %llu B of streams + %llu B dictionaries (%.3fx); "
      "+ %llu B quantization scales\n",
      (unsigned long long)raw, (unsigned long long)stored, (unsigned long long)dict_bytes,
      stored + dict_bytes ? double(raw) / (stored + dict_bytes) : 0.0, (unsigned long long)params);
  std::printf("            %.3f bits per weight with scales and dictionaries (whole file: %.3f)\n",
              elements ? 8.0 * (stored + dict_bytes + params) / elements : 0.0,
              elements ? 8.0 * f.file_size / elements : 0.0);
  if (!list_tensors) return;
  // ratio: decoded bytes / stream bytes; bpw counts the scales too.
  std::printf("\n%-34s %-16s %-5s %-13s %-6s %12s %12s %9s %7s %6s\n", "tensor", "shape", "dtype",
              "quant", "codec", "raw B", "stream B", "scales B", "ratio", "bpw");
  for (const TensorInfo& t : r.tensors()) {
    std::printf("%-34s %-16s %-5s %-13s %-6s %12llu %12llu %9llu %7.3f %6.3f\n",
                TerminalSafe(t.name).c_str(), ShapeStr(t.shape).c_str(), DTypeName(t.dtype),
                TerminalSafe(TensorScheme(t)).c_str(), CodecName(t.codec),
                (unsigned long long)t.raw_size, (unsigned long long)t.stored_size,
                (unsigned long long)t.params_bytes,
                t.stored_size ? double(t.raw_size) / t.stored_size : 0.0,
                t.num_elements() ? 8.0 * TensorStoredBytes(t) / t.num_elements() : 0.0);
  }
}

}  // namespace

int CmdInspect(int argc, char** argv) {
  Args args(argc, argv);
  std::string file;
  bool json = false, list = false;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Is("--json")) {
      json = true;
      continue;
    }
    if (args.Is("--tensors")) {
      list = true;
      continue;
    }
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("inspect", "unknown option '" + a + "'", kUsage);
    if (!file.empty()) return Usage("inspect", "more than one file given", kUsage);
    file = a;
  }
  if (file.empty()) return Usage("inspect", "no file given", kUsage);
  ReadOptions opt;
  opt.verify_checksums = false;  // inspect reads structure only; `tqf verify` checks data
  auto reader = Reader::Open(file, opt);
  if (!reader.ok()) return Fail("inspect", reader.status());
  if (json)
    std::fputs(InspectJson(**reader).c_str(), stdout);  // shared with Python's File.inspect()
  else
    PrintText(**reader, list);
  return kExitOk;
}

}  // namespace tqf::tools
