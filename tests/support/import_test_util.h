// Builders for hand-made GGUF and safetensors images used by the importer
// tests (good files to start from, and corrupt variants).
#ifndef TQF_TESTS_IMPORT_TEST_UTIL_H_
#define TQF_TESTS_IMPORT_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "import/hf_llama.h"
#include "tqf/internal/half.h"
#include "tqf/quantize.h"

namespace tqf::testing_util {

inline bool WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}
inline bool WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  return WriteFile(path, std::string(bytes.begin(), bytes.end()));
}

inline void PermuteRowsForTest(const uint8_t* src, uint8_t* dst, size_t rows, size_t row_bytes,
                               size_t n_head) {
  hf::PermuteRows(src, dst, rows, row_bytes, n_head);
}

// Little-endian byte writer.
class Bytes {
 public:
  void U8(uint8_t v) { b_.push_back(v); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void F32(float v) { Raw(&v, 4); }
  void Str(const std::string& s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) {
    const uint8_t* c = static_cast<const uint8_t*>(p);
    b_.insert(b_.end(), c, c + n);
  }
  void PadTo(size_t align) {
    while (b_.size() % align) b_.push_back(0);
  }
  std::vector<uint8_t>& bytes() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

// A GGUF v3 image with a few key-values and F32 tensors.
struct GgufTensorSpec {
  std::string name;
  std::vector<uint64_t> ne;  // GGUF order (ne0 first)
  uint32_t type = 0;         // ggml type
  std::vector<uint8_t> data;
};

inline std::vector<uint8_t> MakeGguf(const std::vector<GgufTensorSpec>& tensors,
                                     uint32_t version = 3, bool with_tokenizer = true) {
  Bytes b;
  b.Raw("GGUF", 4);
  b.U32(version);
  b.U64(tensors.size());
  b.U64(with_tokenizer ? 6 : 3);
  b.Str("general.architecture");
  b.U32(8);
  b.Str("llama");
  b.Str("llama.embedding_length");
  b.U32(4);
  b.U32(4);
  b.Str("llama.attention.head_count");
  b.U32(4);
  b.U32(2);
  if (with_tokenizer) {
    b.Str("tokenizer.ggml.model");
    b.U32(8);
    b.Str("llama");
    b.Str("tokenizer.ggml.tokens");
    b.U32(9);
    b.U32(8);
    b.U64(3);
    b.Str("<unk>");
    b.Str("<s>");
    b.Str("</s>");
    b.Str("tokenizer.ggml.scores");
    b.U32(9);
    b.U32(6);
    b.U64(3);
    b.F32(0);
    b.F32(-1);
    b.F32(-2);
  }
  uint64_t offset = 0;
  for (const GgufTensorSpec& t : tensors) {
    b.Str(t.name);
    b.U32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) b.U64(n);
    b.U32(t.type);
    b.U64(offset);
    offset += (t.data.size() + 31) / 32 * 32;
  }
  b.PadTo(32);
  for (const GgufTensorSpec& t : tensors) {
    b.Raw(t.data.data(), t.data.size());
    b.PadTo(32);
  }
  return b.bytes();
}

inline std::vector<uint8_t> F32Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// Builds a safetensors file from named tensors.
class SafetensorsBuilder {
 public:
  void AddF32(const std::string& name, std::vector<uint64_t> shape, const std::vector<float>& v) {
    Add(name, "F32", std::move(shape), F32Bytes(v));
  }
  void AddF16(const std::string& name, std::vector<uint64_t> shape, const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = F32ToF16(v[i]);
      std::memcpy(&b[2 * i], &h, 2);
    }
    Add(name, "F16", std::move(shape), std::move(b));
  }
  void Add(const std::string& name, const std::string& dtype, std::vector<uint64_t> shape,
           std::vector<uint8_t> bytes) {
    if (!header_.empty()) header_ += ",";
    header_ += "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[";
    for (size_t i = 0; i < shape.size(); ++i) header_ += (i ? "," : "") + std::to_string(shape[i]);
    header_ += "],\"data_offsets\":[" + std::to_string(data_.size()) + "," +
               std::to_string(data_.size() + bytes.size()) + "]}";
    data_.insert(data_.end(), bytes.begin(), bytes.end());
  }
  std::vector<uint8_t> Build(const std::string& metadata = "") const {
    std::string h =
        "{" + (metadata.empty() ? "" : "\"__metadata__\":" + metadata + ",") + header_ + "}";
    Bytes b;
    b.U64(h.size());
    b.Raw(h.data(), h.size());
    b.Raw(data_.data(), data_.size());
    return b.bytes();
  }
  bool Write(const std::string& path) const { return WriteFile(path, Build()); }

 private:
  std::string header_;
  std::vector<uint8_t> data_;
};

}  // namespace tqf::testing_util

#endif  // TQF_TESTS_IMPORT_TEST_UTIL_H_
