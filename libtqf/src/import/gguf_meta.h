// GGUF metadata (internal): a bounds-checked cursor over the file image,
// key-value parsing for every GGUF value type, and the mapping of the
// `<arch>.*` and `tokenizer.ggml.*` keys into ModelInfo.
#ifndef TQF_IMPORT_GGUF_META_H_
#define TQF_IMPORT_GGUF_META_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tqf/import.h"
#include "tqf/status.h"
#include "tqf/types.h"

namespace tqf::gguf {

// Reads little-endian values; every read checks the bytes remaining and
// returns kCorruption "truncated <what> at byte N (need k, have r)".
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  void Skip(size_t n) { pos_ += n; }  // caller checked n <= remaining()

  Status Need(size_t n, const char* what) const;
  Status U8(uint8_t* v, const char* what);
  Status U16(uint16_t* v, const char* what);
  Status U32(uint32_t* v, const char* what);
  Status U64(uint64_t* v, const char* what);
  // uint64 length, then that many bytes (checked against what remains).
  Status String(std::string* s, const char* what);

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

enum class ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* ValueTypeName(ValueType t);

struct KeyValue {
  std::string key;
  size_t pos = 0;  // byte offset of the key, for messages
  ValueType type = ValueType::kU8;
  // Scalars: integers in `i` (signed) or `u` (unsigned, bool), floats in
  // `f`, strings in `str`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  std::string str;
  // Arrays: element type and count; strings in `strs`, integer/bool
  // elements in `ints`, float elements in `floats`. Nested arrays are
  // validated and counted but their contents are not kept.
  ValueType elem_type = ValueType::kU8;
  uint64_t count = 0;
  std::vector<std::string> strs;
  std::vector<int64_t> ints;
  std::vector<double> floats;

  bool IsInteger() const;
  bool AsInt(int64_t* v) const;  // any integer or bool type that fits
  bool AsUInt(uint64_t* v) const;
  bool AsFloat(double* v) const;  // float or integer types
  std::string ToString() const;   // scalars; arrays as "[type x count]"
};

Status ReadKeyValue(Cursor* c, KeyValue* kv);
const KeyValue* Find(const std::vector<KeyValue>& kvs, const std::string& key);

// Hyperparameters from `<arch>.*`, the tokenizer from `tokenizer.ggml.*`,
// remaining scalar keys into info->metadata as strings.
Status FillModelInfo(const std::vector<KeyValue>& kvs, const std::vector<SourceTensor>& tensors,
                     ModelInfo* info);

}  // namespace tqf::gguf

#endif  // TQF_IMPORT_GGUF_META_H_
