// Signals a program using tqf may want handled: removing half-written
// outputs when the process is killed, and turning a fault on a mapped .tqf
// (the file truncated or rewritten in place while mapped) into an error.
//
// libtqf installs no signal handlers by itself -- that is the program's
// policy (the `tqf` tool installs both at start) -- but offers:
//
//   InstallSignalCleanup(): for SIGINT, SIGTERM and SIGHUP whose
//     disposition is still the default, a handler that removes the
//     temporary files of outputs being written (Writer, GgufWriter,
//     ExportGguf, PackModel write to a temporary file beside the
//     destination and rename it only when complete) and re-raises the
//     signal, so the process still dies of it.
//   RemoveTempFilesForSignal(): for a program with its own handlers, to
//     call from them. Async-signal-safe.
//   InstallMappedFileFaultHandler(): a SIGBUS handler, installed once,
//     that passes faults outside the reader to the handler it replaced. A Reader reads the file through a
//     memory mapping; if the file shrinks or is replaced in place while
//     mapped, touching a vanished page raises SIGBUS. With the handler,
//     the Reader's decode calls (and Open, Verify) return kIOError "model
//     file changed while in use" instead, and the process can exit
//     cleanly. A SIGBUS anywhere else goes to the previous handler, or
//     kills the process as before.
//     Without it, such a fault kills the process.
//
// Thread-safety: all may be called from any thread; the handlers act on the
// thread that faults.
#ifndef TQF_SIGNALS_H_
#define TQF_SIGNALS_H_

#include "tqf/visibility.h"

namespace tqf {

TQF_EXPORT void InstallSignalCleanup();
TQF_EXPORT void RemoveTempFilesForSignal();
TQF_EXPORT void InstallMappedFileFaultHandler();

}  // namespace tqf

#endif  // TQF_SIGNALS_H_
