// Helpers shared by the test suites.
#ifndef TQF_TESTS_TEST_UTIL_H_
#define TQF_TESTS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace tqf::testing {

// Path of a file under ../shared (TQF_SHARED_DIR env var overrides).
inline std::string SharedPath(const std::string& rel) {
  const char* env = std::getenv("TQF_SHARED_DIR");
  std::string base = env && *env ? env : TQF_SHARED_DIR;
  return base + "/" + rel;
}

// A fresh scratch directory for one test, removed by the OS's tmp cleaning.
inline std::string TempDir() {
  static int counter = 0;
  const char* env = std::getenv("TMPDIR");
  std::string dir = std::string(env && *env ? env : "/tmp") + "/tqf_test_" +
                    std::to_string(getpid()) + "_" + std::to_string(counter++);
  std::string cmd = "mkdir -p '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) return "/tmp";
  return dir;
}

}  // namespace tqf::testing

#endif  // TQF_TESTS_TEST_UTIL_H_
