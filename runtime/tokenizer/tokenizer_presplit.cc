// The byte-level BPE pre-tokenizers (tqf/internal/pretokenizer.h): the
// Llama 3 and GPT-2 split regexes implemented by hand over codepoints (std::regex has no \p{L}).
// Each function below returns the end of the match starting at `i`, trying the pattern's
// alternatives in order with the backtracking a regex engine does.
#include <string>

#include "tokenizer_internal.h"
#include "unicode_classes.h"

namespace tqf::rt::tokenizer_internal {
namespace {

using Cps = std::vector<uint32_t>;

bool IsCrLf(uint32_t c) { return c == '\r' || c == '\n'; }
bool IsOther(uint32_t c) { return !IsWhiteSpace(c) && !IsLetter(c) && !IsNumber(c); }
uint32_t Lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// 's 't 're 've 'm 'll 'd; returns the match length or 0.
size_t Contraction(const Cps& c, size_t i, bool ignore_case) {
  const size_t n = c.size();
  if (c[i] != '\'' || i + 1 >= n) return 0;
  auto at = [&](size_t k) { return ignore_case ? Lower(c[k]) : c[k]; };
  uint32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  uint32_t b = at(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s*[\r\n]+ | \s+(?!\S) | \s+ (the Llama 3 tail; GPT-2 lacks the first).
size_t Whitespace(const Cps& c, size_t i, bool newline_alt) {
  const size_t n = c.size();
  size_t end = i;
  while (end < n && IsWhiteSpace(c[end])) ++end;
  if (newline_alt) {
    for (size_t k = end; k > i; --k) {
      if (IsCrLf(c[k - 1])) return k;  // \s* backs off to the last newline
    }
  }
  if (end == n) return end;         // \s+(?!\S) at the end of the text
  if (end - 1 > i) return end - 1;  // leave one space for the next word
  return end;                       // \s+
}

size_t MatchLlama3(const Cps& c, size_t i) {
  const size_t n = c.size();
  if (size_t len = Contraction(c, i, /*ignore_case=*/true)) return i + len;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  size_t j = i;
  if (!IsCrLf(c[j]) && !IsLetter(c[j]) && !IsNumber(c[j]) && j + 1 < n && IsLetter(c[j + 1])) ++j;
  if (IsLetter(c[j])) {
    while (j < n && IsLetter(c[j])) ++j;
    return j;
  }
  // \p{N}{1,3}
  if (IsNumber(c[i])) {
    j = i;
    while (j < n && j - i < 3 && IsNumber(c[j])) ++j;
    return j;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  j = i;
  if (c[j] == ' ' && j + 1 < n && IsOther(c[j + 1])) ++j;
  if (IsOther(c[j])) {
    while (j < n && IsOther(c[j])) ++j;
    while (j < n && IsCrLf(c[j])) ++j;
    return j;
  }
  return Whitespace(c, i, /*newline_alt=*/true);
}

size_t MatchGpt2(const Cps& c, size_t i) {
  const size_t n = c.size();
  if (size_t len = Contraction(c, i, /*ignore_case=*/false)) return i + len;
  //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
  for (bool (*cls)(uint32_t) : {&IsLetter, &IsNumber, &IsOther}) {
    size_t j = i;
    if (c[j] == ' ' && j + 1 < n && cls(c[j + 1])) ++j;
    if (cls(c[j])) {
      while (j < n && cls(c[j])) ++j;
      return j;
    }
  }
  return Whitespace(c, i, /*newline_alt=*/false);
}

}  // namespace

void PreSplit(std::string_view text, PreTokenizer pattern, std::vector<std::string_view>* pieces) {
  Cps cps;
  std::vector<size_t> offsets;  // byte offset of each codepoint, plus the end
  cps.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    size_t len;
    cps.push_back(DecodeUtf8(text, pos, &len));
    offsets.push_back(pos);
    pos += len;
  }
  offsets.push_back(text.size());
  for (size_t i = 0; i < cps.size();) {
    size_t end = pattern == PreTokenizer::kLlama3 ? MatchLlama3(cps, i) : MatchGpt2(cps, i);
    if (end <= i) end = i + 1;  // cannot happen (\s+ or a class always matches); be safe
    pieces->push_back(text.substr(offsets[i], offsets[end] - offsets[i]));
    i = end;
  }
}

}  // namespace tqf::rt::tokenizer_internal
