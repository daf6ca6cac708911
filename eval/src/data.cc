// Loaders for plain text, ARC (jsonl) and HellaSwag (6-line text format).
#include "tqf/eval/data.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tqf/internal/files.h"
#include "tqf/internal/json.h"

namespace tqf::eval {
namespace {

// Splits newline-normalised text into lines; a final newline does not start
// an extra line.
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string Where(const std::string& path, size_t line) {
  return path + ":" + std::to_string(line);
}

// The string array member `key` of `obj`, or an error naming `where`.
Status StringArray(const json::Value& obj, const char* key, const std::string& where,
                   std::vector<std::string>* out) {
  const json::Value* v = obj.Find(key);
  if (v == nullptr || !v->is_array()) {
    return Status::Corruption(where + ": choices." + key + " missing or not an array");
  }
  for (const json::Value& item : v->items()) {
    if (!item.is_string()) {
      return Status::Corruption(where + ": choices." + key + " holds a " +
                                json::TypeName(item.type()) + ", expected strings");
    }
    out->push_back(item.as_string());
  }
  return Status::OK();
}

Result<McQuestion> ParseArcLine(std::string_view line, const std::string& where) {
  Result<json::Value> parsed = json::Parse(line);
  if (!parsed.ok()) return Status::Corruption(where + ": " + parsed.status().message());
  const json::Value& obj = *parsed;
  if (!obj.is_object()) return Status::Corruption(where + ": expected a JSON object");
  const json::Value* question = obj.Find("question");
  const json::Value* choices = obj.Find("choices");
  const json::Value* answer = obj.Find("answerKey");
  if (question == nullptr || !question->is_string()) {
    return Status::Corruption(where + ": 'question' missing or not a string");
  }
  if (choices == nullptr || !choices->is_object()) {
    return Status::Corruption(where + ": 'choices' missing or not an object");
  }
  if (answer == nullptr || !answer->is_string()) {
    return Status::Corruption(where + ": 'answerKey' missing or not a string");
  }
  std::vector<std::string> texts, labels;
  TQF_RETURN_IF_ERROR(StringArray(*choices, "text", where, &texts));
  TQF_RETURN_IF_ERROR(StringArray(*choices, "label", where, &labels));
  if (texts.size() != labels.size() || texts.size() < 2) {
    return Status::Corruption(where + ": " + std::to_string(texts.size()) + " choice texts and " +
                              std::to_string(labels.size()) +
                              " labels (expected the same number, at least 2)");
  }
  McQuestion q;
  const json::Value* id = obj.Find("id");
  q.id = id != nullptr && id->is_string() ? id->as_string() : where;
  q.prompt = "Question: " + question->as_string() + "\nAnswer:";
  q.gold = -1;
  for (size_t i = 0; i < texts.size(); ++i) {
    q.options.push_back(" " + texts[i]);
    if (labels[i] == answer->as_string()) q.gold = static_cast<int>(i);
  }
  if (q.gold < 0) {
    return Status::Corruption(where + ": answerKey '" + answer->as_string() +
                              "' is none of the choice labels");
  }
  return q;
}

}  // namespace

Result<std::string> ReadFileBytes(const std::string& path) {
  return ReadRegularFile(path, kMaxDataFileBytes);
}

std::string NormalizeNewlines(std::string_view text) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Result<std::string> LoadText(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::string raw, ReadFileBytes(path));
  return NormalizeNewlines(raw);
}

Result<std::vector<McQuestion>> LoadArc(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::string raw, ReadFileBytes(path));
  const std::string text = NormalizeNewlines(raw);
  std::vector<McQuestion> out;
  const std::vector<std::string_view> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t") == std::string_view::npos) continue;  // blank
    TQF_ASSIGN_OR_RETURN(McQuestion q, ParseArcLine(lines[i], Where(path, i + 1)));
    out.push_back(std::move(q));
  }
  if (out.empty()) return Status::Corruption(path + ": no questions");
  return out;
}

Result<std::vector<McQuestion>> LoadHellaswag(const std::string& path) {
  constexpr size_t kLinesPerTask = 6;
  TQF_ASSIGN_OR_RETURN(std::string raw, ReadFileBytes(path));
  const std::string text = NormalizeNewlines(raw);
  const std::vector<std::string_view> lines = SplitLines(text);
  if (lines.empty()) return Status::Corruption(path + ": no tasks");
  if (lines.size() % kLinesPerTask != 0) {
    const size_t start = lines.size() / kLinesPerTask * kLinesPerTask;
    return Status::Corruption(Where(path, start + 1) +
                              ": incomplete task: " + std::to_string(lines.size() - start) +
                              " lines left, expected 6 (context, gold index 0-3, 4 endings)");
  }
  std::vector<McQuestion> out;
  out.reserve(lines.size() / kLinesPerTask);
  for (size_t t = 0; t < lines.size(); t += kLinesPerTask) {
    std::string_view gold = lines[t + 1];
    if (gold.size() != 1 || gold[0] < '0' || gold[0] > '3') {
      return Status::Corruption(Where(path, t + 2) +
                                ": expected the right ending's index 0-3, got '" +
                                std::string(gold.substr(0, 40)) + "'");
    }
    McQuestion q;
    q.id = Where(path, t + 1);
    q.prompt = std::string(lines[t]);
    q.gold = gold[0] - '0';
    for (size_t e = 0; e < 4; ++e) q.options.push_back(" " + std::string(lines[t + 2 + e]));
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace tqf::eval
