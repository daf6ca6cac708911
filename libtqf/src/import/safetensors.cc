// safetensors importer: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the data
// buffer. F32/F16/BF16 only. With a Hugging Face config.json beside the file
// the model is mapped to canonical LLaMA names (see hf_llama.cc).
#include <algorithm>
#include <new>
#include <string>
#include <utility>

#include "import/hf_llama.h"
#include "import/import_internal.h"
#include "tqf/import.h"
#include "tqf/internal/json.h"
#include "tqf/mapped_file.h"
#include "util/bytes.h"

namespace tqf {
namespace {

Result<DType> MapDType(const std::string& dtype, const std::string& tensor) {
  if (dtype == "F32") return DType::kF32;
  if (dtype == "F16") return DType::kF16;
  if (dtype == "BF16") return DType::kBF16;
  return Status::NotSupported("safetensors tensor '" + tensor + "': dtype " + dtype +
                              " is not supported (supported: F32, F16, BF16)");
}

// Reads a non-negative integer from a JSON value.
bool NonNegInt(const json::Value& v, uint64_t* out) {
  if (!v.is_int() || v.as_int() < 0) return false;
  *out = static_cast<uint64_t>(v.as_int());
  return true;
}

Status ParseTensor(const std::string& name, const json::Value& v, const uint8_t* buf,
                   uint64_t buf_size, SourceTensor* t, uint64_t* begin_out) {
  const std::string where = "safetensors tensor '" + name + "'";
  if (!v.is_object()) return Status::Corruption(where + ": entry is not an object");
  const json::Value* dtype = v.Find("dtype");
  const json::Value* shape = v.Find("shape");
  const json::Value* offsets = v.Find("data_offsets");
  if (!dtype || !dtype->is_string())
    return Status::Corruption(where + ": missing string \"dtype\"");
  if (!shape || !shape->is_array()) return Status::Corruption(where + ": missing array \"shape\"");
  if (!offsets || !offsets->is_array() || offsets->size() != 2) {
    return Status::Corruption(where + ": \"data_offsets\" must be [begin, end]");
  }
  t->name = name;
  uint64_t count = 1;
  for (const json::Value& d : shape->items()) {
    uint64_t dim;
    if (!NonNegInt(d, &dim))
      return Status::Corruption(where + ": shape entries must be integers >= 0");
    if (import_internal::MulOverflow(count, dim, &count)) {
      return Status::Corruption(where + ": element count overflows 64 bits");
    }
    t->shape.push_back(dim);
  }
  uint64_t begin, end;
  if (!NonNegInt(offsets->items()[0], &begin) || !NonNegInt(offsets->items()[1], &end) ||
      begin > end || end > buf_size) {
    return Status::Corruption(
        where + ": data_offsets [" + std::to_string(offsets->items()[0].as_int()) + ", " +
        std::to_string(offsets->items()[1].as_int()) + "] are not a range inside the " +
        std::to_string(buf_size) + "-byte data buffer");
  }
  TQF_ASSIGN_OR_RETURN(t->dtype, MapDType(dtype->as_string(), name));
  uint64_t bytes;
  if (!import_internal::TensorBytes(t->dtype, count, &bytes) || bytes != end - begin) {
    return Status::Corruption(where + ": " + std::to_string(count) + " " + dtype->as_string() +
                              " elements need " + std::to_string(bytes) +
                              " bytes, data_offsets span " + std::to_string(end - begin));
  }
  t->data = buf + begin;
  t->size = static_cast<size_t>(bytes);
  *begin_out = begin;
  return Status::OK();
}

}  // namespace

Result<SourceModel> ParseSafetensors(const uint8_t* data, size_t size) {
  if (size < 8) {
    return Status::Corruption("safetensors: file of " + std::to_string(size) +
                              " bytes is too short for the 8-byte header length");
  }
  const uint64_t header_len = LoadLE64(data);
  if (header_len > size - 8) {
    return Status::Corruption("safetensors: header length " + std::to_string(header_len) +
                              " exceeds the " + std::to_string(size - 8) + " bytes after it");
  }
  const uint8_t* buf = data + 8 + header_len;
  const uint64_t buf_size = size - 8 - header_len;
  SourceModel m;
  m.format = "safetensors";
  m.file_bytes = size;
  try {
    Result<json::Value> doc =
        json::Parse(std::string_view(reinterpret_cast<const char*>(data + 8), header_len));
    if (!doc.ok()) return doc.status().WithContext("safetensors header");
    if (!doc->is_object()) return Status::Corruption("safetensors: header is not a JSON object");
    std::vector<std::pair<uint64_t, SourceTensor>> tensors;
    std::string architecture = "unknown";
    for (size_t i = 0; i < doc->size(); ++i) {
      const std::string& key = doc->keys()[i];
      const json::Value& v = doc->items()[i];
      if (key == "__metadata__") {
        if (!v.is_object()) return Status::Corruption("safetensors: __metadata__ is not an object");
        for (size_t k = 0; k < v.size(); ++k) {
          if (!v.items()[k].is_string()) continue;
          const std::string& mk = v.keys()[k];
          m.info.metadata.emplace_back(mk, v.items()[k].as_string());
          if (mk == "architecture" || mk == "general.architecture") {
            architecture = v.items()[k].as_string();
          }
        }
        continue;
      }
      SourceTensor t;
      uint64_t begin = 0;
      TQF_RETURN_IF_ERROR(ParseTensor(key, v, buf, buf_size, &t, &begin));
      tensors.emplace_back(begin, std::move(t));
    }
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& p : tensors) m.tensors.push_back(std::move(p.second));
    m.info.hparams.architecture = architecture;
    m.info.metadata.emplace_back("source.format", "safetensors");
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("safetensors: out of memory reading a " +
                                     std::to_string(header_len) + "-byte header");
  }
  return m;
}

Result<SourceModel> ImportSafetensors(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  Result<SourceModel> r = ParseSafetensors(file->data(), file->size());
  if (!r.ok()) return r.status().WithContext(path);
  SourceModel m = std::move(r).value();
  m.path = path;
  import_internal::AddKeepAlive(&m, file);
  TQF_RETURN_IF_ERROR(hf::ApplySidecars(import_internal::DirName(path), &m));
  return m;
}

}  // namespace tqf
