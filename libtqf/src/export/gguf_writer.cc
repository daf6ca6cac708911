// GgufWriter: GGUF v3 output (see tqf/gguf_writer.h and llama.cpp's
// docs/gguf.md): "GGUF", version, tensor count, metadata count, the
// key-values, the tensor infos, padding to the alignment, then the data.
#include "tqf/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "io/output_file.h"

namespace tqf {
namespace {

// GGUF value types and ggml tensor types (the subset written here).
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };
enum : uint32_t { kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ8_0 = 8, kGgmlBF16 = 30 };

void Put32(std::vector<uint8_t>* b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void Put64(std::vector<uint8_t>* b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutString(std::vector<uint8_t>* b, const std::string& s) {
  Put64(b, s.size());
  b->insert(b->end(), s.begin(), s.end());
}
void PutF32(std::vector<uint8_t>* b, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  Put32(b, v);
}

struct TensorDecl {
  std::string name;
  std::vector<uint64_t> shape;
  uint32_t ggml_type;
  uint64_t bytes;
  uint64_t offset;  // from the start of the data section
};

}  // namespace

struct GgufWriter::Impl {
  std::string path;
  uint32_t alignment = 32;
  std::unique_ptr<AtomicOutputFile> file;
  std::vector<uint8_t> kv_bytes;
  uint64_t kv_count = 0;
  std::set<std::string> keys;
  std::vector<TensorDecl> tensors;
  std::set<std::string> tensor_names;
  uint64_t data_bytes = 0;  // padded total
  bool header_written = false;
  size_t current = 0;         // tensor receiving WriteData
  uint64_t current_done = 0;  // its bytes written so far

  Status StartKey(const std::string& key, uint32_t type) {
    if (header_written) {
      return Status::InvalidArgument("GGUF metadata '" + key +
                                     "' added after the tensor data began");
    }
    if (key.empty()) return Status::InvalidArgument("GGUF metadata key is empty");
    if (!keys.insert(key).second) {
      return Status::InvalidArgument("GGUF metadata key '" + key + "' set twice");
    }
    PutString(&kv_bytes, key);
    Put32(&kv_bytes, type);
    ++kv_count;
    return Status::OK();
  }

  uint64_t HeaderBytes() const {
    uint64_t n = 4 + 4 + 8 + 8 + kv_bytes.size();
    for (const TensorDecl& t : tensors) n += 8 + t.name.size() + 4 + 8 * t.shape.size() + 4 + 8;
    return (n + alignment - 1) / alignment * alignment;
  }

  Status WriteHeader() {
    std::vector<uint8_t> h;
    h.reserve(HeaderBytes());
    h.insert(h.end(), {'G', 'G', 'U', 'F'});
    Put32(&h, 3);
    Put64(&h, tensors.size());
    Put64(&h, kv_count);
    h.insert(h.end(), kv_bytes.begin(), kv_bytes.end());
    for (const TensorDecl& t : tensors) {
      PutString(&h, t.name);
      Put32(&h, static_cast<uint32_t>(t.shape.size()));
      for (size_t i = t.shape.size(); i-- > 0;) Put64(&h, t.shape[i]);  // ne[0] innermost
      Put32(&h, t.ggml_type);
      Put64(&h, t.offset);
    }
    TQF_RETURN_IF_ERROR(file->Append(h.data(), h.size()));
    TQF_RETURN_IF_ERROR(file->PadTo(alignment));
    header_written = true;
    return Status::OK();
  }
};

GgufWriter::GgufWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufWriter::~GgufWriter() = default;

Result<std::unique_ptr<GgufWriter>> GgufWriter::Create(const std::string& path,
                                                       uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return Status::InvalidArgument("GGUF alignment " + std::to_string(alignment) +
                                   " is not a power of two");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->alignment = alignment;
  TQF_ASSIGN_OR_RETURN(impl->file, AtomicOutputFile::Create(path));
  std::unique_ptr<GgufWriter> w(new GgufWriter(std::move(impl)));
  if (alignment != 32) TQF_RETURN_IF_ERROR(w->SetU32("general.alignment", alignment));
  return w;
}

Status GgufWriter::SetString(const std::string& key, const std::string& value) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kString));
  PutString(&impl_->kv_bytes, value);
  return Status::OK();
}

Status GgufWriter::SetU32(const std::string& key, uint32_t value) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kU32));
  Put32(&impl_->kv_bytes, value);
  return Status::OK();
}

Status GgufWriter::SetI32(const std::string& key, int32_t value) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kI32));
  Put32(&impl_->kv_bytes, static_cast<uint32_t>(value));
  return Status::OK();
}

Status GgufWriter::SetF32(const std::string& key, float value) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kF32));
  PutF32(&impl_->kv_bytes, value);
  return Status::OK();
}

Status GgufWriter::SetBool(const std::string& key, bool value) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kBool));
  impl_->kv_bytes.push_back(value ? 1 : 0);
  return Status::OK();
}

Status GgufWriter::SetStringArray(const std::string& key, const std::vector<std::string>& values) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kArray));
  Put32(&impl_->kv_bytes, kString);
  Put64(&impl_->kv_bytes, values.size());
  for (const std::string& v : values) PutString(&impl_->kv_bytes, v);
  return Status::OK();
}

Status GgufWriter::SetI32Array(const std::string& key, const std::vector<int32_t>& values) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kArray));
  Put32(&impl_->kv_bytes, kI32);
  Put64(&impl_->kv_bytes, values.size());
  for (int32_t v : values) Put32(&impl_->kv_bytes, static_cast<uint32_t>(v));
  return Status::OK();
}

Status GgufWriter::SetF32Array(const std::string& key, const std::vector<float>& values) {
  TQF_RETURN_IF_ERROR(impl_->StartKey(key, kArray));
  Put32(&impl_->kv_bytes, kF32);
  Put64(&impl_->kv_bytes, values.size());
  for (float v : values) PutF32(&impl_->kv_bytes, v);
  return Status::OK();
}

Status GgufWriter::AddTensor(const std::string& name, const std::vector<uint64_t>& shape,
                             DType dtype) {
  const std::string where = "GGUF tensor '" + name + "'";
  if (impl_->header_written) {
    return Status::InvalidArgument(where + " added after the tensor data began");
  }
  if (name.empty()) return Status::InvalidArgument("GGUF tensor with an empty name");
  if (shape.empty() || shape.size() > 4) {
    return Status::InvalidArgument(where + ": " + std::to_string(shape.size()) +
                                   " dimensions (expected 1..4)");
  }
  uint64_t elements = 1;
  for (uint64_t d : shape) {
    if (d == 0 || elements > (UINT64_MAX / 4) / d) {
      return Status::InvalidArgument(where + ": dimension " + std::to_string(d) +
                                     " is zero or overflows the element count");
    }
    elements *= d;
  }
  TensorDecl t{name, shape, 0, 0, 0};
  switch (dtype) {
    case DType::kF32: t.ggml_type = kGgmlF32, t.bytes = elements * 4; break;
    case DType::kF16: t.ggml_type = kGgmlF16, t.bytes = elements * 2; break;
    case DType::kBF16: t.ggml_type = kGgmlBF16, t.bytes = elements * 2; break;
    case DType::kQ8_0:
      if (shape.back() % 32 != 0) {
        return Status::InvalidArgument(where + ": Q8_0 needs a row length divisible by 32, got " +
                                       std::to_string(shape.back()));
      }
      t.ggml_type = kGgmlQ8_0, t.bytes = elements / 32 * 34;
      break;
    default:
      return Status::InvalidArgument(where + ": dtype " + DTypeName(dtype) +
                                     " cannot be written to GGUF (F32, F16, BF16, Q8_0)");
  }
  if (!impl_->tensor_names.insert(name).second) {
    return Status::InvalidArgument(where + " added twice");
  }
  t.offset = impl_->data_bytes;
  const uint64_t a = impl_->alignment;
  impl_->data_bytes += (t.bytes + a - 1) / a * a;
  impl_->tensors.push_back(std::move(t));
  return Status::OK();
}

Status GgufWriter::WriteData(const void* data, size_t size) {
  Impl& m = *impl_;
  if (!m.header_written) TQF_RETURN_IF_ERROR(m.WriteHeader());
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    if (m.current >= m.tensors.size()) {
      return Status::InvalidArgument("GGUF: " + std::to_string(size) +
                                     " bytes of tensor data past the last tensor");
    }
    const TensorDecl& t = m.tensors[m.current];
    const uint64_t n = std::min<uint64_t>(size, t.bytes - m.current_done);
    TQF_RETURN_IF_ERROR(m.file->Append(p, n));
    p += n;
    size -= n;
    m.current_done += n;
    if (m.current_done == t.bytes) {
      TQF_RETURN_IF_ERROR(m.file->PadTo(m.alignment));
      ++m.current;
      m.current_done = 0;
    }
  }
  return Status::OK();
}

Status GgufWriter::Finish() {
  Impl& m = *impl_;
  if (!m.header_written) TQF_RETURN_IF_ERROR(m.WriteHeader());
  if (m.current < m.tensors.size()) {
    const TensorDecl& t = m.tensors[m.current];
    return Status::InvalidArgument("GGUF tensor '" + t.name + "' got " +
                                   std::to_string(m.current_done) + " of its " +
                                   std::to_string(t.bytes) + " bytes before Finish");
  }
  return m.file->Commit();
}

uint64_t GgufWriter::data_bytes() const { return impl_->data_bytes; }

uint64_t GgufWriter::file_bytes() const { return impl_->HeaderBytes() + impl_->data_bytes; }

}  // namespace tqf
