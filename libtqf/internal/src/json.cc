// Recursive-descent JSON parser (see json.h).
#include "tqf/internal/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <new>

#include "tqf/internal/utf8.h"

namespace tqf::json {

const char* TypeName(Type t) {
  switch (t) {
    case Type::kNull: return "null";
    case Type::kBool: return "bool";
    case Type::kNumber: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: return "object";
  }
  return "unknown";
}

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &items_[i];
  }
  return nullptr;
}

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options)
      : p_(text.data()),
        begin_(text.data()),
        end_(text.data() + text.size()),
        max_depth_(options.max_depth) {}

  Status ParseDocument(Value* out) {
    SkipSpace();
    TQF_RETURN_IF_ERROR(ParseValue(out, 0));
    SkipSpace();
    if (p_ != end_) return Error("unexpected trailing characters after the JSON value");
    return Status::OK();
  }

 private:
  Status Error(const std::string& what) const {
    return Status::Corruption("JSON: " + what + " at byte " + std::to_string(p_ - begin_));
  }

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size()) return false;
    if (std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  Status ParseValue(Value* out, int depth) {
    if (p_ == end_) return Error("unexpected end of input, expected a value");
    switch (*p_) {
      case '{': return ParseObject(out, depth + 1);
      case '[': return ParseArray(out, depth + 1);
      case '"': out->type_ = Type::kString; return ParseString(&out->string_);
      case 't':
        if (!Literal("true")) return Error("invalid literal");
        out->type_ = Type::kBool;
        out->bool_ = true;
        return Status::OK();
      case 'f':
        if (!Literal("false")) return Error("invalid literal");
        out->type_ = Type::kBool;
        out->bool_ = false;
        return Status::OK();
      case 'n':
        if (!Literal("null")) return Error("invalid literal");
        out->type_ = Type::kNull;
        return Status::OK();
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return ParseNumber(out);
        return Error(std::string("unexpected character '") + Printable(*p_) + "'");
    }
  }

  static std::string Printable(char c) {
    if (c >= 0x20 && c < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
    return buf;
  }

  Status ParseObject(Value* out, int depth) {
    if (depth > max_depth_) return Error("nesting deeper than " + std::to_string(max_depth_));
    out->type_ = Type::kObject;
    ++p_;  // '{'
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return Status::OK();
    }
    while (true) {
      SkipSpace();
      if (p_ == end_ || *p_ != '"') return Error("expected a string key in object");
      out->keys_.emplace_back();
      TQF_RETURN_IF_ERROR(ParseString(&out->keys_.back()));
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return Error("expected ':' after object key");
      ++p_;
      SkipSpace();
      out->items_.emplace_back();
      TQF_RETURN_IF_ERROR(ParseValue(&out->items_.back(), depth));
      SkipSpace();
      if (p_ == end_) return Error("unexpected end of input in object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return Status::OK();
      }
      return Error("expected ',' or '}' in object");
    }
  }

  Status ParseArray(Value* out, int depth) {
    if (depth > max_depth_) return Error("nesting deeper than " + std::to_string(max_depth_));
    out->type_ = Type::kArray;
    ++p_;  // '['
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return Status::OK();
    }
    while (true) {
      SkipSpace();
      out->items_.emplace_back();
      TQF_RETURN_IF_ERROR(ParseValue(&out->items_.back(), depth));
      SkipSpace();
      if (p_ == end_) return Error("unexpected end of input in array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return Status::OK();
      }
      return Error("expected ',' or ']' in array");
    }
  }

  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads the 4 hex digits after "\u" (p_ at the first digit).
  bool Hex4(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      int d = HexDigit(p_[i]);
      if (d < 0) return false;
      r = (r << 4) | static_cast<uint32_t>(d);
    }
    p_ += 4;
    *v = r;
    return true;
  }

  Status ParseString(std::string* out) {
    ++p_;  // opening quote
    while (true) {
      // Fast path: copy a run of plain characters at once.
      const char* run = p_;
      while (p_ != end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) {
        ++p_;
      }
      out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == end_) return Error("unterminated string");
      if (*p_ == '"') {
        ++p_;
        return Status::OK();
      }
      if (*p_ != '\\') return Error("control character inside string");
      ++p_;
      if (p_ == end_) return Error("unterminated escape in string");
      char c = *p_++;
      switch (c) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return Error("invalid \\u escape (expected 4 hex digits)");
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("unpaired low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
              return Error("high surrogate not followed by a \\u low surrogate");
            }
            p_ += 2;
            if (!Hex4(&lo)) return Error("invalid \\u escape (expected 4 hex digits)");
            if (lo < 0xDC00 || lo > 0xDFFF)
              return Error("high surrogate followed by a non-low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default: --p_; return Error("invalid escape character '" + Printable(c) + "'");
      }
    }
  }

  Status ParseNumber(Value* out) {
    const char* start = p_;
    bool integral = true;
    if (*p_ == '-') ++p_;
    if (p_ == end_) return Error("truncated number");
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return Error("invalid number");
    }
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return Error("expected digits after '.'");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return Error("expected digits in exponent");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    out->type_ = Type::kNumber;
    double d = 0.0;
    auto r = std::from_chars(start, p_, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow to +-inf or underflow to 0, as strtod would.
      bool neg = *start == '-';
      bool tiny = false;
      for (const char* q = start; q != p_; ++q) {
        if (*q == 'e' || *q == 'E') {
          tiny = q + 1 != p_ && q[1] == '-';
          break;
        }
      }
      d = tiny ? (neg ? -0.0 : 0.0) : (neg ? -HUGE_VAL : HUGE_VAL);
    } else if (r.ec != std::errc() || r.ptr != p_) {
      return Error("invalid number");
    }
    out->number_ = d;
    if (integral) {
      int64_t i = 0;
      auto ri = std::from_chars(start, p_, i);
      if (ri.ec == std::errc() && ri.ptr == p_) {
        out->is_int_ = true;
        out->int_ = i;
      }
    }
    return Status::OK();
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  int max_depth_;
};

Result<Value> Parse(std::string_view text, const ParseOptions& options) {
  try {
    Value v;
    Parser parser(text, options);
    TQF_RETURN_IF_ERROR(parser.ParseDocument(&v));
    return v;
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("JSON: out of memory parsing " + std::to_string(text.size()) +
                                     " bytes");
  }
}

}  // namespace tqf::json
