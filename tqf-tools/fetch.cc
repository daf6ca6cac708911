// tqf fetch URL -o FILE
#include <cstdio>

#include "cli.h"
#include "commands.h"
#include "tqf/source.h"

namespace tqf::tools {

namespace {

const char kUsage[] =
    "usage: tqf fetch URL -o FILE.tqf\n"
    "  Downloads a .tqf from an http(s) URL, verifying every checksummed piece\n"
    "  (header, dictionaries, params, seek indices, every block) as it arrives.\n"
    "  Writes FILE.tqf.part and renames it when complete; run again to resume an\n"
    "  interrupted fetch (pieces already there whose checksums match are kept).\n"
    "  Takes tqf's remote options (--cache-dir DIR ..., see `tqf --help`).\n";

}  // namespace

int CmdFetch(int argc, char** argv) {
  Args args(argc, argv);
  std::string url, out, value;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Value("-o", &out)) continue;
    if (!args.error().empty()) return Usage("fetch", args.error(), kUsage);
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("fetch", "unknown option '" + a + "'", kUsage);
    if (!url.empty()) return Usage("fetch", "more than one URL given", kUsage);
    url = a;
  }
  if (!args.error().empty()) return Usage("fetch", args.error(), kUsage);
  if (url.empty() || out.empty()) return Usage("fetch", "need a URL and -o FILE", kUsage);
  if (!IsRemoteUrl(url)) return Usage("fetch", "not an http(s) URL: " + url, kUsage);
  Progress progress("fetch");
  const Status s = FetchFile(url, out, [&](uint64_t done, uint64_t total) {
    progress.Update("MB", done >> 20, total >> 20);
  });
  progress.Finish();
  if (!s.ok()) return Fail("fetch", s);
  std::printf("%s: fetched and verified (%s)\n", out.c_str(), RedactUrl(url).c_str());
  return kExitOk;
}

}  // namespace tqf::tools
