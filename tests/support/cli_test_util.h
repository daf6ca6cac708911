// Runs the tqf command as a user would, for the tool test suites (which
// compile in TQF_CLI_PATH, see tqf_use_cli in tests/CMakeLists.txt).
#ifndef TQF_TESTS_CLI_TEST_UTIL_H_
#define TQF_TESTS_CLI_TEST_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace tqf::testing {

struct CliResult {
  int code = -1;  // exit status, or 128 + signal
  std::string out, err;
};

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the tqf binary with `args`, capturing stdout and stderr.
inline CliResult Tqf(const std::vector<std::string>& args) {
  static int n = 0;
  const std::string base = TempDir() + "/run" + std::to_string(n++);
  pid_t pid = fork();
  if (pid == 0) {
    freopen((base + ".out").c_str(), "w", stdout);
    freopen((base + ".err").c_str(), "w", stderr);
    std::vector<char*> argv{const_cast<char*>(TQF_CLI_PATH)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(TQF_CLI_PATH, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(base + ".out");
  r.err = Slurp(base + ".err");
  return r;
}

}  // namespace tqf::testing

#endif  // TQF_TESTS_CLI_TEST_UTIL_H_
