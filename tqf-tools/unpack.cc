// tqf unpack FILE.tqf -o OUT.gguf [--dtype f32|f16|q8_0] [--threads N]
#include <cstdio>

#include "cli.h"
#include "commands.h"
#include "tqf/export_gguf.h"
#include "tqf/reader.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf unpack FILE.tqf -o OUT.gguf [--dtype f32|f16|q8_0] [--threads N]\n"
    "  Exports the model as GGUF v3 (dequantized tensors, hyperparameters, tokenizer).\n"
    "  --dtype f32 (default) is exact; f16 halves the size; q8_0 (llama.cpp's 8-bit\n"
    "  blocks) quarters it, int8 files keeping their codes (scales rounded to f16).\n"
    "  1-D tensors stay f32; q8_0 writes rows that are not whole 32-blocks as f16.\n";

}  // namespace

int CmdUnpack(int argc, char** argv) {
  Args args(argc, argv);
  std::string file, output, dtype = "f32", value;
  long long threads = 0;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("-o", &output) || args.Value("--output", &output)) continue;
    if (args.Value("--dtype", &dtype)) continue;
    if (args.Value("--threads", &value)) {
      if (!ParseInt(value, 0, 4096, &threads))
        return Usage("unpack", "bad --threads '" + value + "'", kUsage);
      continue;
    }
    if (!args.error().empty()) return Usage("unpack", args.error(), kUsage);
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("unpack", "unknown option '" + a + "'", kUsage);
    if (!file.empty()) return Usage("unpack", "more than one file given", kUsage);
    file = a;
  }
  if (!args.error().empty()) return Usage("unpack", args.error(), kUsage);
  if (file.empty()) return Usage("unpack", "no file given", kUsage);
  if (output.empty()) return Usage("unpack", "no output given (-o OUT.gguf)", kUsage);
  if (output == file) return Usage("unpack", "output would overwrite the input", kUsage);
  if (Status st = CheckOutputIsNotInput(file, output); !st.ok()) {
    return Usage("unpack", st.message(), kUsage);
  }
  ExportOptions opt;
  if (dtype == "f32")
    opt.dtype = DType::kF32;
  else if (dtype == "f16")
    opt.dtype = DType::kF16;
  else if (dtype == "q8_0")
    opt.dtype = DType::kQ8_0;
  else
    return Usage("unpack", "bad --dtype '" + dtype + "' (f32, f16 or q8_0)", kUsage);
  opt.threads = static_cast<int>(threads);
  auto reader = Reader::Open(file);
  if (!reader.ok()) return Fail("unpack", reader.status());
  Progress progress("unpack");
  opt.progress = [&](size_t done, size_t total) { progress.Update("tensors", done, total); };
  Status s = ExportGguf(**reader, output, opt);
  progress.Finish();
  if (!s.ok()) return Fail("unpack", s);
  std::printf("%s -> %s (%zu tensors, %s)\n", file.c_str(), output.c_str(),
              (*reader)->tensors().size(), dtype.c_str());
  return kExitOk;
}

}  // namespace tqf::tools
