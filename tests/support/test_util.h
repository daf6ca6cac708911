// Helpers shared by the test suites.
#ifndef TQF_TESTS_TEST_UTIL_H_
#define TQF_TESTS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace tqf::testing {

// Path of a file under ../shared (TQF_SHARED_DIR env var overrides).
inline std::string SharedPath(const std::string& rel) {
  const char* env = std::getenv("TQF_SHARED_DIR");
  std::string base = env && *env ? env : TQF_SHARED_DIR;
  return base + "/" + rel;
}

// A fresh scratch directory for one test under $TMPDIR (or /tmp), removed
// with everything in it when the test process exits normally, so repeated
// test runs do not fill the disk (a full run writes a few GB).
// TQF_KEEP_TEST_DIRS=1 keeps them for debugging. Forked children that exit
// leave them alone: only the process that made a directory removes it.
inline std::string TempDir() {
  struct Registry {
    pid_t owner = getpid();
    std::vector<std::string> dirs;
    ~Registry() {
      const char* keep = std::getenv("TQF_KEEP_TEST_DIRS");
      if (getpid() != owner || (keep != nullptr && *keep != '\0' && *keep != '0')) return;
      for (const std::string& d : dirs) {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);  // best effort: a test may have chmod'ed a file
      }
    }
  };
  static Registry registry;
  static int counter = 0;
  const char* env = std::getenv("TMPDIR");
  std::string dir = std::string(env && *env ? env : "/tmp") + "/tqf_test_" +
                    std::to_string(getpid()) + "_" + std::to_string(counter++);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "TempDir: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    std::abort();
  }
  registry.dirs.push_back(dir);
  return dir;
}

}  // namespace tqf::testing

#endif  // TQF_TESTS_TEST_UTIL_H_
