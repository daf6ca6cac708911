// SIGBUS on a mapped file -> an error (see fault_guard.h).
#include "io/fault_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <cstring>
#include <mutex>

#include "tqf/signals.h"

namespace tqf {
namespace {

struct FaultScope {
  sigjmp_buf env;
};

// The innermost guard of this thread, or null. Set before any guarded
// access, so the handler never allocates the TLS block itself.
thread_local FaultScope* t_scope = nullptr;

// The disposition before ours: a fault outside a guarded read goes to it.
struct sigaction g_previous;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  if (FaultScope* scope = t_scope) siglongjmp(scope->env, 1);
  // Not a guarded read: hand it to whoever handled SIGBUS before (a
  // sanitizer, a crash reporter), or die of it as without a handler
  // (returning re-executes the faulting access under the default action).
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) return g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  signal(SIGBUS, SIG_DFL);
}

}  // namespace

bool RunGuardedImpl(void (*fn)(void*), void* arg) {
  FaultScope scope;
  FaultScope* const outer = t_scope;
  // savesigs = 0 (no syscall per guard: decoding calls this per pair of
  // blocks): the handler is installed SA_NODEFER, so jumping out of it
  // leaves SIGBUS unblocked and a later fault is caught again.
  if (sigsetjmp(scope.env, 0) != 0) {
    t_scope = outer;
    return false;
  }
  t_scope = &scope;
  fn(arg);
  t_scope = outer;
  return true;
}

Status MappedFileChangedError(const std::string& path) {
  return Status::IOError((path.empty() ? std::string("mapped buffer") : path) +
                         ": model file changed while in use (truncated or rewritten in place); "
                         "replace a file in use by renaming a new one over it");
}

void InstallMappedFileFaultHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = OnSigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &g_previous);
  });
}

}  // namespace tqf
