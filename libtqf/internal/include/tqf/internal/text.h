// Printing strings that come from files (tensor names, metadata, tokenizer
// pieces, messages that quote them) safely: as JSON that is always valid,
// and on a terminal without control sequences. A hostile file could
// otherwise emit raw invalid UTF-8 into `--json` output or ESC/BEL sequences
// into a user's terminal.
// Thread-safety: pure functions.
#ifndef TQF_INTERNAL_TEXT_H_
#define TQF_INTERNAL_TEXT_H_

#include <string>
#include <string_view>

namespace tqf {

// The contents of a JSON string literal (no quotes) for `s`: `"` and `\`
// escaped, control characters as \uXXXX (\n, \r, \t by name), valid UTF-8
// kept, and each byte of an invalid UTF-8 sequence as the six characters
// \\xNN (a literal backslash, 'x' and two hex digits in the decoded value).
std::string JsonEscape(std::string_view s);

// `v` as a JSON number, the shortest text that reads back as the same
// value, or null when it is not finite (JSON has no inf or NaN).
std::string JsonNumber(double v);
std::string JsonNumber(float v);

// `s` with everything a terminal could interpret replaced by visible
// escapes: C0 controls, DEL and C1 controls as \xNN (tab, newline and
// carriage return as \t \n \r), invalid UTF-8 bytes as \xNN. Valid printable
// UTF-8 is kept.
std::string TerminalSafe(std::string_view s);

}  // namespace tqf

#endif  // TQF_INTERNAL_TEXT_H_
