#include "cli.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "tqf/internal/inspect_json.h"
#include "tqf/source.h"

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

std::string RedactUrls(const std::string& text) {
  std::string out;
  size_t at = 0;
  for (size_t s; (s = text.find("://", at)) != std::string::npos;) {
    size_t begin = s;  // back to the scheme's first letter
    while (begin > at && std::isalpha(static_cast<unsigned char>(text[begin - 1]))) --begin;
    size_t end = text.find_first_of(" \t\n'\"", s);
    if (end == std::string::npos) end = text.size();
    out += text.substr(at, begin - at) + RedactUrl(text.substr(begin, end - begin));
    at = end;
  }
  return out + text.substr(at);
}

int Fail(const std::string& cmd, const std::string& message, int code) {
  std::fprintf(stderr, "tqf %s: %s\n", cmd.c_str(), TerminalSafe(RedactUrls(message)).c_str());
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
    std::fprintf(stderr, "tqf %s: %s\n", cmd.c_str(), TerminalSafe(RedactUrls(message)).c_str());
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

const char kMemBudgetForms[] =
    "bytes with an optional K, M or G suffix, or a layer count such as 2layers";

bool ParseMemBudget(const std::string& s, MemBudget* out) {
  static const std::string kLayers = "layers";
  if (s.size() > kLayers.size() &&
      s.compare(s.size() - kLayers.size(), kLayers.size(), kLayers) == 0) {
    const std::string count = s.substr(0, s.size() - kLayers.size());
    // Digits only: ParseInt would take a sign or spaces.
    if (count.find_first_not_of("0123456789") != std::string::npos) return false;
    long long n = 0;
    if (!ParseInt(count, 0, 1000000, &n)) return false;
    *out = MemBudget{};
    out->layers = static_cast<int>(n);
    return true;
  }
  uint64_t b = 0;
  if (!ParseBytes(s, &b) || b > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = MemBudget{};
  out->bytes = static_cast<int64_t>(b);
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
  const auto now = std::chrono::steady_clock::now();
  if (phase != phase_) {
    phase_ = phase;
    phase_start_ = now;
  }
  // The phase's rate so far, once there is one to go by.
  std::string eta;
  const double elapsed = std::chrono::duration<double>(now - phase_start_).count();
  if (done > 0 && done < total && elapsed > 1.0) {
    const double left = elapsed * double(total - done) / double(done);
    char buf[48];
    std::snprintf(buf, sizeof(buf), " ETA %.0fs", left);
    eta = buf;
  }
  const int width = 30;
  int filled = static_cast<int>(width * done / total);
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s %-8s [%s] %zu/%zu%s\033[K", label_.c_str(), phase.c_str(), bar.c_str(),
               done, total, eta.c_str());
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

// The weight matrices' bits per weight (WeightBits), and how they were
// quantized: one line per scheme.
void PrintWeightSummary(const Reader& r) {
  struct Use {
    size_t tensors = 0;
    uint64_t weights = 0, bytes = 0;
  };
  std::map<std::string, Use> uses;
  for (const TensorInfo& t : r.tensors()) {
    if (t.shape.size() < 2) continue;
    Use& u = uses[TerminalSafe(TensorScheme(t))];
    u.tensors++;
    u.weights += t.num_elements();
    u.bytes += TensorStoredBytes(t);
  }
  const WeightBits w = MeasureWeightBits(r);
  std::printf(
      "weights     %.3fM in matrices: %.3f bits per weight (streams %llu B, params %llu B, "
      "dictionaries %llu B, codebooks %llu B)\n",
      w.weights / 1e6, w.bits_per_weight(), (unsigned long long)w.stream_bytes,
      (unsigned long long)w.params_bytes, (unsigned long long)w.dictionary_bytes,
      (unsigned long long)w.codebook_bytes);
  for (const auto& [name, u] : uses) {
    std::printf(
        "  scheme    %-16s %4zu tensors %10.3fM weights %6.3f bits/weight (streams+params)\n",
        name.c_str(), u.tensors, u.weights / 1e6, u.weights ? 8.0 * u.bytes / u.weights : 0.0);
  }
}

namespace {

// Bits per weight a matrix is stored in (streams + params).
double StoredBits(const TensorInfo& t) {
  const uint64_t n = t.num_elements();
  return n ? 8.0 * TensorStoredBytes(t) / n : 0.0;
}

}  // namespace

void PrintSourceTypes(const Reader& r) {
  std::map<std::string, size_t> types;
  for (const TensorInfo& t : r.tensors()) {
    if (t.shape.size() >= 2) types[DTypeName(t.source_dtype)]++;
  }
  std::string list;
  for (const auto& [name, count] : types) {
    list += (list.empty() ? "" : ", ") + name + " " + std::to_string(count);
  }
  std::printf("  source types     %s (weight matrices)\n", list.c_str());
}

void WarnRequantizedBelowSource(const Reader& r, const char* command) {
  size_t below = 0;
  std::string first;
  for (const TensorInfo& t : r.tensors()) {
    if (t.shape.size() < 2 || DTypeSize(t.source_dtype) != 0 ||
        StoredBits(t) >= DTypeBits(t.source_dtype) - 1e-9) {
      continue;  // only quantized (block-type) sources lose precision twice
    }
    if (below++ == 0) {
      char line[200];
      std::snprintf(line, sizeof(line), "%s: %s %.3f -> %.3f", TerminalSafe(t.name).c_str(),
                    DTypeName(t.source_dtype), DTypeBits(t.source_dtype), StoredBits(t));
      first = line;
    }
  }
  if (below == 0) return;
  std::fprintf(stderr,
               "tqf %s: warning: %zu weight matrices are stored in fewer bits per weight than "
               "their quantized source had (re-quantizing adds error to error), e.g. %s\n",
               command, below, first.c_str());
}

}  // namespace tqf::tools
