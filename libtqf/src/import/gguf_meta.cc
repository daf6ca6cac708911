// GGUF metadata: cursor, key-value parsing and ModelInfo mapping.
#include "import/gguf_meta.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "util/bytes.h"

namespace tqf::gguf {
namespace {

constexpr int kMaxArrayNesting = 3;

// Smallest encoding of one element of type t (for count caps).
size_t MinSize(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool: return 1;
    case ValueType::kU16:
    case ValueType::kI16: return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32: return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64: return 8;
    case ValueType::kString: return 8;
    case ValueType::kArray: return 12;
  }
  return 1;
}

bool KnownType(uint32_t t) { return t <= 12; }

// Reads one scalar of type t into (i, u, f); strings into *s.
Status ReadScalar(Cursor* c, ValueType t, int64_t* i, uint64_t* u, double* f, std::string* s) {
  uint8_t b;
  uint16_t h;
  uint32_t w;
  uint64_t q;
  switch (t) {
    case ValueType::kU8:
      TQF_RETURN_IF_ERROR(c->U8(&b, "u8 value"));
      *u = b;
      *i = b;
      break;
    case ValueType::kI8:
      TQF_RETURN_IF_ERROR(c->U8(&b, "i8 value"));
      *i = int8_t(b);
      break;
    case ValueType::kBool:
      TQF_RETURN_IF_ERROR(c->U8(&b, "bool value"));
      *u = *i = b != 0;
      break;
    case ValueType::kU16:
      TQF_RETURN_IF_ERROR(c->U16(&h, "u16 value"));
      *u = h;
      *i = h;
      break;
    case ValueType::kI16:
      TQF_RETURN_IF_ERROR(c->U16(&h, "i16 value"));
      *i = int16_t(h);
      break;
    case ValueType::kU32:
      TQF_RETURN_IF_ERROR(c->U32(&w, "u32 value"));
      *u = w;
      *i = w;
      break;
    case ValueType::kI32:
      TQF_RETURN_IF_ERROR(c->U32(&w, "i32 value"));
      *i = int32_t(w);
      break;
    case ValueType::kF32: {
      TQF_RETURN_IF_ERROR(c->U32(&w, "f32 value"));
      float v;
      std::memcpy(&v, &w, 4);
      *f = v;
      break;
    }
    case ValueType::kU64:
      TQF_RETURN_IF_ERROR(c->U64(&q, "u64 value"));
      *u = q;
      *i = int64_t(q);
      break;
    case ValueType::kI64:
      TQF_RETURN_IF_ERROR(c->U64(&q, "i64 value"));
      *i = int64_t(q);
      break;
    case ValueType::kF64: {
      TQF_RETURN_IF_ERROR(c->U64(&q, "f64 value"));
      double v;
      std::memcpy(&v, &q, 8);
      *f = v;
      break;
    }
    case ValueType::kString: return c->String(s, "string value");
    case ValueType::kArray: return Status::Corruption("internal: array as scalar");
  }
  return Status::OK();
}

bool IsFloat(ValueType t) { return t == ValueType::kF32 || t == ValueType::kF64; }
bool IsSigned(ValueType t) {
  return t == ValueType::kI8 || t == ValueType::kI16 || t == ValueType::kI32 ||
         t == ValueType::kI64;
}

// Reads an array body (element type, count, elements). kv == nullptr for
// nested arrays, whose contents are only validated.
Status ReadArray(Cursor* c, KeyValue* kv, int depth, const std::string& key) {
  const size_t at = c->pos();
  uint32_t et;
  uint64_t count;
  TQF_RETURN_IF_ERROR(c->U32(&et, "array element type"));
  TQF_RETURN_IF_ERROR(c->U64(&count, "array length"));
  if (!KnownType(et)) {
    return Status::Corruption("GGUF key '" + key + "': array at byte " + std::to_string(at) +
                              " has unknown element type " + std::to_string(et));
  }
  const ValueType t = static_cast<ValueType>(et);
  if (count > c->remaining() / MinSize(t)) {
    return Status::Corruption("GGUF key '" + key + "': array length " + std::to_string(count) +
                              " of " + ValueTypeName(t) + " at byte " + std::to_string(at) +
                              " exceeds the " + std::to_string(c->remaining()) + " bytes left");
  }
  if (t == ValueType::kArray && depth >= kMaxArrayNesting) {
    return Status::Corruption("GGUF key '" + key + "': arrays nested deeper than " +
                              std::to_string(kMaxArrayNesting));
  }
  if (kv) {
    kv->elem_type = t;
    kv->count = count;
    if (t == ValueType::kString)
      kv->strs.reserve(count);
    else if (IsFloat(t))
      kv->floats.reserve(count);
    else if (t != ValueType::kArray)
      kv->ints.reserve(count);
  }
  for (uint64_t n = 0; n < count; ++n) {
    if (t == ValueType::kArray) {
      TQF_RETURN_IF_ERROR(ReadArray(c, nullptr, depth + 1, key));
      continue;
    }
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    std::string s;
    TQF_RETURN_IF_ERROR(ReadScalar(c, t, &i, &u, &f, &s));
    if (!kv) continue;
    if (t == ValueType::kString)
      kv->strs.push_back(std::move(s));
    else if (IsFloat(t))
      kv->floats.push_back(f);
    else
      kv->ints.push_back(i);
  }
  return Status::OK();
}

}  // namespace

const char* ValueTypeName(ValueType t) {
  static const char* kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                 "bool", "string", "array", "u64", "i64", "f64"};
  const uint32_t v = static_cast<uint32_t>(t);
  return v < 13 ? kNames[v] : "unknown";
}

Status Cursor::Need(size_t n, const char* what) const {
  if (n <= size_ - pos_) return Status::OK();
  return Status::Corruption(std::string("GGUF: truncated ") + what + " at byte " +
                            std::to_string(pos_) + " (need " + std::to_string(n) + " bytes, have " +
                            std::to_string(size_ - pos_) + ")");
}
Status Cursor::U8(uint8_t* v, const char* what) {
  TQF_RETURN_IF_ERROR(Need(1, what));
  *v = data_[pos_++];
  return Status::OK();
}
Status Cursor::U16(uint16_t* v, const char* what) {
  TQF_RETURN_IF_ERROR(Need(2, what));
  *v = LoadLE16(data_ + pos_);
  pos_ += 2;
  return Status::OK();
}
Status Cursor::U32(uint32_t* v, const char* what) {
  TQF_RETURN_IF_ERROR(Need(4, what));
  *v = LoadLE32(data_ + pos_);
  pos_ += 4;
  return Status::OK();
}
Status Cursor::U64(uint64_t* v, const char* what) {
  TQF_RETURN_IF_ERROR(Need(8, what));
  *v = LoadLE64(data_ + pos_);
  pos_ += 8;
  return Status::OK();
}
Status Cursor::String(std::string* s, const char* what) {
  const size_t at = pos_;
  uint64_t len;
  TQF_RETURN_IF_ERROR(U64(&len, what));
  if (len > remaining()) {
    return Status::Corruption(std::string("GGUF: ") + what + " at byte " + std::to_string(at) +
                              " has length " + std::to_string(len) + " but only " +
                              std::to_string(remaining()) + " bytes remain");
  }
  s->assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return Status::OK();
}

bool KeyValue::IsInteger() const {
  return type != ValueType::kString && type != ValueType::kArray && !IsFloat(type);
}
bool KeyValue::AsInt(int64_t* v) const {
  if (!IsInteger()) return false;
  if (type == ValueType::kU64 && u > static_cast<uint64_t>(INT64_MAX)) return false;
  *v = i;
  return true;
}
bool KeyValue::AsUInt(uint64_t* v) const {
  if (!IsInteger()) return false;
  if (IsSigned(type)) {
    if (i < 0) return false;
    *v = static_cast<uint64_t>(i);
  } else {
    *v = u;
  }
  return true;
}
bool KeyValue::AsFloat(double* v) const {
  if (IsFloat(type)) {
    *v = f;
    return true;
  }
  int64_t x;
  if (AsInt(&x)) {
    *v = static_cast<double>(x);
    return true;
  }
  return false;
}
std::string KeyValue::ToString() const {
  if (type == ValueType::kString) return str;
  if (type == ValueType::kArray) {
    return std::string("[") + ValueTypeName(elem_type) + " x " + std::to_string(count) + "]";
  }
  if (type == ValueType::kBool) return u ? "true" : "false";
  if (IsFloat(type)) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", f);
    return buf;
  }
  return IsSigned(type) ? std::to_string(i) : std::to_string(u);
}

Status ReadKeyValue(Cursor* c, KeyValue* kv) {
  kv->pos = c->pos();
  TQF_RETURN_IF_ERROR(c->String(&kv->key, "metadata key"));
  uint32_t t;
  TQF_RETURN_IF_ERROR(c->U32(&t, "metadata value type"));
  if (!KnownType(t)) {
    return Status::Corruption("GGUF key '" + kv->key + "' at byte " + std::to_string(kv->pos) +
                              ": unknown value type " + std::to_string(t) + " (expected 0..12)");
  }
  kv->type = static_cast<ValueType>(t);
  if (kv->type == ValueType::kArray) return ReadArray(c, kv, 0, kv->key);
  return ReadScalar(c, kv->type, &kv->i, &kv->u, &kv->f, &kv->str);
}

const KeyValue* Find(const std::vector<KeyValue>& kvs, const std::string& key) {
  for (const KeyValue& kv : kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

}  // namespace tqf::gguf
