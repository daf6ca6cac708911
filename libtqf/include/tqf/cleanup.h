// Removing half-written outputs when the process is killed.
//
// Every file libtqf writes (Writer, GgufWriter, ExportGguf, Pack) goes to a
// temporary file beside its destination and is renamed onto it only when
// complete. A normal failure removes the temporary file; a fatal signal
// would leave it behind. libtqf installs no signal handlers by itself --
// that is the program's policy -- but offers two ways to clean up:
//
//   InstallSignalCleanup(): a program without its own handlers calls it
//     once at start (the `tqf` tool does). For SIGINT, SIGTERM and SIGHUP
//     whose disposition is still the default, it installs a handler that
//     removes the temporary files being written and re-raises the signal,
//     so the process still dies of it.
//   RemoveTempFilesForSignal(): a program with its own handlers calls it
//     from them. Async-signal-safe.
//
// Thread-safety: both may be called from any thread; temporary files are
// registered and unregistered under a lock.
#ifndef TQF_CLEANUP_H_
#define TQF_CLEANUP_H_

#include "tqf/visibility.h"

namespace tqf {

TQF_EXPORT void InstallSignalCleanup();
TQF_EXPORT void RemoveTempFilesForSignal();

}  // namespace tqf

#endif  // TQF_CLEANUP_H_
