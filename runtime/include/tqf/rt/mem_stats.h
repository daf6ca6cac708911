// Process memory figures from Linux /proc/self/status, for `tqf run
// --stats` and the memory-budget tests.
//
// Thread-safety: a pure function (reads a file).
#ifndef TQF_RUNTIME_MEM_STATS_H_
#define TQF_RUNTIME_MEM_STATS_H_

#include <cstdint>

namespace tqf::rt {

// Bytes; 0 where the system does not report the field (non-Linux).
struct ProcMemory {
  uint64_t peak_rss = 0;  // VmHWM: the peak resident set
  uint64_t rss = 0;       // VmRSS now
  uint64_t rss_anon = 0;  // RssAnon: private memory (decoded weights, KV cache ...)
  uint64_t rss_file = 0;  // RssFile: resident pages of mapped files (the .tqf, libraries)
};
ProcMemory ReadProcMemory();

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_MEM_STATS_H_
