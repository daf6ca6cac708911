// Reader: Open (cheap structural checks) and on-demand decoding.
#include "tqf/reader.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "format/header_model.h"
#include "format/layout.h"
#include "io/fault_guard.h"
#include "reader/reader_impl.h"
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
  TQF_ASSIGN_OR_RETURN(auto source, OpenSource(path, DefaultRemoteOptions()));
  return Open(std::move(source), options);
}

Result<std::unique_ptr<Reader>> Reader::Open(std::shared_ptr<Source> source,
                                             const ReadOptions& options) {
  if (source == nullptr) return Status::InvalidArgument("Reader::Open: no source");
  auto impl = std::make_unique<Impl>();
  impl->source = std::move(source);
  impl->data = impl->source->data();
  impl->size = impl->source->size();
  impl->options = options;
  // Remote bytes pass a network and a server: never decode them unchecked.
  if (impl->source->remote()) impl->options.verify_checksums = true;
  const std::string& name = impl->source->name();
  Status s;
  if (!RunGuarded([&] { s = impl->Load(); })) return MappedFileChangedError(name);
  if (!s.ok()) return s.WithContext(name);
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
const std::vector<CodebookInfo>& Reader::codebooks() const { return impl_->codebook_info; }
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

Status Reader::Impl::CheckRefs(const BlockRef* refs, size_t n) const {
  for (size_t i = 0; i < n; ++i) {
    if (refs[i].tensor >= tensors.size()) {
      return Status::InvalidArgument("block list entry " + std::to_string(i) + ": tensor index " +
                                     std::to_string(refs[i].tensor) + " out of range");
    }
    const TensorInfo& t = tensors[refs[i].tensor];
    if (refs[i].block >= t.block_count) {
      return Status::InvalidArgument("block list entry " + std::to_string(i) + ": tensor '" +
                                     t.name + "' block " + std::to_string(refs[i].block) +
                                     " out of range (" + std::to_string(t.block_count) +
                                     " blocks)");
    }
  }
  return Status::OK();
}

Status Reader::DecodeBlocks(const BlockRef* refs, size_t n, int threads) const {
  TQF_RETURN_IF_ERROR(impl_->CheckRefs(refs, n));
  std::vector<Status> errors(n);
  impl_->DecodeRefsParallel(refs, n, threads, impl_->options.verify_checksums, errors.data());
  for (const Status& s : errors) TQF_RETURN_IF_ERROR(s);  // first failing entry
  return Status::OK();
}

Status Reader::DecodeBlocksTransient(const BlockRef* refs, size_t n,
                                     std::vector<uint8_t>* scratch) const {
  TQF_RETURN_IF_ERROR(impl_->CheckRefs(refs, n));
  const bool verify = impl_->options.verify_checksums;
  if (!impl_->source || !impl_->source->can_read()) {
    std::vector<Status> errors(n);
    impl_->DecodeRefsParallel(refs, n, 1, verify, errors.data());
    ReleaseBlocks(refs, n);
    for (const Status& s : errors) TQF_RETURN_IF_ERROR(s);
    return Status::OK();
  }
  // A pair at a time, as DecodeRefsParallel's units: the pair's stored
  // bytes (~2 x 64 KiB) are still in this core's cache when decoded.
  Status errors[Impl::kRunBlocks];
  for (size_t first = 0; first < n; first += Impl::kRunBlocks) {
    const size_t count = std::min(Impl::kRunBlocks, n - first);
    const uint8_t* inputs[Impl::kRunBlocks];
    TQF_RETURN_IF_ERROR(impl_->ReadStored(refs + first, count, scratch, inputs));
    impl_->DecodeRefsUnguarded(refs + first, count, verify, errors, inputs);
    for (size_t i = 0; i < count; ++i) TQF_RETURN_IF_ERROR(errors[i]);
  }
  return Status::OK();
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

Status Reader::CopyParams(size_t index, float* out, size_t count) const {
  if (index >= impl_->tensors.size()) {
    return Status::InvalidArgument("tensor index " + std::to_string(index) + " out of range");
  }
  const TensorInfo& t = impl_->tensors[index];
  if (count != t.num_params) {
    return Status::InvalidArgument("tensor '" + t.name + "': " + std::to_string(count) +
                                   " params requested, tensor has " + std::to_string(t.num_params));
  }
  if (count == 0) return Status::OK();
  // A private copy of the stored bytes first (the mapping may change), then
  // checked and decoded from the copy.
  std::vector<uint8_t> stored;
  try {
    stored.resize(t.params_bytes);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate " +
                                     std::to_string(t.params_bytes) + " bytes of params");
  }
  const uint8_t* from = impl_->data + t.params_offset;
  if (!RunGuarded([&] { std::memcpy(stored.data(), from, stored.size()); })) {
    return MappedFileChangedError(impl_->path());
  }
  if (impl_->options.verify_checksums) {
    const uint64_t sum = Checksum64(stored.data(), stored.size());
    if (sum != impl_->records[index].params_checksum) {
      return Status::ChecksumMismatch("tensor '" + t.name + "' params: checksum " + Hex(sum) +
                                      ", expected " + Hex(impl_->records[index].params_checksum));
    }
  }
  return DecodeParams(t.params_format, stored.data(), stored.size(), out, count)
      .WithContext("tensor '" + t.name + "'");
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
  TQF_RETURN_IF_ERROR(
      impl_->DecodeAll(index, raw.data(), threads, impl_->options.verify_checksums));
  std::vector<float> params;
  try {
    params.resize(t.num_params);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate its params");
  }
  TQF_RETURN_IF_ERROR(CopyParams(index, params.data(), params.size()));
  return Dequantize(t.dtype, t.quant, t.quant_block, raw.data(), t.rows(), t.cols(), params.data(),
                    params.size(), out);
}

void Reader::WillNeed(size_t index) const {
  if (!impl_->source || index >= impl_->tensors.size()) return;
  const TensorInfo& t = impl_->tensors[index];
  if (impl_->remote()) {  // block by block, so each is verified and cached
    const std::vector<SourceExtent> blocks = impl_->BlockExtents(index);
    impl_->source->WillNeed(blocks.data(), blocks.size());
    return;
  }
  const SourceExtent ranges[2] = {{t.data_offset, t.stored_size, 0, false},
                                  {impl_->records[index].index_offset,
                                   uint64_t(t.block_count) * format::kIndexEntrySize, 0, false}};
  impl_->source->WillNeed(ranges, 2);
}

void Reader::DontNeed(size_t index) const {
  if (!impl_->source || index >= impl_->tensors.size()) return;
  const TensorInfo& t = impl_->tensors[index];
  impl_->source->DontNeed(t.data_offset, t.stored_size);
}

Status Reader::Fetch(size_t index) const {
  if (index >= impl_->tensors.size()) {
    return Status::InvalidArgument("tensor index " + std::to_string(index) + " out of range");
  }
  return impl_->EnsureTensor(index);
}

const Source* Reader::source() const { return impl_->source.get(); }

std::vector<SourceExtent> Reader::ChecksummedExtents() const {
  const Impl& r = *impl_;
  format::Footer foot;  // Open checked it
  (void)format::DecodeFooter(r.data + r.size - format::kFooterSize, format::kFooterSize, &foot);
  std::vector<SourceExtent> out = {
      {r.file_info.header_offset, r.file_info.header_size, foot.header_checksum, true}};
  for (size_t i = 0; i < r.dict_info.size(); ++i) {
    out.push_back({r.dict_info[i].offset, r.dict_info[i].size, r.dicts[i].checksum, true});
  }
  for (size_t i = 0; i < r.codebook_info.size(); ++i) {
    out.push_back(
        {r.codebook_info[i].offset, r.codebook_info[i].size, r.codebooks[i].checksum, true});
  }
  for (size_t i = 0; i < r.tensors.size(); ++i) {
    const TensorInfo& t = r.tensors[i];
    if (t.params_bytes > 0) {
      out.push_back({t.params_offset, t.params_bytes, r.records[i].params_checksum, true});
    }
    out.push_back({r.records[i].index_offset, uint64_t(t.block_count) * format::kIndexEntrySize,
                   r.records[i].index_checksum, true});
    const std::vector<SourceExtent> blocks = r.BlockExtents(i);
    out.insert(out.end(), blocks.begin(), blocks.end());
  }
  std::sort(out.begin(), out.end(),
            [](const SourceExtent& a, const SourceExtent& b) { return a.offset < b.offset; });
  return out;
}

Status Reader::Impl::EnsureRange(uint64_t offset, uint64_t size) const {
  if (!remote()) return Status::OK();
  const SourceExtent r{offset, size, 0, false};
  return source->Ensure(&r, 1);
}

std::vector<SourceExtent> Reader::Impl::BlockExtents(size_t index) const {
  const TensorInfo& t = tensors[index];
  std::vector<SourceExtent> out;
  out.reserve(t.block_count);
  for (const format::IndexEntry& e : records[index].blocks) {
    out.push_back({t.data_offset + e.stored_offset, e.stored_size, e.stored_checksum, true});
  }
  return out;
}

Status Reader::Impl::EnsureTensor(size_t index) const {
  if (!remote()) return Status::OK();
  const std::vector<SourceExtent> blocks = BlockExtents(index);
  return source->Ensure(blocks.data(), blocks.size());
}

void Reader::Impl::ReadAhead(size_t last) const {
  std::lock_guard<std::mutex> lock(readahead_mu);
  // A jump (the next token's first layer) starts a new window.
  if (last + 1 < readahead_begin || last + 1 > readahead_end) {
    readahead_begin = readahead_end = last + 1;
  }
  uint64_t ahead = 0;
  for (size_t i = last + 1; i < readahead_end; ++i) ahead += tensors[i].stored_size;
  while (readahead_end < tensors.size() && ahead < kReadAhead) {
    const std::vector<SourceExtent> blocks = BlockExtents(readahead_end);
    source->WillNeed(blocks.data(), blocks.size());
    ahead += tensors[readahead_end++].stored_size;
  }
}

Status Reader::Impl::EnsureRefs(const BlockRef* refs, size_t n) const {
  if (!remote()) return Status::OK();
  size_t last = 0;
  std::vector<SourceExtent> ranges(n);
  for (size_t i = 0; i < n; ++i) {
    last = std::max(last, refs[i].tensor);
    const TensorInfo& t = tensors[refs[i].tensor];
    const format::IndexEntry& e = records[refs[i].tensor].blocks[refs[i].block];
    ranges[i] = {t.data_offset + e.stored_offset, e.stored_size, e.stored_checksum, true};
  }
  if (n > 0) ReadAhead(last);
  return source->Ensure(ranges.data(), n);
}

namespace {

// Calls fn(offset, size) for each file range the stored bytes of refs[0..n)
// cover, consecutive blocks of a tensor merged into one range.
template <typename F>
void ForEachStoredRange(const Reader::Impl& impl, const BlockRef* refs, size_t n, F fn) {
  uint64_t begin = 0, end = 0;
  for (size_t i = 0; i < n; ++i) {
    if (refs[i].tensor >= impl.tensors.size()) continue;
    const auto& blocks = impl.records[refs[i].tensor].blocks;
    if (refs[i].block >= blocks.size()) continue;
    const uint64_t from =
        impl.tensors[refs[i].tensor].data_offset + blocks[refs[i].block].stored_offset;
    const uint64_t to = from + blocks[refs[i].block].stored_size;
    if (end > begin && from == end) {
      end = to;
      continue;
    }
    if (end > begin) fn(begin, end - begin);
    begin = from;
    end = to;
  }
  if (end > begin) fn(begin, end - begin);
}

}  // namespace

void Reader::ReleaseBlocks(const BlockRef* refs, size_t n) const {
  if (!impl_->source) return;
  const uint64_t page = 4096;  // a multiple of it is released whatever the page size
  ForEachStoredRange(*impl_, refs, n, [&](uint64_t offset, uint64_t size) {
    const uint64_t b = (offset + page - 1) / page * page, e = (offset + size) / page * page;
    if (e > b) impl_->source->DontNeed(b, e - b);
  });
}

// ---------------------------------------------------------------- decoding

namespace {

// "tensor 'NAME' block B/N", the location every decode error names. Built
// only when there is an error to report: decoding is the hot path.
std::string BlockWhere(const TensorInfo& t, size_t block) {
  return "tensor '" + t.name + "' block " + std::to_string(block) + "/" +
         std::to_string(t.block_count);
}

}  // namespace

Status Reader::Impl::DecodeBlock(size_t index, size_t block, uint8_t* out, size_t out_size,
                                 bool verify) const {
  const TensorInfo& t = tensors[index];
  const format::IndexEntry& e = records[index].blocks[block];
  if (out_size != e.raw_size) {
    return Status::InvalidArgument(BlockWhere(t, block) + ": output buffer is " +
                                   std::to_string(out_size) + " bytes, block decodes to " +
                                   std::to_string(e.raw_size));
  }
  const BlockRef ref{index, block, out};
  TQF_RETURN_IF_ERROR(EnsureRefs(&ref, 1));
  Status s;
  DecodeRefs(&ref, 1, verify, &s);
  return s;
}

Status Reader::Impl::ReadStored(const BlockRef* refs, size_t n, std::vector<uint8_t>* scratch,
                                const uint8_t** inputs) const {
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += records[refs[i].tensor].blocks[refs[i].block].stored_size;
  if (scratch->size() < total) {
    try {
      scratch->resize(total);
    } catch (const std::bad_alloc&) {
      return Status::ResourceExhausted("cannot allocate " + std::to_string(total) +
                                       " bytes to read blocks into");
    }
  }
  // Consecutive blocks of the file (a tensor's pair) are read in one call.
  uint64_t at = 0;
  for (size_t i = 0; i < n;) {
    const uint64_t from = StoredOffset(refs[i]);
    uint64_t to = from + records[refs[i].tensor].blocks[refs[i].block].stored_size;
    size_t j = i + 1;
    for (; j < n && StoredOffset(refs[j]) == to; ++j) {
      to += records[refs[j].tensor].blocks[refs[j].block].stored_size;
    }
    uint8_t* dst = scratch->data() + at;
    const Status s = source->Read(from, to - from, dst);
    if (!s.ok()) return s.WithContext(BlockWhere(tensors[refs[i].tensor], refs[i].block));
    for (size_t k = i; k < j; ++k) {
      inputs[k] = scratch->data() + at + (StoredOffset(refs[k]) - from);
    }
    at += to - from;
    i = j;
  }
  return Status::OK();
}

uint64_t Reader::Impl::StoredOffset(const BlockRef& ref) const {
  return tensors[ref.tensor].data_offset + records[ref.tensor].blocks[ref.block].stored_offset;
}

void Reader::Impl::DecodeRefs(const BlockRef* refs, size_t n, bool verify, Status* errors) const {
  // Reads of the mapping may fault if the file shrank under us (see
  // io/fault_guard.h): every block of the run then reports it.
  if (!RunGuarded([&] { DecodeRefsUnguarded(refs, n, verify, errors); })) {
    for (size_t i = 0; i < n; ++i) errors[i] = MappedFileChangedError(path());
  }
}

void Reader::Impl::DecodeRefsUnguarded(const BlockRef* refs, size_t n, bool verify, Status* errors,
                                       const uint8_t* const* inputs) const {
  format::IndexEntry entry[kRunBlocks];
  DecodeJob jobs[kRunBlocks];
  size_t job_ref[kRunBlocks];  // jobs[k] decodes refs[job_ref[k]]
  size_t n_jobs = 0;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& t = tensors[refs[i].tensor];
    // The entry is Open's validated copy: its stored range is inside the stream.
    const format::IndexEntry& e = entry[i] = records[refs[i].tensor].blocks[refs[i].block];
    const uint8_t* in = inputs ? inputs[i] : data + t.data_offset + e.stored_offset;
    errors[i] = Status::OK();
    if (verify) {
      uint64_t got = Checksum64(in, e.stored_size);
      if (got != e.stored_checksum) {
        errors[i] =
            Status::ChecksumMismatch(BlockWhere(t, refs[i].block) + " (stored bytes at offset " +
                                     Hex(t.data_offset + e.stored_offset) + "): checksum " +
                                     Hex(got) + ", expected " + Hex(e.stored_checksum));
        continue;
      }
    }
    DecodeJob& j = jobs[n_jobs];
    j.tables = records[refs[i].tensor].tables;
    j.in = in;
    j.in_size = e.stored_size;
    j.out = refs[i].out;
    j.out_size = e.raw_size;
    job_ref[n_jobs++] = i;
  }
  // Jobs of one codec go together; a mixed pair decodes one by one.
  const Codec* codec = n_jobs ? records[refs[job_ref[0]].tensor].codec : nullptr;
  for (size_t k = 1; k < n_jobs; ++k) {
    if (records[refs[job_ref[k]].tensor].codec != codec) codec = nullptr;
  }
  if (codec != nullptr) {
    codec->DecodeMany(jobs, n_jobs);
  } else {
    for (size_t k = 0; k < n_jobs; ++k)
      records[refs[job_ref[k]].tensor].codec->DecodeMany(&jobs[k], 1);
  }
  for (size_t k = 0; k < n_jobs; ++k) {
    const size_t i = job_ref[k];
    const TensorInfo& t = tensors[refs[i].tensor];
    if (!jobs[k].status.ok()) {
      errors[i] = jobs[k].status.WithContext(BlockWhere(t, refs[i].block));
      continue;
    }
    if (verify) {
      uint64_t got = Checksum64(jobs[k].out, jobs[k].out_size);
      if (got != entry[i].raw_checksum) {
        errors[i] = Status::ChecksumMismatch(BlockWhere(t, refs[i].block) + ": decoded checksum " +
                                             Hex(got) + ", expected " + Hex(entry[i].raw_checksum));
      }
    }
  }
}

void Reader::Impl::DecodeRefsParallel(const BlockRef* refs, size_t n, int threads, bool verify,
                                      Status* errors) const {
  // One batch for the network: every missing block fetched at once, in parallel.
  const Status fetched = EnsureRefs(refs, n);
  if (!fetched.ok()) {
    for (size_t i = 0; i < n; ++i) errors[i] = fetched;
    return;
  }
  const long runs = static_cast<long>((n + kRunBlocks - 1) / kRunBlocks);
  // A parallel region costs more than a small tensor's decode: use no more
  // threads than runs (one run: the calling thread).
  if (threads <= 0) threads = omp_get_max_threads();
  threads = static_cast<int>(std::min<long>(threads, std::max<long>(runs, 1)));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (long r = 0; r < runs; ++r) {
    const size_t first = static_cast<size_t>(r) * kRunBlocks;
    DecodeRefs(refs + first, std::min(kRunBlocks, n - first), verify, errors + first);
  }
}

void Reader::Impl::DecodeBlocks(size_t index, uint8_t* out, int threads, bool verify,
                                std::vector<Status>* errors) const {
  const TensorInfo& t = tensors[index];
  std::vector<BlockRef> refs(t.block_count);
  for (size_t b = 0; b < refs.size(); ++b) refs[b] = {index, b, out + uint64_t(b) * t.block_size};
  errors->assign(refs.size(), Status::OK());
  DecodeRefsParallel(refs.data(), refs.size(), threads, verify, errors->data());
}

Status Reader::Impl::DecodeAll(size_t index, uint8_t* out, int threads, bool verify) const {
  std::vector<Status> errors;
  DecodeBlocks(index, out, threads, verify, &errors);
  for (const Status& s : errors) TQF_RETURN_IF_ERROR(s);  // lowest block's error first
  return Status::OK();
}

}  // namespace tqf

namespace tqf {

WeightBits MeasureWeightBits(const Reader& reader) {
  WeightBits w;
  std::vector<bool> dict_used(reader.dictionaries().size()), book_used(reader.codebooks().size());
  for (const TensorInfo& t : reader.tensors()) {
    if (t.shape.size() < 2) continue;
    w.weights += t.num_elements();
    w.stream_bytes += t.stored_size;
    w.params_bytes += t.params_bytes;
    if (t.dictionary >= 0 && static_cast<size_t>(t.dictionary) < dict_used.size()) {
      dict_used[t.dictionary] = true;
    }
    if (t.codebook >= 0 && static_cast<size_t>(t.codebook) < book_used.size()) {
      book_used[t.codebook] = true;
    }
  }
  for (size_t i = 0; i < dict_used.size(); ++i) {
    if (dict_used[i]) w.dictionary_bytes += reader.dictionaries()[i].size;
  }
  for (size_t i = 0; i < book_used.size(); ++i) {
    if (book_used[i]) w.codebook_bytes += reader.codebooks()[i].size;
  }
  return w;
}

}  // namespace tqf
