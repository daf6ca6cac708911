// Helpers for the storage-service tests: child processes that are always
// reaped (and SIGKILLed if still running when a test ends, even on
// failure), unique service names whose shared memory is always removed,
// and waiting (bounded) for a `tqf serve` to be ready.
#ifndef TQF_TESTS_SERVE_TEST_UTIL_H_
#define TQF_TESTS_SERVE_TEST_UTIL_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/shared_memory_object.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime_test_util.h"
#include "serve_segment.h"
#include "tqf/service/shared_model.h"

namespace tqf::serve::testing {

inline const char* CliPath() { return TQF_CLI_PATH; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Child processes of one test. The destructor SIGKILLs and reaps those
// still running.
class Processes {
 public:
  Processes() : dir_(tqf::testing::TempDir()) {}
  ~Processes() {
    for (pid_t pid : live_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  const std::string& dir() const { return dir_; }

  // Runs the tqf binary with `args`; stdout and stderr go to files
  // out_path(pid) and err_path(pid).
  pid_t StartTqf(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {CliPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = dir_ + "/out." + std::to_string(counter_);
    const std::string err = dir_ + "/err." + std::to_string(counter_++);
    const pid_t pid = fork();
    if (pid == 0) {
      const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(o, 1);
      dup2(e, 2);
      for (int fd = 3; fd < 1024; ++fd) close(fd);  // no pipes of ours kept open by the child
      std::vector<char*> cargv;
      for (std::string& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    if (pid > 0) {
      live_.push_back(pid);
      outputs_.push_back({pid, out, err});
    }
    return pid;
  }
  // A forked child running `fn` (which should not return; _exit(0) if it does).
  template <typename Fn>
  pid_t Fork(Fn fn) {
    const pid_t pid = fork();
    if (pid == 0) {
      fn();
      _exit(0);
    }
    if (pid > 0) live_.push_back(pid);
    return pid;
  }
  // Exit code of `pid` (128 + signal if killed), or -1 if it is still
  // running after `seconds` (it is then SIGKILLed).
  int Wait(pid_t pid, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    for (;;) {
      auto done = exited_.find(pid);
      if (done != exited_.end()) {
        status = done->second;
        break;
      }
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0) return -2;
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        Forget(pid);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Forget(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool Running(pid_t pid) {
    if (exited_.count(pid)) return false;
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) exited_[pid] = status;
    return r == 0;
  }
  void Kill(pid_t pid, int sig) { kill(pid, sig); }
  std::string Stdout(pid_t pid) const { return Find(pid, true); }
  std::string Stderr(pid_t pid) const { return Find(pid, false); }

 private:
  struct Output {
    pid_t pid;
    std::string out, err;
  };
  void Forget(pid_t pid) {
    for (size_t i = 0; i < live_.size(); ++i) {
      if (live_[i] == pid) {
        live_.erase(live_.begin() + static_cast<long>(i));
        break;
      }
    }
  }
  std::string Find(pid_t pid, bool out) const {
    for (const Output& o : outputs_) {
      if (o.pid == pid) return ReadFile(out ? o.out : o.err);
    }
    return "";
  }
  std::string dir_;
  int counter_ = 0;
  std::vector<pid_t> live_;
  std::vector<Output> outputs_;
  std::map<pid_t, int> exited_;  // reaped by Running()
};

// A service name unique to this test process; its objects are removed
// when the guard goes.
class ServiceName {
 public:
  ServiceName() {
    static int n = 0;
    name_ = "tqftest-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  }
  ~ServiceName() {
    boost::interprocess::shared_memory_object::remove(serve::ControlName(name_).c_str());
    boost::interprocess::shared_memory_object::remove(serve::DataName(name_).c_str());
  }
  const std::string& get() const { return name_; }

 private:
  std::string name_;
};

// Waits (at most `seconds`) until service `name`, started as process
// `pid`, is running. false if it exits or times out.
inline bool WaitForService(Processes* procs, pid_t pid, const std::string& name,
                           double seconds = 30) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    Result<ServeStatus> st = ReadServeStatus(name);
    if (st.ok() && st->state == "running" && st->server_alive && st->server_pid == pid) return true;
    if (!procs->Running(pid)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// stories260K, quantized per channel and entropy coded as `tqf pack` does.
inline std::string StoriesModel() { return rt::PackedStories("gguf", "channel", "rans"); }

}  // namespace tqf::serve::testing

#endif  // TQF_TESTS_SERVE_TEST_UTIL_H_
