#include "cli.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace tqf::tools {

Args::Args(int argc, char** argv) : command_(argc > 0 ? argv[0] : "") {
  for (int i = 1; i < argc; ++i) argv_.emplace_back(argv[i]);
}

bool Args::Value(const std::string& flag, std::string* value) {
  if (Done()) return false;
  const std::string& a = argv_[i_];
  if (a == flag) {
    if (i_ + 1 >= argv_.size()) {
      error_ = flag + " needs a value";
      ++i_;
      return false;
    }
    *value = argv_[i_ + 1];
    i_ += 2;
    return true;
  }
  if (a.size() > flag.size() + 1 && a.compare(0, flag.size(), flag) == 0 && a[flag.size()] == '=') {
    *value = a.substr(flag.size() + 1);
    ++i_;
    return true;
  }
  return false;
}

bool Args::Is(const std::string& flag) {
  if (!Done() && argv_[i_] == flag) {
    ++i_;
    return true;
  }
  return false;
}

int Fail(const std::string& cmd, const std::string& message, int code) {
  std::fprintf(stderr, "tqf %s: %s\n", cmd.c_str(), TerminalSafe(message).c_str());
  return code;
}

// A Status is what an operation on data returned: a failure (1), even when
// its code is kInvalidArgument (a file's content the operation refuses).
// Usage errors (2) are found while parsing arguments and reported by Usage.
int Fail(const std::string& cmd, const Status& status) {
  return Fail(cmd, status.ToString(), kExitFailure);
}

int Usage(const std::string& cmd, const std::string& message, const char* usage) {
  if (!message.empty()) {
    std::fprintf(stderr, "tqf %s: %s\n", cmd.c_str(), TerminalSafe(message).c_str());
  }
  std::fprintf(stderr, "%s", usage);
  return kExitUsage;
}

bool ParseBytes(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || !(v >= 0) || !std::isfinite(v)) return false;
  std::string suffix(end);
  double mul = 1;
  if (suffix.empty() || suffix == "B")
    mul = 1;
  else if (suffix == "K" || suffix == "KB" || suffix == "KiB" || suffix == "k")
    mul = 1024.0;
  else if (suffix == "M" || suffix == "MB" || suffix == "MiB")
    mul = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GB" || suffix == "GiB")
    mul = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "TB" || suffix == "TiB")
    mul = 1024.0 * 1024 * 1024 * 1024;
  else
    return false;
  double bytes = v * mul;
  if (bytes >= 1.8e19) return false;
  *out = static_cast<uint64_t>(bytes);
  return true;
}

bool ParseInt(const std::string& s, long long min, long long max, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof(buf), "%.2f %s", v, units[u]);
  return buf;
}

Progress::Progress(std::string label) : label_(std::move(label)), tty_(::isatty(2)) {}
Progress::~Progress() { Finish(); }

void Progress::Update(const std::string& phase, size_t done, size_t total) {
  if (!tty_ || total == 0) return;
  const int width = 30;
  int filled = static_cast<int>(width * done / total);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s %-8s [%s] %zu/%zu", label_.c_str(), phase.c_str(), bar.c_str(), done,
               total);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::Finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace tqf::tools
