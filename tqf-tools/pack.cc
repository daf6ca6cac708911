// tqf pack INPUT -o OUT.tqf [--quant Q] [--codec C] ...
#include "tqf/pack.h"

#include <omp.h>

#include <cstdio>
#include <map>
#include <string>

#include "cli.h"
#include "commands.h"
#include "pack_calib.h"
#include "tqf/codec.h"
#include "tqf/import.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf pack INPUT -o OUT.tqf [options]\n"
    "  INPUT              GGUF, safetensors (config.json/tokenizer.json beside it) or llama2.c\n"
    "  -o, --output FILE  the .tqf to write (written atomically)\n"
    "  --bits B           the best file at or under B bits per weight (weight matrices:\n"
    "                     streams + scales + tables): a scheme per matrix, by sensitivity\n"
    "  --sensitivity S    --bits: measure (default with calibration: each matrix's effect on\n"
    "                     the loss over the calibration tokens) or proxy (its output error)\n"
    "  --sensitivity-tokens N  calibration tokens the measure runs over (default 4096)\n"
    "  --bits-native      --bits: choose only among schemes the runtime holds as 4-bit\n"
    "                     nibbles (q3/q4-row, q2/q3/q4-g32, nf4-g32; int8 channel where\n"
    "                     needed), and let B bound the bits held in memory (nibbles, or a\n"
    "                     byte a weight, plus a float per scale), which also bounds the\n"
    "                     file: a token then reads about half the int8 bytes (the default\n"
    "                     choice may pick ec<bits>/q<b>a schemes, held as int8)\n"
    "  --quant Q          8-bit: raw | tensor-minmax | channel (default) | block32\n"
    "                     low-bit: q<2..6>[a]-g<16..256>|-row (b-bit groups, a: asymmetric),\n"
    "                     nf4-g<G> (non-uniform 4-bit grid), ec<bits> (entropy-constrained\n"
    "                     uniform step), vq<2|4|8>x<16..256>-g<G>|-row (vector quantization)\n"
    "  --codec C          codec for the weight streams (default: the best available)\n"
    "calibration (low-bit schemes; GPTQ error compensation from the model's own inputs):\n"
    "  --calib FILE       text to run the model on\n"
    "  --calib-generate N instead, N tokens sampled from the model itself (data-free)\n"
    "  --calib-tokens N   use the first N tokens of --calib FILE (default: all)\n"
    "  --calib-seq N      tokens per calibration sequence (default 512, at most the context)\n"
    "  --calib-seed S     seed of --calib-generate (default 1)\n"
    "  --calib-mem B      bytes of second moments held at once (default 1G)\n"
    "  --calib-one-shot   every layer's statistics from the unquantized model (default for\n"
    "                     models up to 64M weights: sequential, each layer's from the model\n"
    "                     with the earlier layers already quantized)\n"
    "  --finetune N       then distil: N steps moving low-bit codes along their grids so the\n"
    "                     model's next-token distributions approach the source's on the\n"
    "                     calibration tokens (LLaMA models up to 32M weights)\n"
    "  --finetune-tokens N  tokens sampled from the model to distil on (default 262144)\n"
    "  --finetune-lr X    its Adam step, in cells of each weight's grid (a step; for VQ, the\n"
    "                     distance between nearest codebook entries) (default 0.01); scales,\n"
    "                     norm gains and VQ codebooks are trained too, on the same schedule\n"
    "  --finetune-batch N  sequences per step (default 16)\n"
    "  --finetune-average D  also measure the codes of a moving average of the latent\n"
    "                     weights, with this decay per step, and keep them when better\n"
    "                     (default 0.9; 0: off)\n"
    "  --damping X        GPTQ damping, times the mean Hessian diagonal (default 0.01)\n"
    "  --no-act-order     scalar schemes: quantize columns in order, not by importance\n"
    "  --tokenizer FILE   tokenizer.bin for llama2.c checkpoints\n"
    "  --block-size B     decoded bytes per independently coded block (default 64K)\n"
    "  --allow-nonfinite  store NaN/Inf weights instead of refusing them (possible only\n"
    "                     unquantized: --quant raw, or 1-D tensors)\n"
    "  --threads N        threads (default: all cores)\n"
    "  --quiet            no summary\n";

std::string CodecNames() {
  std::string s;
  for (const Codec* c : ByteCodecs()) s += (s.empty() ? "" : " | ") + std::string(c->name());
  return s;
}

struct PackFlags {
  std::string input, output, quant = "channel", codec_name, tokenizer;
  uint64_t block_size = 64 * 1024;
  long long threads = 0;
  bool quiet = false, allow_nonfinite = false, act_order = true;
  double damping = 0.01;
  CalibFlags calib;
  BitsFlags bits;
  bool quant_given = false;
};

// The calibration flags; false if `args` is at none of them. Sets *error
// for a bad value.
bool ParseCalibFlag(Args* args, PackFlags* f, std::string* error) {
  std::string value;
  auto count = [&](const char* flag, uint64_t min, uint64_t max, uint64_t* out) {
    long long v = 0;
    if (!ParseInt(value, static_cast<long long>(min), static_cast<long long>(max), &v)) {
      *error = std::string("bad ") + flag + " '" + value + "'";
    }
    *out = static_cast<uint64_t>(v);
    return true;
  };
  if (args->Value("--calib", &f->calib.text_path)) return true;
  if (args->Value("--calib-generate", &value))
    return count("--calib-generate", 1, 1LL << 24, &f->calib.generate);
  if (args->Value("--calib-tokens", &value))
    return count("--calib-tokens", 1, 1LL << 30, &f->calib.max_tokens);
  if (args->Value("--calib-seq", &value))
    return count("--calib-seq", 2, 1 << 20, &f->calib.seq_len);
  if (args->Value("--calib-seed", &value))
    return count("--calib-seed", 0, (1LL << 62), &f->calib.seed);
  if (args->Value("--calib-mem", &value)) {
    if (!ParseBytes(value, &f->calib.max_stat_bytes) || f->calib.max_stat_bytes == 0) {
      *error = "bad --calib-mem '" + value + "'";
    }
    return true;
  }
  if (args->Value("--damping", &value)) {
    if (!ParseDouble(value, &f->damping) || !(f->damping > 0.0) || f->damping > 10.0) {
      *error = "bad --damping '" + value + "' (0 < X <= 10)";
    }
    return true;
  }
  if (args->Value("--bits", &value)) {
    if (!ParseDouble(value, &f->bits.bits) || !(f->bits.bits >= 1.0) || f->bits.bits > 8.5) {
      *error = "bad --bits '" + value + "' (1 .. 8.5)";
    }
    return true;
  }
  if (args->Value("--sensitivity", &value)) {
    if (value != "measure" && value != "proxy") *error = "--sensitivity is measure or proxy";
    f->bits.measure = value == "measure";
    return true;
  }
  if (args->Value("--sensitivity-tokens", &value)) {
    return count("--sensitivity-tokens", 16, 1LL << 24, &f->bits.measure_tokens);
  }
  if (args->Is("--bits-native")) {
    f->bits.native = true;
    return true;
  }
  if (args->Value("--finetune", &value)) return count("--finetune", 1, 1 << 20, &f->calib.finetune);
  if (args->Value("--finetune-tokens", &value)) {
    return count("--finetune-tokens", 1024, 1LL << 24, &f->calib.finetune_tokens);
  }
  if (args->Value("--finetune-batch", &value)) {
    return count("--finetune-batch", 1, 4096, &f->calib.finetune_batch);
  }
  if (args->Value("--finetune-average", &value)) {
    if (!ParseDouble(value, &f->calib.finetune_average) || !(f->calib.finetune_average >= 0.0) ||
        !(static_cast<float>(f->calib.finetune_average) < 1.0f)) {
      *error = "bad --finetune-average '" + value + "' (0 <= D < 1)";
    }
    return true;
  }
  if (args->Value("--finetune-lr", &value)) {
    if (!ParseDouble(value, &f->calib.finetune_lr) || !(f->calib.finetune_lr > 0.0) ||
        f->calib.finetune_lr > 1.0) {
      *error = "bad --finetune-lr '" + value + "' (0 < X <= 1)";
    }
    return true;
  }
  if (args->Is("--calib-one-shot")) {
    f->calib.sequential = false;
    return true;
  }
  if (args->Is("--no-act-order")) {
    f->act_order = false;
    return true;
  }
  return false;
}

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
    if (args.Value("--quant", &f->quant)) {
      f->quant_given = true;
      continue;
    }
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
    std::string calib_error;
    if (ParseCalibFlag(&args, f, &calib_error)) {
      if (!calib_error.empty()) return Usage("pack", calib_error, kUsage);
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
  if (f->bits.bits > 0 && f->quant_given) {
    return Usage("pack", "--bits chooses the schemes: give it or --quant, not both", kUsage);
  }
  if (f->bits.native && !(f->bits.bits > 0)) {
    return Usage("pack", "--bits-native goes with --bits B", kUsage);
  }
  if (f->calib.finetune > 0 && !f->calib.enabled()) {
    return Usage("pack", "--finetune distils on calibration tokens: give --calib or --calib-generate",
                 kUsage);
  }
  if (!f->calib.text_path.empty() && f->calib.generate > 0) {
    return Usage("pack", "--calib and --calib-generate exclude each other", kUsage);
  }
  for (const std::string& in : {f->input, f->tokenizer, f->calib.text_path}) {
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
  auto spec = ParseQuantSpec(f.quant);
  if (!spec.ok()) return Usage("pack", spec.status().message(), kUsage);
  options->quant = *spec;
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
  options->damping = f.damping;
  options->act_order = f.act_order;
  return -1;
}

void PrintReport(const PackFlags& f, const std::string& format, const PackOptions& options,
                 const PackReport& r) {
  const Codec* codec = options.codec ? options.codec : DefaultCodec();
  const double fp16_bytes = 2.0 * r.elements;
  std::printf("packed %s (%s, %zu tensors, %.3fM weights) -> %s\n", f.input.c_str(), format.c_str(),
              r.tensors.size(), r.elements / 1e6, f.output.c_str());
  std::printf("  quant %s, codec %s\n", QuantSpecName(options.quant).c_str(), codec->name());
  std::printf("  source tensors   %12llu B  (%s)\n", (unsigned long long)r.source_tensor_bytes,
              HumanBytes(r.source_tensor_bytes).c_str());
  std::printf("  quantized        %12llu B  (before the codec)\n", (unsigned long long)r.raw_bytes);
  std::printf(
      "  streams          %12llu B  (+ %llu B dictionaries, %llu B codebooks, %llu B params)\n",
      (unsigned long long)r.stored_bytes, (unsigned long long)r.dictionary_bytes,
      (unsigned long long)r.codebook_bytes, (unsigned long long)r.params_bytes);
  std::printf("  file             %12llu B  (%s)\n", (unsigned long long)r.file_bytes,
              HumanBytes(r.file_bytes).c_str());
  std::printf(
      "  ratio            %.3fx vs source, %.3fx vs fp16, %.3fx vs quantized (streams+dicts)\n",
      double(r.source_tensor_bytes) / r.file_bytes, fp16_bytes / r.file_bytes,
      double(r.raw_bytes) / double(r.stored_bytes + r.dictionary_bytes));
  const WeightBits& w = r.weight_bits;
  std::printf(
      "  bits per weight  %.3f (weight matrices: streams+params+dicts+codebooks), %.3f (file)\n",
      w.bits_per_weight(), r.elements ? 8.0 * r.file_bytes / r.elements : 0.0);
  std::printf("  time             %.2f s\n", r.seconds);
  if (auto reader = Reader::Open(f.output); reader.ok()) {
    PrintSourceTypes(**reader);
    PrintWeightSummary(**reader);
  }
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
  std::unique_ptr<Calibration> calibration;
  if (f.calib.enabled()) {
#if TQF_WITH_RUNTIME
    CalibFlags cf = f.calib;
    cf.threads = static_cast<int>(f.threads);
    if (cf.finetune > 0) {
      if (Status st = CheckFinetune(*model, cf); !st.ok()) return Fail("pack", st);
    }
    auto started = StartCalibration(*model, cf, &progress);
    if (!started.ok()) return Fail("pack", started.status().WithContext("calibration"));
    calibration = std::move(started).value();
    options.statistics = calibration->statistics();
    if (f.calib.finetune > 0) calibration->EnableFinetune(cf, &options, &progress);
#else
    return Usage("pack", "calibration needs the runtime (this tqf was built without it)", kUsage);
#endif
  }
  options.progress = [&](const char* phase, size_t done, size_t total) {
    progress.Update(phase, done, total);
  };
  std::string choice;
  Result<PackReport> report = Status::InvalidArgument("not packed");
  if (f.bits.bits > 0) {
#if TQF_WITH_RUNTIME
    report =
        PackWithinBits(*model, f.output, f.bits, calibration.get(), options, &choice, &progress);
#else
    return Usage("pack", "--bits needs the runtime (this tqf was built without it)", kUsage);
#endif
  } else {
    report = PackModel(*model, f.output, options);
  }
  progress.Finish();
  if (!report.ok()) return Fail("pack", report.status());
  if (!f.quiet) {
    PrintReport(f, model->format, options, *report);
    if (calibration) std::printf("  calibration      %s\n", calibration->Describe().c_str());
    if (!choice.empty()) std::printf("  --bits           %s\n", choice.c_str());
    if (calibration && !calibration->DescribeFinetune().empty()) {
      std::printf("  finetune         %s\n", calibration->DescribeFinetune().c_str());
    }
  }
  if (auto reader = Reader::Open(f.output); reader.ok())
    WarnRequantizedBelowSource(**reader, "pack");
  if (f.bits.bits > 0 && report->weight_bits.bits_per_weight() > f.bits.bits) {
    std::fprintf(stderr, "tqf pack: warning: %.4f bits per weight, over the --bits %.4f asked\n",
                 report->weight_bits.bits_per_weight(), f.bits.bits);
  }
  return kExitOk;
}

}  // namespace tqf::tools
