// GGUF v2/v3 importer: header, metadata key-values (all types, arrays
// included), tensor infos (F32, F16, BF16 and ggml's block types, see
// ggml_blocks.h) and the aligned data section. Every count, length and offset from the file is
// checked against the bytes that remain, without overflow, before it is used.
//
// GGUF lists a tensor's dims ne0 first (ne0 = the input dimension), so the
// dims are reversed into SourceTensor's outermost-first shape.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "import/ggml_blocks.h"
#include "import/gguf_meta.h"
#include "import/import_internal.h"
#include "tqf/import.h"
#include "tqf/mapped_file.h"
#include "util/bytes.h"

namespace tqf {
namespace {

using gguf::Cursor;
using gguf::KeyValue;
using gguf::ValueType;

constexpr int kMaxDims = 4;
constexpr uint32_t kDefaultAlignment = 32;

// ggml type numbers we read, and names of the others for messages.
Result<DType> MapGgmlType(uint32_t t, const std::string& tensor) {
  switch (t) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 30: return DType::kBF16;
    default: break;
  }
  if (const ggml::BlockType* bt = ggml::FindByGgmlType(t)) return bt->dtype;
  static const char* kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16"};
  std::string name = t < sizeof(kNames) / sizeof(kNames[0]) ? std::string(" (") + kNames[t] + ")"
                                                            : std::string(" (unknown)");
  return Status::NotSupported("GGUF tensor '" + tensor + "': ggml type " + std::to_string(t) +
                              name + " is not supported (supported: F32, F16, BF16, Q4_0, " +
                              "Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, " +
                              "IQ4_XS)");
}

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // GGUF order, ne0 first
  DType dtype;
  uint64_t offset;  // relative to the data section
  size_t info_pos;  // byte offset of the info, for messages
};

Status ReadTensorInfo(Cursor* c, uint32_t alignment, TensorInfo* ti) {
  ti->info_pos = c->pos();
  TQF_RETURN_IF_ERROR(c->String(&ti->name, "tensor name"));
  const std::string where =
      "GGUF tensor '" + ti->name + "' (info at byte " + std::to_string(ti->info_pos) + ")";
  uint32_t n_dims;
  TQF_RETURN_IF_ERROR(c->U32(&n_dims, "tensor n_dims"));
  if (n_dims < 1 || n_dims > kMaxDims) {
    return Status::Corruption(where + ": n_dims " + std::to_string(n_dims) + " (expected 1.." +
                              std::to_string(kMaxDims) + ")");
  }
  uint64_t count = 1;
  for (uint32_t i = 0; i < n_dims; ++i) {
    uint64_t ne;
    TQF_RETURN_IF_ERROR(c->U64(&ne, "tensor dimension"));
    if (ne > static_cast<uint64_t>(INT64_MAX) || import_internal::MulOverflow(count, ne, &count) ||
        count > static_cast<uint64_t>(INT64_MAX)) {
      return Status::Corruption(where + ": element count overflows at dimension " +
                                std::to_string(i) + " (ne = " + std::to_string(ne) + ")");
    }
    ti->ne.push_back(ne);
  }
  uint32_t type;
  TQF_RETURN_IF_ERROR(c->U32(&type, "tensor type"));
  TQF_RETURN_IF_ERROR(c->U64(&ti->offset, "tensor offset"));
  TQF_ASSIGN_OR_RETURN(ti->dtype, MapGgmlType(type, ti->name));
  if (const ggml::BlockType* bt = ggml::FindByDType(ti->dtype); bt && ti->ne[0] % bt->elements) {
    return Status::Corruption(
        where + ": " + bt->name + " row length ne0 = " + std::to_string(ti->ne[0]) +
        " is not a multiple of its block (" + std::to_string(bt->elements) + ")");
  }
  if (ti->offset % alignment != 0) {
    return Status::Corruption(where + ": data offset " + std::to_string(ti->offset) +
                              " is not a multiple of the alignment " + std::to_string(alignment));
  }
  return Status::OK();
}

struct Counts {
  uint64_t n_tensors = 0, n_kv = 0;
};

// Magic, version and the two counts. The counts are capped by the bytes
// left, so a hostile count cannot make the callers reserve huge vectors.
Result<Counts> ReadHeader(const uint8_t* data, size_t size, Cursor* c) {
  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) {
    return Status::Corruption("not a GGUF file (bad magic; expected \"GGUF\")");
  }
  c->Skip(4);
  uint32_t version;
  TQF_RETURN_IF_ERROR(c->U32(&version, "version"));
  if (version != 2 && version != 3) {
    if (version != 0 && (version & 0xFFFF) == 0) {
      return Status::NotSupported("GGUF version field " + Hex(version) +
                                  " looks big-endian; only little-endian GGUF is supported");
    }
    return Status::NotSupported("GGUF version " + std::to_string(version) +
                                " is not supported (supported: 2 and 3)");
  }
  Counts n;
  TQF_RETURN_IF_ERROR(c->U64(&n.n_tensors, "tensor count"));
  TQF_RETURN_IF_ERROR(c->U64(&n.n_kv, "metadata count"));
  // Minimal encodings: a key-value takes >= 13 bytes, a tensor info >= 24.
  if (n.n_kv > c->remaining() / 13) {
    return Status::Corruption("GGUF metadata count " + std::to_string(n.n_kv) +
                              " cannot fit in the " + std::to_string(c->remaining()) +
                              " bytes after the header");
  }
  if (n.n_tensors > c->remaining() / 24) {
    return Status::Corruption("GGUF tensor count " + std::to_string(n.n_tensors) +
                              " cannot fit in the " + std::to_string(c->remaining()) +
                              " bytes after the header");
  }
  return n;
}

// May throw std::bad_alloc.
Result<std::vector<KeyValue>> ReadKeyValues(Cursor* c, uint64_t n_kv) {
  std::vector<KeyValue> kvs(static_cast<size_t>(n_kv));
  std::set<std::string> seen;
  for (KeyValue& kv : kvs) {
    TQF_RETURN_IF_ERROR(gguf::ReadKeyValue(c, &kv));
    if (!seen.insert(kv.key).second) {
      return Status::Corruption("GGUF metadata key '" + kv.key + "' (at byte " +
                                std::to_string(kv.pos) + ") appears twice");
    }
  }
  return kvs;
}

// general.alignment, or the GGUF default when the key is absent.
Result<uint32_t> ReadAlignment(const std::vector<KeyValue>& kvs) {
  const KeyValue* a = gguf::Find(kvs, "general.alignment");
  if (a == nullptr) return kDefaultAlignment;
  uint64_t v;
  if (!a->AsUInt(&v) || v == 0 || v > (1u << 30) || (v & (v - 1)) != 0) {
    return Status::Corruption("GGUF general.alignment must be a power of two integer, got " +
                              a->ToString());
  }
  return static_cast<uint32_t>(v);
}

// May throw std::bad_alloc.
Result<std::vector<TensorInfo>> ReadTensorInfos(Cursor* c, uint64_t n_tensors, uint32_t alignment) {
  std::vector<TensorInfo> infos(static_cast<size_t>(n_tensors));
  std::set<std::string> names;
  for (TensorInfo& ti : infos) {
    TQF_RETURN_IF_ERROR(ReadTensorInfo(c, alignment, &ti));
    if (!names.insert(ti.name).second) {
      return Status::Corruption("GGUF tensor '" + ti.name + "' (info at byte " +
                                std::to_string(ti.info_pos) + ") appears twice");
    }
  }
  return infos;
}

// Points a tensor at its bytes in the data section, which must hold them.
Result<SourceTensor> LocateTensor(const TensorInfo& ti, const uint8_t* data, size_t size,
                                  uint64_t data_start) {
  SourceTensor t;
  t.name = ti.name;
  t.dtype = ti.dtype;
  t.shape.assign(ti.ne.rbegin(), ti.ne.rend());
  uint64_t bytes = 0, begin = 0;
  if (!import_internal::TensorBytes(ti.dtype, t.num_elements(), &bytes)) {
    return Status::Corruption("GGUF tensor '" + ti.name + "': " + std::to_string(t.num_elements()) +
                              " elements of " + DTypeName(ti.dtype) +
                              " overflow a 64-bit byte size");
  }
  if (import_internal::AddOverflow(data_start, ti.offset, &begin) ||
      !RangeWithin(begin, bytes, data_start, size)) {
    return Status::Corruption("GGUF tensor '" + ti.name + "': data at file offset " +
                              std::to_string(data_start) + " + " + std::to_string(ti.offset) +
                              " with " + std::to_string(bytes) + " bytes extends past the " +
                              std::to_string(size) + "-byte file");
  }
  t.data = data + begin;
  t.size = static_cast<size_t>(bytes);
  return t;
}

// The data section starts at the first aligned offset after the tensor
// infos. May throw std::bad_alloc.
Status LocateTensors(const std::vector<TensorInfo>& infos, const uint8_t* data, size_t size,
                     size_t infos_end, uint32_t alignment, std::vector<SourceTensor>* tensors) {
  const uint64_t data_start = AlignUp(infos_end, alignment);
  if (!infos.empty() && data_start > size) {
    return Status::Corruption("GGUF data section starts at byte " + std::to_string(data_start) +
                              ", past the end of the " + std::to_string(size) + "-byte file");
  }
  tensors->reserve(infos.size());
  for (const TensorInfo& ti : infos) {
    TQF_ASSIGN_OR_RETURN(SourceTensor t, LocateTensor(ti, data, size, data_start));
    tensors->push_back(std::move(t));
  }
  return Status::OK();
}

}  // namespace

Result<SourceModel> ParseGguf(const uint8_t* data, size_t size) {
  Cursor c(data, size);
  TQF_ASSIGN_OR_RETURN(const Counts n, ReadHeader(data, size, &c));
  SourceModel m;
  m.format = "gguf";
  m.file_bytes = size;
  try {
    TQF_ASSIGN_OR_RETURN(std::vector<KeyValue> kvs, ReadKeyValues(&c, n.n_kv));
    TQF_ASSIGN_OR_RETURN(const uint32_t alignment, ReadAlignment(kvs));
    TQF_ASSIGN_OR_RETURN(std::vector<TensorInfo> infos,
                         ReadTensorInfos(&c, n.n_tensors, alignment));
    TQF_RETURN_IF_ERROR(LocateTensors(infos, data, size, c.pos(), alignment, &m.tensors));
    TQF_RETURN_IF_ERROR(gguf::FillModelInfo(kvs, m.tensors, &m.info));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("GGUF: out of memory reading the header of a " +
                                     std::to_string(size) + "-byte file");
  }
  return m;
}

Result<SourceModel> ImportGguf(const std::string& path) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  Result<SourceModel> r = ParseGguf(file->data(), file->size());
  if (!r.ok()) return r.status().WithContext(path);
  SourceModel m = std::move(r).value();
  m.path = path;
  import_internal::AddKeepAlive(&m, std::move(file));
  return m;
}

}  // namespace tqf
