// Guarded reads of a memory-mapped file: a SIGBUS raised while a guarded
// function runs on this thread (the mapped file was truncated or replaced in
// place) abandons the function and reports it, instead of killing the
// process. Needs InstallMappedFileFaultHandler() (tqf/signals.h); without
// the handler a fault kills the process as before.
//
// The guarded function is abandoned with siglongjmp: it must not hold
// locks or own resources other than memory (which leaks on a fault; the
// process is expected to stop using the file). Decoders and checksums over
// mapped bytes fit that.
// Thread-safety: each thread has its own guard; guards nest.
#ifndef TQF_IO_FAULT_GUARD_H_
#define TQF_IO_FAULT_GUARD_H_

#include <string>
#include <type_traits>

#include "tqf/status.h"

namespace tqf {

// Runs fn(arg); returns false if a SIGBUS abandoned it.
bool RunGuardedImpl(void (*fn)(void*), void* arg);

template <class Fn>
bool RunGuarded(Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  return RunGuardedImpl([](void* f) { (*static_cast<F*>(f))(); }, &fn);
}

// The error a fault on `path`'s mapping becomes.
Status MappedFileChangedError(const std::string& path);

}  // namespace tqf

#endif  // TQF_IO_FAULT_GUARD_H_
