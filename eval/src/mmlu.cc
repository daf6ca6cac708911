// RFC 4180 CSV parsing and the MMLU loader (5-shot prompts per subject).
#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>

#include "tqf/eval/data.h"

namespace tqf::eval {
namespace {

constexpr size_t kMmluFields = 6;  // question, 4 choices, answer
constexpr char kLetters[] = "ABCD";

std::string Where(const std::string& file, size_t line) {
  return file + ":" + std::to_string(line);
}

bool IsHeader(const CsvRecord& r) {
  return r.fields.size() == kMmluFields && r.fields[0] == "question" && r.fields[5] == "answer";
}

// Strips ASCII whitespace at both ends (the harnesses strip questions).
std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

struct MmluRow {
  std::string question;
  std::string choices[4];
  int answer = 0;
};

// Reads one subject file into rows; header row optional.
Result<std::vector<MmluRow>> LoadMmluCsv(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::string raw, ReadFileBytes(path));
  TQF_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, ParseCsv(NormalizeNewlines(raw), path));
  std::vector<MmluRow> rows;
  for (size_t i = 0; i < records.size(); ++i) {
    const CsvRecord& r = records[i];
    if (i == 0 && IsHeader(r)) continue;
    if (r.fields.size() != kMmluFields) {
      return Status::Corruption(Where(path, r.line) + ": " + std::to_string(r.fields.size()) +
                                " fields, expected 6 (question,choice0..choice3,answer)");
    }
    const std::string& a = r.fields[5];
    int answer = -1;
    if (a.size() == 1 && a[0] >= '0' && a[0] <= '3') answer = a[0] - '0';
    if (a.size() == 1 && a[0] >= 'A' && a[0] <= 'D') answer = a[0] - 'A';
    if (answer < 0) {
      return Status::Corruption(Where(path, r.line) + ": answer '" + a.substr(0, 40) +
                                "', expected an index 0-3");
    }
    MmluRow row;
    row.question = Trim(r.fields[0]);
    for (int c = 0; c < 4; ++c) row.choices[c] = r.fields[1 + c];
    row.answer = answer;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string FormatExample(const MmluRow& row, bool with_answer) {
  std::string s = row.question;
  for (int c = 0; c < 4; ++c) s += std::string("\n") + kLetters[c] + ". " + row.choices[c];
  s += "\nAnswer:";
  if (with_answer) s += std::string(" ") + kLetters[row.answer] + "\n\n";
  return s;
}

}  // namespace

Result<std::vector<CsvRecord>> ParseCsv(std::string_view text, const std::string& file) {
  std::vector<CsvRecord> records;
  CsvRecord rec;
  std::string field;
  size_t line = 1;
  rec.line = 1;
  size_t i = 0;
  const size_t n = text.size();
  bool record_open = false;  // anything read since the last record ended
  while (i < n) {
    record_open = true;
    if (text[i] == '"') {
      const size_t quote_line = line;
      ++i;
      for (;;) {
        if (i >= n) {
          return Status::Corruption(Where(file, quote_line) + ": unterminated quoted field");
        }
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field.push_back(text[i++]);
      }
      if (i < n && text[i] != ',' && text[i] != '\n') {
        return Status::Corruption(Where(file, line) + ": unexpected '" + std::string(1, text[i]) +
                                  "' after a closing quote (expected ',' or end of line)");
      }
    } else {
      while (i < n && text[i] != ',' && text[i] != '\n') {
        if (text[i] == '"') {
          return Status::Corruption(Where(file, line) +
                                    ": '\"' inside an unquoted field (quote the field and "
                                    "double the quote)");
        }
        field.push_back(text[i++]);
      }
    }
    rec.fields.push_back(std::move(field));
    field.clear();
    if (i < n && text[i] == ',') {
      ++i;
      if (i == n) rec.fields.emplace_back();  // trailing comma at EOF
      continue;
    }
    // End of record: '\n' or EOF.
    const bool blank = rec.fields.size() == 1 && rec.fields[0].empty();
    if (!blank) records.push_back(std::move(rec));
    rec = CsvRecord();
    record_open = false;
    if (i < n) {
      ++i;
      ++line;
    }
    rec.line = line;
  }
  if (record_open && !rec.fields.empty()) records.push_back(std::move(rec));
  return records;
}

Result<std::vector<McQuestion>> LoadMmlu(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string test_dir = dir + "/test";
  const std::string suffix = "_test.csv";
  std::vector<std::string> subjects;
  std::error_code ec;
  fs::directory_iterator it(test_dir, ec), end;
  if (ec)
    return Status::NotFound(test_dir + ": " + ec.message() +
                            " (expected DIR/test/<subject>_test.csv)");
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::IOError(test_dir + ": " + ec.message());
    const std::string name = it->path().filename().string();
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      subjects.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  if (subjects.empty()) return Status::NotFound(test_dir + ": no <subject>_test.csv files");
  std::sort(subjects.begin(), subjects.end());

  std::vector<std::vector<McQuestion>> per_subject;
  for (const std::string& subject : subjects) {
    const std::string dev_path = dir + "/dev/" + subject + "_dev.csv";
    const std::string test_path = test_dir + "/" + subject + suffix;
    TQF_ASSIGN_OR_RETURN(std::vector<MmluRow> dev, LoadMmluCsv(dev_path));
    TQF_ASSIGN_OR_RETURN(std::vector<MmluRow> test, LoadMmluCsv(test_path));
    std::string pretty = subject;
    std::replace(pretty.begin(), pretty.end(), '_', ' ');
    std::string shots =
        "The following are multiple choice questions (with answers) about " + pretty + ".\n\n";
    for (size_t k = 0; k < dev.size() && k < 5; ++k) shots += FormatExample(dev[k], true);
    std::vector<McQuestion> qs;
    for (size_t k = 0; k < test.size(); ++k) {
      McQuestion q;
      q.id = subject + "/" + std::to_string(k);
      q.prompt = shots + FormatExample(test[k], false);
      for (int c = 0; c < 4; ++c) q.options.push_back(std::string(" ") + kLetters[c]);
      q.gold = test[k].answer;
      qs.push_back(std::move(q));
    }
    per_subject.push_back(std::move(qs));
  }
  // Interleave: the k-th question of every subject, for k = 0, 1, ...
  std::vector<McQuestion> out;
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (std::vector<McQuestion>& qs : per_subject) {
      if (k < qs.size()) {
        out.push_back(std::move(qs[k]));
        any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

}  // namespace tqf::eval
