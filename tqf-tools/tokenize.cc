// tqf tokenize FILE TEXT [--decode] [--no-bos] [--parse-special] [--pieces]
// Encodes TEXT with the tokenizer of FILE (a .tqf, a tokenizer.bin or
// tokenizer.json, or any model `tqf pack` imports) and prints the ids, or
// with --decode turns ids back into text. For debugging prompts.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "tqf/import.h"
#include "tqf/internal/files.h"
#include "tqf/internal/utf8.h"
#include "tqf/reader.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::tools {
namespace {

const char kUsage[] =
    "usage: tqf tokenize FILE TEXT [--decode] [--no-bos] [--parse-special] [--pieces]\n"
    "  FILE             a .tqf, a tokenizer.bin / tokenizer.json, or a GGUF,\n"
    "                   safetensors or llama2.c model\n"
    "  TEXT             the text to encode ('-' reads standard input); with\n"
    "                   --decode, token ids separated by spaces or commas\n"
    "  --decode         print the text of the ids in TEXT\n"
    "  --no-bos         do not prepend BOS (default: as the model's metadata says)\n"
    "  --parse-special  match special tokens such as <|eot_id|> spelled in TEXT\n"
    "  --pieces         print one 'id<TAB>piece' line per token instead (special\n"
    "                   tokens and partial UTF-8 shown escaped)\n"
    "  --               end of options (for a TEXT that starts with '-')\n";

const uint8_t kTqfMagic[8] = {0x89, 'T', 'Q', 'F', '\r', '\n', 0x1a, '\n'};

// Reads the tokenizer of whatever `path` is.
Result<TokenizerData> LoadTokenizer(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(const std::string first, ReadFileHead(path, 8));
  const auto* head = reinterpret_cast<const uint8_t*>(first.data());
  const size_t got = first.size();
  if (got == sizeof(kTqfMagic) && std::memcmp(head, kTqfMagic, sizeof(kTqfMagic)) == 0) {
    ReadOptions options;
    options.verify_checksums = false;  // only the header is needed
    TQF_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, Reader::Open(path, options));
    return reader->model().tokenizer;
  }
  size_t i = 0;
  while (i < got && std::strchr(" \t\r\n", head[i])) ++i;
  if (i < got && head[i] == '{') return ImportTokenizer(path);
  Result<SourceModel> model = ImportModel(path);
  if (model.ok()) return std::move(model->info.tokenizer);
  if (model.status().IsNotFound() || model.status().IsIOError()) return model.status();
  // Not a model: perhaps a llama2.c tokenizer.bin.
  Result<TokenizerData> tok = ImportTokenizer(path);
  if (tok.ok()) return tok;
  return Status(model.status().code(),
                model.status().message() + "; as a tokenizer file: " + tok.status().message());
}

// Parses "1 2, 3" into ids; false on anything that is not an integer.
bool ParseIds(const std::string& text, std::vector<int32_t>* ids, std::string* bad) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (std::strchr(" \t\r\n,", text[pos])) {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < text.size() && !std::strchr(" \t\r\n,", text[end])) ++end;
    long long v;
    if (!ParseInt(text.substr(pos, end - pos), INT32_MIN, INT32_MAX, &v)) {
      *bad = text.substr(pos, end - pos);
      return false;
    }
    ids->push_back(static_cast<int32_t>(v));
    pos = end;
  }
  return true;
}

// The piece printed by --pieces: control characters and bytes that are not
// valid UTF-8 (part of a character split over tokens) escaped.
std::string Escape(const std::string& s) {
  std::string out;
  for (size_t pos = 0; pos < s.size();) {
    size_t len;
    uint32_t cp = DecodeUtf8(s, pos, &len);
    const unsigned char c = static_cast<unsigned char>(s[pos]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\\')
      out += "\\\\";
    else if (cp < 0x20 || cp == 0x7F || cp >= kInvalidCodepointBase) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out.append(s, pos, len);
    }
    pos += len;
  }
  return out;
}

struct TokenizeFlags {
  std::string file, text;
  bool decode = false, no_bos = false, parse_special = false, pieces = false;
};

// Fills *f; returns -1 to go on, or the exit code (help, usage error).
int ParseFlags(int argc, char** argv, TokenizeFlags* f) {
  Args args(argc, argv);
  std::vector<std::string> positional;
  bool options_done = false;
  while (!args.Done()) {
    if (!options_done) {
      if (args.Is("-h") || args.Is("--help")) {
        std::fputs(kUsage, stdout);
        return kExitOk;
      }
      if (args.Is("--")) {
        options_done = true;
        continue;
      }
      if (args.Is("--decode") && (f->decode = true)) continue;
      if (args.Is("--no-bos") && (f->no_bos = true)) continue;
      if (args.Is("--parse-special") && (f->parse_special = true)) continue;
      if (args.Is("--pieces") && (f->pieces = true)) continue;
    }
    std::string a = args.Next();
    if (!options_done && a.size() > 1 && a[0] == '-') {
      return Usage("tokenize", "unknown option '" + a + "'", kUsage);
    }
    positional.push_back(a);
  }
  if (positional.size() != 2) {
    return Usage("tokenize", positional.empty() ? "no file given" : "expected FILE and TEXT",
                 kUsage);
  }
  f->file = positional[0];
  f->text = positional[1];
  return -1;
}

// Standard input, up to kMaxStdinBytes (more is refused: a text to tokenize
// is not a stream without end).
constexpr size_t kMaxStdinBytes = size_t{256} << 20;
Result<std::string> ReadStdin() {
  std::string text;
  char buf[1 << 16];
  while (std::cin.read(buf, sizeof(buf)) || std::cin.gcount() > 0) {
    text.append(buf, static_cast<size_t>(std::cin.gcount()));
    if (text.size() > kMaxStdinBytes) {
      return Status::InvalidArgument("standard input is longer than " +
                                     std::to_string(kMaxStdinBytes) + " bytes");
    }
  }
  return text;
}

void PrintIds(const rt::Tokenizer& t, const std::vector<int32_t>& ids, const TokenizeFlags& f) {
  if (f.pieces) {
    for (size_t i = 0; i < ids.size(); ++i) {
      std::string piece =
          t.IsSpecial(ids[i]) ? t.TokenText(ids[i]) : t.DecodePiece(i ? ids[i - 1] : -1, ids[i]);
      std::printf("%d\t%s\n", ids[i], Escape(piece).c_str());
    }
  } else if (f.decode) {
    std::string out = t.Decode(ids);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
  }
}

}  // namespace

int CmdTokenize(int argc, char** argv) {
  TokenizeFlags f;
  if (int code = ParseFlags(argc, argv, &f); code >= 0) return code;
  if (f.text == "-") {
    Result<std::string> in = ReadStdin();
    if (!in.ok()) return Fail("tokenize", in.status());
    f.text = std::move(in).value();
  }
  Result<TokenizerData> data = LoadTokenizer(f.file);
  if (!data.ok()) return Fail("tokenize", data.status().ToString());
  auto tok = rt::Tokenizer::Create(*data);
  if (!tok.ok()) return Fail("tokenize", f.file + ": " + tok.status().ToString());
  const rt::Tokenizer& t = **tok;

  std::vector<int32_t> ids;
  if (f.decode) {
    std::string bad;
    if (!ParseIds(f.text, &ids, &bad)) {
      return Usage("tokenize", "--decode: '" + bad + "' is not a token id", kUsage);
    }
    for (int32_t id : ids) {
      if (id < 0 || id >= t.vocab_size()) {
        return Fail("tokenize",
                    "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                        std::to_string(t.vocab_size()) + ")",
                    kExitUsage);
      }
    }
  } else {
    ids = t.Encode(f.text, t.add_bos_default() && !f.no_bos, f.parse_special);
  }
  PrintIds(t, ids, f);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace tqf::tools
