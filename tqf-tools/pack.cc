// tqf pack INPUT -o OUT.tqf [--quant Q] [--codec C] ...
#include "tqf/pack.h"

#include <omp.h>

#include <cstdio>

#include "cli.h"
#include "commands.h"
#include "tqf/codec.h"
#include "tqf/import.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf pack INPUT -o OUT.tqf [options]\n"
    "  INPUT              GGUF, safetensors (config.json/tokenizer.json beside it) or llama2.c\n"
    "  -o, --output FILE  the .tqf to write (written atomically)\n"
    "  --quant Q          raw | tensor-minmax | channel (default) | block32\n"
    "  --codec C          codec for the weight streams (default: the best available)\n"
    "  --tokenizer FILE   tokenizer.bin for llama2.c checkpoints\n"
    "  --block-size B     decoded bytes per independently coded block (default 64K)\n"
    "  --allow-nonfinite  store NaN/Inf weights instead of refusing them (possible only\n"
    "                     unquantized: --quant raw, or 1-D tensors)\n"
    "  --threads N        threads (default: all cores)\n"
    "  --quiet            no summary\n";

std::string CodecNames() {
  std::string s;
  for (const Codec* c : AllCodecs()) s += (s.empty() ? "" : " | ") + std::string(c->name());
  return s;
}

struct PackFlags {
  std::string input, output, quant = "channel", codec_name, tokenizer;
  uint64_t block_size = 64 * 1024;
  long long threads = 0;
  bool quiet = false, allow_nonfinite = false;
};

// Returns the exit code to end with (help, a usage error), or -1 to go on.
int ParseFlags(int argc, char** argv, PackFlags* f) {
  Args args(argc, argv);
  std::string value;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("-o", &f->output) || args.Value("--output", &f->output)) continue;
    if (args.Value("--quant", &f->quant)) continue;
    if (args.Value("--codec", &f->codec_name)) continue;
    if (args.Value("--tokenizer", &f->tokenizer)) continue;
    if (args.Value("--block-size", &value)) {
      if (!ParseBytes(value, &f->block_size) || f->block_size == 0 || f->block_size > (1u << 30)) {
        return Usage("pack", "bad --block-size '" + value + "'", kUsage);
      }
      continue;
    }
    if (args.Value("--threads", &value)) {
      if (!ParseInt(value, 0, 4096, &f->threads))
        return Usage("pack", "bad --threads '" + value + "'", kUsage);
      continue;
    }
    if (args.Is("--quiet")) {
      f->quiet = true;
      continue;
    }
    if (args.Is("--allow-nonfinite")) {
      f->allow_nonfinite = true;
      continue;
    }
    if (!args.error().empty()) return Usage("pack", args.error(), kUsage);
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("pack", "unknown option '" + a + "'", kUsage);
    if (!f->input.empty()) {
      return Usage("pack", "more than one input given ('" + f->input + "', '" + a + "')", kUsage);
    }
    f->input = a;
  }
  if (!args.error().empty()) return Usage("pack", args.error(), kUsage);
  if (f->input.empty()) return Usage("pack", "no input model given", kUsage);
  if (f->output.empty()) return Usage("pack", "no output given (-o OUT.tqf)", kUsage);
  if (f->output == f->input) return Usage("pack", "output would overwrite the input", kUsage);
  for (const std::string& in : {f->input, f->tokenizer}) {
    if (in.empty()) continue;
    if (Status st = CheckOutputIsNotInput(in, f->output); !st.ok()) {
      return Usage("pack", st.message(), kUsage);
    }
  }
  return -1;
}

// Quantizer, codec and writer settings from the flags. Returns the exit code
// to end with (an unknown quantizer or codec), or -1 to go on.
int MakePackOptions(const PackFlags& f, PackOptions* options) {
  auto scheme = ParseQuantScheme(f.quant);
  if (!scheme.ok()) return Usage("pack", scheme.status().message(), kUsage);
  options->quant = *scheme;
  if (!f.codec_name.empty()) {
    options->codec = FindCodecByName(f.codec_name);
    if (options->codec == nullptr) {
      return Usage("pack", "unknown codec '" + f.codec_name + "' (known: " + CodecNames() + ")",
                   kUsage);
    }
  }
  options->writer.block_size = static_cast<uint32_t>(f.block_size);
  options->writer.threads = static_cast<int>(f.threads);
  options->allow_nonfinite = f.allow_nonfinite;
  return -1;
}

void PrintReport(const PackFlags& f, const std::string& format, const PackOptions& options,
                 const PackReport& r) {
  const Codec* codec = options.codec ? options.codec : DefaultCodec();
  const double fp16_bytes = 2.0 * r.elements;
  std::printf("packed %s (%s, %zu tensors, %.3fM weights) -> %s\n", f.input.c_str(), format.c_str(),
              r.tensors.size(), r.elements / 1e6, f.output.c_str());
  std::printf("  quant %s, codec %s\n", QuantSchemeName(options.quant), codec->name());
  std::printf("  source tensors   %12llu B  (%s)\n", (unsigned long long)r.source_tensor_bytes,
              HumanBytes(r.source_tensor_bytes).c_str());
  std::printf("  quantized        %12llu B  (before the codec)\n", (unsigned long long)r.raw_bytes);
  std::printf("  streams          %12llu B  (+ %llu B dictionaries)\n",
              (unsigned long long)r.stored_bytes, (unsigned long long)r.dictionary_bytes);
  std::printf("  file             %12llu B  (%s)\n", (unsigned long long)r.file_bytes,
              HumanBytes(r.file_bytes).c_str());
  std::printf(
      "  ratio            %.3fx vs source, %.3fx vs fp16, %.3fx vs quantized (streams+dicts)\n",
      double(r.source_tensor_bytes) / r.file_bytes, fp16_bytes / r.file_bytes,
      double(r.raw_bytes) / double(r.stored_bytes + r.dictionary_bytes));
  std::printf("  bits per weight  %.3f (file), %.3f (streams+dicts)\n",
              8.0 * r.file_bytes / r.elements,
              8.0 * (r.stored_bytes + r.dictionary_bytes) / r.elements);
  std::printf("  time             %.2f s\n", r.seconds);
}

}  // namespace

int CmdPack(int argc, char** argv) {
  PackFlags f;
  if (int code = ParseFlags(argc, argv, &f); code >= 0) return code;
  PackOptions options;
  if (int code = MakePackOptions(f, &options); code >= 0) return code;
  if (f.threads > 0) omp_set_num_threads(static_cast<int>(f.threads));

  ImportOptions iopt;
  iopt.tokenizer_path = f.tokenizer;
  auto model = ImportModel(f.input, iopt);
  if (!model.ok()) return Fail("pack", model.status());
  Progress progress("pack");
  options.progress = [&](const char* phase, size_t done, size_t total) {
    progress.Update(phase, done, total);
  };
  auto report = PackModel(*model, f.output, options);
  progress.Finish();
  if (!report.ok()) return Fail("pack", report.status());
  if (!f.quiet) PrintReport(f, model->format, options, *report);
  return kExitOk;
}

}  // namespace tqf::tools
