// Process memory figures, see mem_stats.h.
#include "tqf/rt/mem_stats.h"

#include <cstdio>
#include <cstring>

namespace tqf::rt {

ProcMemory ReadProcMemory() {
  ProcMemory m;
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return m;
  char line[256];
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    unsigned long long kb = 0;
    char key[32] = {0};
    if (std::sscanf(line, "%31[^:]: %llu kB", key, &kb) != 2) continue;
    const uint64_t bytes = static_cast<uint64_t>(kb) * 1024;
    if (std::strcmp(key, "VmHWM") == 0) m.peak_rss = bytes;
    if (std::strcmp(key, "VmRSS") == 0) m.rss = bytes;
    if (std::strcmp(key, "RssAnon") == 0) m.rss_anon = bytes;
    if (std::strcmp(key, "RssFile") == 0) m.rss_file = bytes;
  }
  std::fclose(f);
  return m;
}

}  // namespace tqf::rt
