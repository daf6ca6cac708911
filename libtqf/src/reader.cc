// Reader: Open (cheap structural checks) and on-demand decoding.
#include "tqf/reader.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "format/header_model.h"
#include "format/layout.h"
#include "reader_impl.h"
#include "tqf/quantize.h"
#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {

uint64_t TensorInfo::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}
uint64_t TensorInfo::cols() const { return shape.empty() ? 0 : shape.back(); }
uint64_t TensorInfo::rows() const {
  uint64_t c = cols();
  return c ? num_elements() / c : 0;
}

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::Open(const std::string& path, const ReadOptions& options) {
  TQF_ASSIGN_OR_RETURN(auto mapping, MappedFile::Open(path));
  auto impl = std::make_unique<Impl>();
  impl->mapping = mapping;
  impl->data = mapping->data();
  impl->size = mapping->size();
  impl->options = options;
  Status s = impl->Load();
  if (!s.ok()) return s.WithContext(path);
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

Result<std::unique_ptr<Reader>> Reader::OpenMemory(const uint8_t* data, size_t size,
                                                   const ReadOptions& options) {
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    return Status::InvalidArgument("OpenMemory: buffer must be 8-byte aligned");
  }
  auto impl = std::make_unique<Impl>();
  impl->data = data;
  impl->size = size;
  impl->options = options;
  TQF_RETURN_IF_ERROR(impl->Load());
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

const FileInfo& Reader::file_info() const { return impl_->file_info; }
const ModelInfo& Reader::model() const { return impl_->model; }
const std::vector<TensorInfo>& Reader::tensors() const { return impl_->tensors; }
const std::vector<DictionaryInfo>& Reader::dictionaries() const { return impl_->dict_info; }
const std::vector<SectionInfo>& Reader::sections() const { return impl_->section_info; }
const uint8_t* Reader::data() const { return impl_->data; }
size_t Reader::size() const { return impl_->size; }

Result<size_t> Reader::FindTensor(const std::string& name) const {
  auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) return Status::NotFound("no tensor named '" + name + "'");
  return it->second;
}

Status Reader::DecodeBlock(size_t index, size_t block, uint8_t* out, size_t out_size) const {
  if (index >= impl_->tensors.size()) {
    return Status::InvalidArgument("tensor index " + std::to_string(index) + " out of range");
  }
  const TensorInfo& t = impl_->tensors[index];
  if (block >= t.block_count) {
    return Status::InvalidArgument("tensor '" + t.name + "': block " + std::to_string(block) +
                                   " out of range (" + std::to_string(t.block_count) + " blocks)");
  }
  return impl_->DecodeBlock(index, block, out, out_size, impl_->options.verify_checksums);
}

Status Reader::DecodeTensor(size_t index, uint8_t* out, size_t out_size, int threads) const {
  if (index >= impl_->tensors.size()) {
    return Status::InvalidArgument("tensor index " + std::to_string(index) + " out of range");
  }
  const TensorInfo& t = impl_->tensors[index];
  if (out_size != t.raw_size) {
    return Status::InvalidArgument("tensor '" + t.name + "': output buffer is " +
                                   std::to_string(out_size) + " bytes, tensor decodes to " +
                                   std::to_string(t.raw_size));
  }
  return impl_->DecodeAll(index, out, threads, impl_->options.verify_checksums);
}

Status Reader::DecodeTensorF32(size_t index, float* out, size_t count, int threads) const {
  if (index >= impl_->tensors.size()) {
    return Status::InvalidArgument("tensor index " + std::to_string(index) + " out of range");
  }
  const TensorInfo& t = impl_->tensors[index];
  if (count != t.num_elements()) {
    return Status::InvalidArgument("tensor '" + t.name + "': " + std::to_string(count) +
                                   " floats requested, tensor has " +
                                   std::to_string(t.num_elements()));
  }
  std::vector<uint8_t> raw;
  try {
    raw.resize(t.raw_size);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate " +
                                     std::to_string(t.raw_size) + " bytes");
  }
  TQF_RETURN_IF_ERROR(impl_->DecodeAll(index, raw.data(), threads, impl_->options.verify_checksums));
  return Dequantize(t.dtype, t.quant, t.quant_block, raw.data(), t.rows(), t.cols(), t.params,
                    t.num_params, out);
}

void Reader::WillNeed(size_t index) const {
  if (!impl_->mapping || index >= impl_->tensors.size()) return;
  const TensorInfo& t = impl_->tensors[index];
  impl_->mapping->WillNeed(t.data_offset, t.stored_size);
  impl_->mapping->WillNeed(impl_->index_offset[index], size_t(t.block_count) * format::kIndexEntrySize);
}

void Reader::DontNeed(size_t index) const {
  if (!impl_->mapping || index >= impl_->tensors.size()) return;
  const TensorInfo& t = impl_->tensors[index];
  impl_->mapping->DontNeed(t.data_offset, t.stored_size);
}

// ---------------------------------------------------------------- decoding

Status Reader::Impl::DecodeBlock(size_t index, size_t block, uint8_t* out, size_t out_size,
                                 bool verify) const {
  const TensorInfo& t = tensors[index];
  const format::IndexEntry e =
      format::DecodeIndexEntry(data + index_offset[index] + block * format::kIndexEntrySize);
  auto where = [&] {
    return "tensor '" + t.name + "' block " + std::to_string(block) + "/" +
           std::to_string(t.block_count);
  };
  if (out_size != e.raw_size) {
    return Status::InvalidArgument(where() + ": output buffer is " + std::to_string(out_size) +
                                   " bytes, block decodes to " + std::to_string(e.raw_size));
  }
  // Entries were validated at Open: the stored range is inside the stream.
  const uint8_t* in = data + t.data_offset + e.stored_offset;
  if (verify) {
    uint64_t got = Checksum64(in, e.stored_size);
    if (got != e.stored_checksum) {
      return Status::ChecksumMismatch(where() + " (stored bytes at offset " +
                                      Hex(t.data_offset + e.stored_offset) + "): checksum " +
                                      Hex(got) + ", expected " + Hex(e.stored_checksum));
    }
  }
  const CodecTables* tables = t.dictionary >= 0 ? dict_tables[t.dictionary].get() : nullptr;
  Status s = codecs[index]->Decode(tables, in, e.stored_size, out, out_size);
  if (!s.ok()) return s.WithContext(where());
  if (verify) {
    uint64_t got = Checksum64(out, out_size);
    if (got != e.raw_checksum) {
      return Status::ChecksumMismatch(where() + ": decoded checksum " + Hex(got) + ", expected " +
                                      Hex(e.raw_checksum));
    }
  }
  return Status::OK();
}

void Reader::Impl::DecodeBlocks(size_t index, uint8_t* out, int threads, bool verify,
                                std::vector<Status>* errors) const {
  const TensorInfo& t = tensors[index];
  const long n = t.block_count;
  errors->assign(n, Status::OK());
  // A parallel region costs more than a small tensor's decode: use no more
  // threads than blocks (one block: the calling thread).
  if (threads <= 0) threads = omp_get_max_threads();
  threads = static_cast<int>(std::min<long>(threads, std::max<long>(n, 1)));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (long b = 0; b < n; ++b) {
    const uint64_t off = uint64_t(b) * t.block_size;
    (*errors)[b] = DecodeBlock(index, b, out + off,
                               std::min<uint64_t>(t.block_size, t.raw_size - off), verify);
  }
}

Status Reader::Impl::DecodeAll(size_t index, uint8_t* out, int threads, bool verify) const {
  std::vector<Status> errors;
  DecodeBlocks(index, out, threads, verify, &errors);
  for (const Status& s : errors) TQF_RETURN_IF_ERROR(s);  // lowest block's error first
  return Status::OK();
}

}  // namespace tqf
