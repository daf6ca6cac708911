// ImportModel (format detection by content) and SourceTensor's element
// accessors, shared by every importer.
#include "tqf/import.h"

#include <cstring>
#include <memory>
#include <string>

#include "import/ggml_blocks.h"
#include "import/hf_llama.h"
#include "import/import_internal.h"
#include "tqf/internal/half.h"
#include "tqf/mapped_file.h"
#include "tqf/quantize.h"
#include "util/bytes.h"

namespace tqf {
namespace import_internal {

bool TensorBytes(DType dtype, uint64_t count, uint64_t* bytes) {
  if (const ggml::BlockType* bt = ggml::FindByDType(dtype)) {
    if (count % bt->elements != 0) return false;
    return !MulOverflow(count / bt->elements, bt->bytes, bytes);
  }
  const size_t es = DTypeSize(dtype);
  if (es == 0) return false;
  return !MulOverflow(count, es, bytes);
}

void AddKeepAlive(SourceModel* m, std::shared_ptr<const void> owner) {
  struct Both {
    std::shared_ptr<const void> first, second;
  };
  m->keep_alive =
      m->keep_alive ? std::make_shared<const Both>(Both{std::move(m->keep_alive), std::move(owner)})
                    : std::move(owner);
}

}  // namespace import_internal

namespace {

// Plausibility of a llama2.c header for detection (the importer itself
// then checks the exact size).
bool LooksLikeLlama2c(const uint8_t* d, size_t n) {
  if (n < 28) return false;
  int32_t h[7];
  std::memcpy(h, d, sizeof(h));
  const int32_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv = h[4], seq = h[6];
  const int64_t vocab = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  return dim > 0 && hidden > 0 && layers > 0 && heads > 0 && kv > 0 && vocab > 0 && seq > 0 &&
         dim % heads == 0 && kv <= heads && dim <= (1 << 20) && hidden <= (1 << 22) &&
         layers <= 4096 && vocab <= (1 << 24);
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

uint64_t SourceTensor::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (import_internal::MulOverflow(n, d, &n)) return 0;
  }
  return n;
}

uint64_t SourceTensor::rows() const {
  if (shape.size() < 2) return 1;
  uint64_t r = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    if (import_internal::MulOverflow(r, shape[i], &r)) return 0;
  }
  return r;
}

uint64_t SourceTensor::cols() const { return shape.empty() ? 1 : shape.back(); }

Status SourceTensor::ToF32(float* out) const {
  const uint64_t n = num_elements();
  uint64_t need = 0;
  if (!import_internal::TensorBytes(dtype, n, &need) || need > size) {
    return Status::Corruption("tensor '" + name + "': " + std::to_string(n) + " " +
                              DTypeName(dtype) + " elements do not fit its " +
                              std::to_string(size) + " bytes");
  }
  const uint8_t* p = data;
  switch (dtype) {
    case DType::kF32:
      if (n) std::memcpy(out, p, n * 4);
      return Status::OK();
    case DType::kF16:
      for (uint64_t i = 0; i < n; ++i) out[i] = F16ToF32(LoadLE16(p + 2 * i));
      return Status::OK();
    case DType::kBF16:
      for (uint64_t i = 0; i < n; ++i) out[i] = BF16ToF32(LoadLE16(p + 2 * i));
      return Status::OK();
    case DType::kI8: break;
    default:
      if (const ggml::BlockType* bt = ggml::FindByDType(dtype)) {
        bt->decode(p, n / bt->elements, out);
        return Status::OK();
      }
      break;
  }
  return Status::NotSupported("tensor '" + name + "': cannot convert " + DTypeName(dtype) +
                              " to f32");
}

Result<SourceModel> ImportModel(const std::string& path, const ImportOptions& options) {
  if (hf::IsDirectory(path)) return hf::ImportDirectory(path);
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  const uint8_t* d = file->data();
  const size_t n = file->size();
  if (n >= 4 && std::memcmp(d, "GGUF", 4) == 0) return ImportGguf(path);
  if (EndsWith(path, ".safetensors.index.json")) return hf::ImportSafetensorsIndex(path);
  if (n >= 9) {
    const uint64_t header_len = LoadLE64(d);
    if (header_len >= 2 && header_len <= n - 8 && d[8] == '{') return ImportSafetensors(path);
  }
  if (LooksLikeLlama2c(d, n)) return ImportLlama2c(path, options);
  return Status::NotSupported(path + ": unknown model format (not GGUF, safetensors, or a " +
                              "llama2.c checkpoint; " + std::to_string(n) + " bytes)");
}

}  // namespace tqf
