// tqf compare INPUT [--quant Q] [--json] [--threads N] [--runs R] [--block-size B]
// For the same quantized bytes: stored size, ratios, bits per weight and
// decode speed of raw int8, dict4, rans and zstd levels, plus the order-0
// entropy bound (per tensor, summed).
#include <omp.h>

#include <cstdio>
#include <string>

#include "cli.h"
#include "commands.h"
#include "compare_measure.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf compare INPUT [options]\n"
    "  INPUT              a .tqf (its stored bytes) or any model `tqf pack` imports\n"
    "  --quant Q          any `tqf pack` scheme (models only; default channel). Low-bit\n"
    "                     schemes compare their int8 codes; vq schemes their index bytes\n"
    "                     (what rans-alias-vq stores) under one codebook for all tensors\n"
    "  --json             machine-readable output\n"
    "  --threads N        threads for the all-thread column (default: all cores)\n"
    "  --runs R           decode runs per measurement, best kept (default 5)\n"
    "  --block-size B     block size of the tqf codecs (default 64K)\n"
    "  --no-ultra         skip zstd -22 --ultra --long (slow on big models)\n"
    "  Measures every codec on the same bytes in one run; speeds are GB/s of\n"
    "  decoded output. zstd compresses one frame per tensor.\n";

void PrintTable(const std::string& input, const CompareInput& in, const CompareOptions& o,
                uint64_t entropy, const std::vector<CompareRow>& rows) {
  std::printf("%s: %s, %zu tensors, %.3fM weights, %llu bytes quantized\n", input.c_str(),
              in.description.c_str(), in.tensors.size(), in.elements / 1e6,
              (unsigned long long)in.bytes);
  std::printf("blocks of %u B, decode best of %d, %d threads\n\n", o.block_size, o.runs, o.threads);
  std::printf("%-24s %14s %9s %9s %8s %11s %11s\n", "codec", "stored B", "vs int8", "vs fp16",
              "bits/w", "GB/s 1T", ("GB/s " + std::to_string(o.threads) + "T").c_str());
  auto line = [&](const std::string& name, uint64_t stored, const CompareRow* r) {
    std::printf("%-24s %14llu %8.4fx %8.4fx %8.4f", name.c_str(), (unsigned long long)stored,
                double(in.bytes) / stored, 2.0 * in.elements / stored, 8.0 * stored / in.elements);
    if (r && r->has_speed) {
      std::printf(" %11.3f %11.3f\n", r->gbps_1, r->gbps_n);
    } else {
      std::printf(" %11s %11s\n", "-", "-");
    }
  };
  line("entropy bound (H0)", entropy, nullptr);
  for (const CompareRow& r : rows) line(r.codec, r.stored, &r);
}

void PrintJson(const std::string& input, const CompareInput& in, const CompareOptions& o,
               uint64_t entropy, const std::vector<CompareRow>& rows) {
  std::printf(
      "{\"input\": \"%s\", \"source\": \"%s\", \"tensors\": %zu, \"elements\": %llu, "
      "\"quantized_bytes\": %llu, \"block_size\": %u, \"runs\": %d, \"threads\": %d,\n",
      JsonEscape(input).c_str(), JsonEscape(in.description).c_str(), in.tensors.size(),
      (unsigned long long)in.elements, (unsigned long long)in.bytes, o.block_size, o.runs,
      o.threads);
  std::printf(" \"entropy_bound_bytes\": %llu,\n \"rows\": [\n", (unsigned long long)entropy);
  for (size_t i = 0; i < rows.size(); ++i) {
    const CompareRow& r = rows[i];
    std::printf(
        "  {\"codec\": \"%s\", \"stored_bytes\": %llu, \"ratio_int8\": %.5f, "
        "\"ratio_fp16\": %.5f, \"bits_per_weight\": %.5f, \"vs_entropy\": %.5f, "
        "\"decode_gbps_1t\": %.4f, \"decode_gbps_nt\": %.4f}%s\n",
        JsonEscape(r.codec).c_str(), (unsigned long long)r.stored, double(in.bytes) / r.stored,
        2.0 * in.elements / r.stored, 8.0 * r.stored / in.elements, double(r.stored) / entropy,
        r.gbps_1, r.gbps_n, i + 1 < rows.size() ? "," : "");
  }
  std::printf(" ]}\n");
}

}  // namespace

int CmdCompare(int argc, char** argv) {
  Args args(argc, argv);
  std::string input, quant = "channel", value;
  bool json = false, ultra = true;
  long long threads = 0, runs = 5;
  uint64_t block_size = 64 * 1024;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("--quant", &quant)) continue;
    if (args.Is("--json")) {
      json = true;
      continue;
    }
    if (args.Is("--no-ultra")) {
      ultra = false;
      continue;
    }
    if (args.Value("--threads", &value)) {
      if (!ParseInt(value, 0, 4096, &threads))
        return Usage("compare", "bad --threads '" + value + "'", kUsage);
      continue;
    }
    if (args.Value("--runs", &value)) {
      if (!ParseInt(value, 1, 1000, &runs))
        return Usage("compare", "bad --runs '" + value + "'", kUsage);
      continue;
    }
    if (args.Value("--block-size", &value)) {
      if (!ParseBytes(value, &block_size) || block_size == 0 || block_size > (1u << 30)) {
        return Usage("compare", "bad --block-size '" + value + "'", kUsage);
      }
      continue;
    }
    if (!args.error().empty()) return Usage("compare", args.error(), kUsage);
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("compare", "unknown option '" + a + "'", kUsage);
    if (!input.empty()) return Usage("compare", "more than one input given", kUsage);
    input = a;
  }
  if (!args.error().empty()) return Usage("compare", args.error(), kUsage);
  if (input.empty()) return Usage("compare", "no input given", kUsage);
  auto scheme = ParseQuantSpec(quant);
  if (!scheme.ok()) return Usage("compare", scheme.status().message(), kUsage);

  CompareOptions o;
  o.threads = threads > 0 ? static_cast<int>(threads) : omp_get_max_threads();
  o.runs = static_cast<int>(runs);
  o.block_size = static_cast<uint32_t>(block_size);
  if (!ultra) o.zstd_levels.pop_back();
  Progress progress("compare");
  auto in = LoadCompareInput(input, *scheme, o.threads);
  if (!in.ok()) return Fail("compare", in.status());
  o.progress = [&](const std::string& what) { progress.Update(what, 0, 1); };
  const uint64_t entropy = EntropyBound(*in);
  auto rows = MeasureCodecs(*in, o);
  progress.Finish();
  if (!rows.ok()) return Fail("compare", rows.status());
  if (json) {
    PrintJson(input, *in, o, entropy, *rows);
  } else {
    PrintTable(input, *in, o, entropy, *rows);
  }
  return kExitOk;
}

}  // namespace tqf::tools
