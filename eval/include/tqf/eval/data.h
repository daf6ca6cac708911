// Evaluation data sets for `tqf eval`: plain text for perplexity and
// multiple-choice questions (ARC, HellaSwag, MMLU) in their usual files.
//
// Every loader turns a file into prompts and answer options ready to score:
//   ARC        jsonl, one object a line: question, choices.text[],
//              choices.label[], answerKey (a label: A-D, sometimes 1-4).
//              Prompt "Question: {question}\nAnswer:", options " {text}".
//   HellaSwag  llama.cpp's text format, 6 lines per task: context, index of
//              the right ending (0-3), 4 endings. Prompt = context, options
//              " {ending}".
//   MMLU       DIR/dev/<subject>_dev.csv (5 few-shot examples) and
//              DIR/test/<subject>_test.csv, CSV (RFC 4180: quoted fields
//              with embedded commas, quotes and newlines) with the header
//              row question,choice0..choice3,answer (answer 0-3). Prompt:
//              "The following are multiple choice questions (with answers)
//              about {subject}.\n\n" + 5 x "{q}\nA. ..\nB. ..\nC. ..\nD. ..
//              \nAnswer: {X}\n\n" + "{q}\nA. ..\nAnswer:", options " A".." D".
//              Subjects come in name order; questions are interleaved across
//              subjects (the 1st of each subject, then the 2nd, ...) so that a
//              --limit prefix samples every subject.
// Text files may use CRLF or LF line endings (CRLF and lone CR become LF);
// a UTF-8 byte-order mark at the start is dropped.
//
// Errors: kNotFound / kIOError when a file cannot be read; kCorruption for
// malformed content, naming "file:line" and what was expected. Loaders
// never crash on bad input.
// Thread-safety: pure functions.
#ifndef TQF_EVAL_DATA_H_
#define TQF_EVAL_DATA_H_

#include <string>
#include <string_view>
#include <vector>

#include "tqf/result.h"

namespace tqf::eval {

// One multiple-choice question: score each option as a continuation of
// `prompt` (the option carries its own leading space).
struct McQuestion {
  std::string id;  // "file:line" or the data set's id
  std::string prompt;
  std::vector<std::string> options;  // at least 2
  int gold = 0;                      // index into options
};

// Largest eval data file read (the biggest shipped, HellaSwag, is 7.7 MB).
inline constexpr uint64_t kMaxDataFileBytes = uint64_t{256} << 20;

// Reads a whole regular file of at most kMaxDataFileBytes. kNotFound,
// kInvalidArgument (not a regular file -- a FIFO, /dev/zero --, or too
// large), kIOError.
Result<std::string> ReadFileBytes(const std::string& path);

// Turns CRLF and lone CR into LF, and drops a leading UTF-8 BOM.
std::string NormalizeNewlines(std::string_view text);

// Reads a text file for perplexity, newlines normalised.
Result<std::string> LoadText(const std::string& path);

Result<std::vector<McQuestion>> LoadArc(const std::string& path);
Result<std::vector<McQuestion>> LoadHellaswag(const std::string& path);
// `dir` holds dev/ and test/ (see above). kNotFound if no test CSVs.
Result<std::vector<McQuestion>> LoadMmlu(const std::string& dir);

// Parses RFC 4180 CSV text (already newline-normalised) into records.
// `file` names the source in errors ("file:line: unterminated quote").
// Each record remembers the line it starts on.
struct CsvRecord {
  size_t line = 0;
  std::vector<std::string> fields;
};
Result<std::vector<CsvRecord>> ParseCsv(std::string_view text, const std::string& file);

}  // namespace tqf::eval

#endif  // TQF_EVAL_DATA_H_
