// Small helpers shared by the subcommands: argument scanning, size parsing,
// byte formatting, a terminal progress bar and uniform error reporting.
#ifndef TQF_TOOLS_CLI_H_
#define TQF_TOOLS_CLI_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tqf/internal/files.h"  // CheckOutputIsNotInput
#include "tqf/internal/text.h"   // JsonEscape, JsonNumber, TerminalSafe
#include "tqf/reader.h"
#include "tqf/status.h"

namespace tqf::tools {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation or a check failed
inline constexpr int kExitUsage = 2;    // bad arguments

// Sequential argument reader: flags may come before or after positionals.
class Args {
 public:
  Args(int argc, char** argv);  // argv[0] is the subcommand name
  bool Done() const { return i_ >= argv_.size(); }
  const std::string& Peek() const { return argv_[i_]; }
  std::string Next() { return argv_[i_++]; }
  // If the next arg is `flag`, consumes it and its value into *value.
  // Returns false (and records a usage error) if the value is missing.
  bool Value(const std::string& flag, std::string* value);
  bool Is(const std::string& flag);  // consumes a boolean flag
  const std::string& error() const { return error_; }
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  std::vector<std::string> argv_;
  size_t i_ = 0;
  std::string error_;
};

// Prints "tqf CMD: message" to stderr (control characters and invalid
// UTF-8 escaped: messages quote names from files); returns `code`.
// Fail and Usage print `message` with every URL's user:password@ removed.
int Fail(const std::string& cmd, const std::string& message, int code = kExitFailure);
int Fail(const std::string& cmd, const Status& status);
int Usage(const std::string& cmd, const std::string& message, const char* usage);

// "64M", "2G", "512", "1.5G" -> bytes. false on malformed input.
bool ParseBytes(const std::string& s, uint64_t* out);
bool ParseInt(const std::string& s, long long min, long long max, long long* out);

// A --mem-budget value: bytes as ParseBytes reads them ("512M"), or a
// number of decoded layers written "Nlayers" ("0layers", "2layers"; up to
// 1000000). Exactly one of the fields is set (>= 0). false on anything else.
struct MemBudget {
  int64_t bytes = -1;
  int layers = -1;
  bool none() const { return bytes < 0 && layers < 0; }
};
bool ParseMemBudget(const std::string& s, MemBudget* out);
// What a bad --mem-budget value is told: the forms ParseMemBudget takes.
extern const char kMemBudgetForms[];
bool ParseDouble(const std::string& s, double* out);

// `text` with the userinfo of every URL in it redacted (RedactUrl).
std::string RedactUrls(const std::string& text);

// "1.23 MiB".
std::string HumanBytes(uint64_t n);

// A progress bar on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  void Update(const std::string& phase, size_t done, size_t total);
  void Finish();

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  std::string phase_;  // the phase being timed, for its ETA
  std::chrono::steady_clock::time_point phase_start_;
};

// The weight matrices' bits per weight (MeasureWeightBits) and one line per
// scheme: what `tqf inspect` and `tqf pack` print.
void PrintWeightSummary(const Reader& r);
// One line: the source types the weight matrices came from, tensors per type.
void PrintSourceTypes(const Reader& r);
// A warning on stderr when weight matrices are stored in fewer bits per
// weight (streams + params) than their source type had (a Q4_K GGUF packed
// at 3 bits): re-quantizing a quantized source adds error to error.
void WarnRequantizedBelowSource(const Reader& r, const char* command);

}  // namespace tqf::tools

#endif  // TQF_TOOLS_CLI_H_
