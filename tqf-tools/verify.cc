// tqf verify FILE [--threads N] [--quiet]
#include <omp.h>

#include <chrono>
#include <cstdio>

#include "cli.h"
#include "commands.h"
#include "tqf/reader.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf verify FILE.tqf [--threads N] [--quiet]\n"
    "  Checks the structure, every checksum, and decodes every block.\n"
    "  Exit 0 if everything checks, 1 if anything failed (each failure is named).\n";

}  // namespace

int CmdVerify(int argc, char** argv) {
  Args args(argc, argv);
  std::string file, value;
  long long threads = 0;
  bool quiet = false;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("--threads", &value)) {
      if (!ParseInt(value, 0, 4096, &threads))
        return Usage("verify", "bad --threads '" + value + "'", kUsage);
      continue;
    }
    if (args.Is("--quiet")) {
      quiet = true;
      continue;
    }
    if (!args.error().empty()) return Usage("verify", args.error(), kUsage);
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("verify", "unknown option '" + a + "'", kUsage);
    if (!file.empty()) return Usage("verify", "more than one file given", kUsage);
    file = a;
  }
  if (!args.error().empty()) return Usage("verify", args.error(), kUsage);
  if (file.empty()) return Usage("verify", "no file given", kUsage);
  const std::string shown = RedactUrls(file);  // never a URL's password
  const auto start = std::chrono::steady_clock::now();
  auto reader = Reader::Open(file);
  if (!reader.ok()) return Fail("verify", reader.status());
  Progress progress("verify");
  VerifyReport report = (*reader)->Verify(
      static_cast<int>(threads),
      [&](size_t done, size_t total) { progress.Update("tensors", done, total); });
  progress.Finish();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const VerifyProblem& p : report.problems) {
    std::fprintf(stderr, "tqf verify: %s: %s\n", shown.c_str(),
                 RedactUrls(p.status.ToString()).c_str());
  }
  if (!report.problems.empty()) {
    std::fprintf(stderr, "tqf verify: %s: FAILED, %zu problem(s)\n", shown.c_str(),
                 report.problems.size());
    return kExitFailure;
  }
  if (!quiet) {
    std::printf("%s: OK (%llu tensors, %llu blocks, %.2f MB decoded and checked in %.2f s)\n",
                shown.c_str(), (unsigned long long)report.tensors_checked,
                (unsigned long long)report.blocks_checked, report.bytes_decoded / 1e6, secs);
  }
  return kExitOk;
}

}  // namespace tqf::tools
