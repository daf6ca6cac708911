// Writer: streams dictionaries and tensor codeword streams, then writes the
// parameter and seek-index sections, the FlatBuffers header and the footer.
#include "tqf/writer.h"

#include <omp.h>

#include <algorithm>
#include <set>
#include <string>

#include "format/header_model.h"
#include "format/layout.h"
#include "io/output_file.h"
#include "tqf/quantize.h"
#include "tqf/version.h"
#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {

namespace fbs = flatbuffers;
using format::kPayloadAlignment;

namespace {

struct DictRecord {
  CodecKind codec;
  uint64_t offset, size, checksum;
  std::shared_ptr<const CodecTables> tables;
};

struct TensorRecord {
  TensorSpec spec;
  uint64_t raw_size = 0;
  uint32_t block_size = 0;
  uint64_t data_offset = 0, data_size = 0;
  uint64_t raw_checksum = 0;
  std::vector<float> params;
  std::vector<uint8_t> index;  // encoded entries
};

struct Extent {
  uint64_t begin = 0, end = 0;
};

}  // namespace

struct Writer::Impl {
  std::unique_ptr<AtomicOutputFile> file;
  ModelInfo model;
  WriterOptions options;
  Extent dict_section, stream_section;
  bool streams_started = false;
  bool finished = false;
  Status failed;  // sticky: after an error, nothing more is written
  std::vector<DictRecord> dicts;
  std::vector<TensorRecord> tensors;
  std::set<std::string> names;

  Status StartStreams() {
    if (streams_started) return Status::OK();
    dict_section.end = file->offset();
    TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
    stream_section.begin = file->offset();
    streams_started = true;
    return Status::OK();
  }
  Status WriteTail();
};

Writer::Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Writer::~Writer() = default;

Result<std::unique_ptr<Writer>> Writer::Create(const std::string& path, const ModelInfo& model,
                                               const WriterOptions& options) {
  if (options.block_size == 0 || options.block_size > (1u << 30)) {
    return Status::InvalidArgument("block size " + std::to_string(options.block_size) +
                                   " out of range (1 .. 1 GiB)");
  }
  TQF_ASSIGN_OR_RETURN(auto file, AtomicOutputFile::Create(path));
  auto impl = std::make_unique<Impl>();
  impl->file = std::move(file);
  impl->model = model;
  impl->options = options;
  uint8_t placeholder[format::kPreambleSize] = {};
  TQF_RETURN_IF_ERROR(impl->file->Append(placeholder, sizeof(placeholder)));
  TQF_RETURN_IF_ERROR(impl->file->PadTo(format::kSectionAlignment));
  impl->dict_section.begin = impl->file->offset();
  return std::unique_ptr<Writer>(new Writer(std::move(impl)));
}

uint64_t Writer::bytes_written() const { return impl_->file ? impl_->file->offset() : 0; }

Result<int> Writer::AddDictionary(CodecKind codec, const std::vector<uint8_t>& bytes) {
  Impl& w = *impl_;
  TQF_RETURN_IF_ERROR(w.failed);
  if (w.finished) return Status::InvalidArgument("AddDictionary after Finish");
  if (w.streams_started)
    return Status::InvalidArgument("dictionaries must be added before tensors");
  const Codec* c = FindCodec(codec);
  if (c == nullptr || !c->uses_dictionary()) {
    return Status::InvalidArgument("codec " + std::to_string(int(codec)) + " takes no dictionary");
  }
  auto tables = c->LoadDictionary(bytes.data(), bytes.size());
  if (!tables.ok())
    return tables.status().WithContext("dictionary for codec " + std::string(c->name()));
  Status s = w.file->PadTo(kPayloadAlignment);
  if (s.ok()) {
    DictRecord d{codec, w.file->offset(), bytes.size(), Checksum64(bytes.data(), bytes.size()),
                 std::move(tables).value()};
    s = w.file->Append(bytes.data(), bytes.size());
    if (s.ok()) w.dicts.push_back(std::move(d));
  }
  if (!s.ok()) w.failed = s;
  TQF_RETURN_IF_ERROR(s);
  return static_cast<int>(w.dicts.size() - 1);
}

Result<TensorWriteStats> Writer::AddTensor(const TensorSpec& spec, const uint8_t* data, size_t size,
                                           const float* params, size_t num_params) {
  Impl& w = *impl_;
  TQF_RETURN_IF_ERROR(w.failed);
  if (w.finished) return Status::InvalidArgument("AddTensor after Finish");
  const std::string where = "tensor '" + spec.name + "'";
  if (spec.name.empty()) return Status::InvalidArgument("tensor with an empty name");
  if (w.names.count(spec.name)) return Status::InvalidArgument(where + ": duplicate name");
  if (spec.shape.empty() || spec.shape.size() > 8) {
    return Status::InvalidArgument(where + ": needs 1 to 8 dimensions");
  }
  uint64_t elements = 1;
  for (uint64_t d : spec.shape) {
    if (d != 0 && elements > UINT64_MAX / d)
      return Status::InvalidArgument(where + ": shape overflows");
    elements *= d;
  }
  const size_t esize = DTypeSize(spec.dtype);
  if (esize == 0)
    return Status::InvalidArgument(where + ": cannot store dtype " + DTypeName(spec.dtype));
  if (elements > UINT64_MAX / esize || elements * esize != size) {
    return Status::InvalidArgument(where + ": " + std::to_string(size) +
                                   " bytes given, shape needs " + std::to_string(elements) + " x " +
                                   std::to_string(esize));
  }
  if ((spec.dtype == DType::kI8) != (spec.quant != QuantKind::kNone)) {
    return Status::InvalidArgument(where + ": int8 storage and quantization go together");
  }
  if (spec.quant == QuantKind::kBlock && spec.quant_block == 0) {
    return Status::InvalidArgument(where + ": block quantization with block size 0");
  }
  const uint64_t cols = spec.shape.back();
  const uint64_t rows = cols ? elements / cols : 0;
  const size_t want_params = NumQuantParams(spec.quant, spec.quant_block, rows, cols);
  if (num_params != want_params) {
    return Status::InvalidArgument(where + ": " + std::to_string(num_params) +
                                   " quantization params given, expected " +
                                   std::to_string(want_params));
  }
  const Codec* codec = FindCodec(spec.codec);
  if (codec == nullptr) return Status::InvalidArgument(where + ": unknown codec");
  const CodecTables* tables = nullptr;
  if (codec->uses_dictionary()) {
    if (spec.dictionary < 0 || static_cast<size_t>(spec.dictionary) >= w.dicts.size() ||
        w.dicts[spec.dictionary].codec != spec.codec) {
      return Status::InvalidArgument(where + ": codec " + codec->name() +
                                     " needs one of its dictionaries");
    }
    tables = w.dicts[spec.dictionary].tables.get();
  } else if (spec.dictionary != -1) {
    return Status::InvalidArgument(where + ": codec " + std::string(codec->name()) +
                                   " takes no dictionary");
  }

  TQF_RETURN_IF_ERROR(w.StartStreams());
  TensorRecord rec;
  rec.spec = spec;
  rec.raw_size = size;
  rec.block_size = w.options.block_size;
  rec.params.assign(params, params + num_params);
  rec.raw_checksum = Checksum64(data, size);
  const size_t bs = rec.block_size;
  const size_t nblocks = (size + bs - 1) / bs;
  std::vector<std::vector<uint8_t>> encoded(nblocks);
  std::vector<Status> errors(nblocks);
  int threads = w.options.threads > 0 ? w.options.threads : omp_get_max_threads();
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(nblocks, 1)));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (long b = 0; b < static_cast<long>(nblocks); ++b) {
    const size_t off = static_cast<size_t>(b) * bs;
    errors[b] = codec->Encode(tables, data + off, std::min(bs, size - off), &encoded[b]);
  }
  for (size_t b = 0; b < nblocks; ++b) {
    if (!errors[b].ok()) return errors[b].WithContext(where + " block " + std::to_string(b));
    if (encoded[b].size() > UINT32_MAX) return Status::InvalidArgument(where + ": block too large");
  }
  Status s = w.file->PadTo(kPayloadAlignment);
  rec.data_offset = w.file->offset();
  rec.index.resize(nblocks * format::kIndexEntrySize);
  uint64_t stored = 0;
  for (size_t b = 0; s.ok() && b < nblocks; ++b) {
    const size_t off = b * bs;
    format::IndexEntry e;
    e.stored_offset = stored;
    e.stored_size = static_cast<uint32_t>(encoded[b].size());
    e.raw_size = static_cast<uint32_t>(std::min(bs, size - off));
    e.stored_checksum = Checksum64(encoded[b].data(), encoded[b].size());
    e.raw_checksum = Checksum64(data + off, e.raw_size);
    format::EncodeIndexEntry(e, rec.index.data() + b * format::kIndexEntrySize);
    s = w.file->Append(encoded[b].data(), encoded[b].size());
    stored += encoded[b].size();
    std::vector<uint8_t>().swap(encoded[b]);
  }
  if (!s.ok()) {
    w.failed = s;
    return s;
  }
  rec.data_size = stored;
  w.names.insert(spec.name);
  w.tensors.push_back(std::move(rec));
  TensorWriteStats stats;
  stats.raw_bytes = size;
  stats.stored_bytes = stored;
  stats.blocks = static_cast<uint32_t>(nblocks);
  return stats;
}

Status Writer::Impl::WriteTail() {
  TQF_RETURN_IF_ERROR(StartStreams());
  stream_section.end = file->offset();

  // Plain section: quantization parameters, f32 little-endian.
  TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
  Extent plain{file->offset(), 0};
  std::vector<std::pair<uint64_t, uint64_t>> param_ext(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
    const auto& p = tensors[i].params;
    param_ext[i] = {file->offset(), p.size() * sizeof(float)};
    TQF_RETURN_IF_ERROR(file->Append(p.data(), p.size() * sizeof(float)));
  }
  plain.end = file->offset();

  TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
  Extent index{file->offset(), 0};
  std::vector<uint64_t> index_off(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
    index_off[i] = file->offset();
    TQF_RETURN_IF_ERROR(file->Append(tensors[i].index.data(), tensors[i].index.size()));
  }
  index.end = file->offset();

  fbs::FlatBufferBuilder b(1 << 16);
  auto hp = format::BuildHyperparameters(b, model.hparams);
  auto tok = format::BuildTokenizer(b, model.tokenizer);
  auto meta = format::BuildMetadata(b, model.metadata);
  std::vector<fbs::Offset<fb::Section>> sections;
  auto add_section = [&](fb::SectionKind kind, const Extent& e) {
    fb::Extent ext(e.begin, e.end - e.begin);
    sections.push_back(fb::CreateSection(b, kind, &ext));
  };
  add_section(fb::SectionKind::Dictionary, dict_section);
  add_section(fb::SectionKind::Streams, stream_section);
  add_section(fb::SectionKind::Plain, plain);
  add_section(fb::SectionKind::SeekIndex, index);
  std::vector<fbs::Offset<fb::Dictionary>> dict_tables;
  for (const DictRecord& d : dicts) {
    fb::Extent ext(d.offset, d.size);
    dict_tables.push_back(
        fb::CreateDictionary(b, static_cast<fb::CodecKind>(d.codec), &ext, d.checksum));
  }
  std::vector<fbs::Offset<fb::Tensor>> tensor_tables;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRecord& t = tensors[i];
    auto name = b.CreateString(t.spec.name);
    auto shape = b.CreateVector(t.spec.shape);
    fb::Extent params(param_ext[i].first, param_ext[i].second);
    fb::Extent data(t.data_offset, t.data_size);
    fb::Extent idx(index_off[i], t.index.size());
    fb::TensorBuilder tb(b);
    tb.add_name(name);
    tb.add_shape(shape);
    tb.add_source_dtype(static_cast<fb::DType>(t.spec.source_dtype));
    tb.add_dtype(static_cast<fb::DType>(t.spec.dtype));
    tb.add_quant(static_cast<fb::QuantKind>(t.spec.quant));
    tb.add_quant_block(t.spec.quant_block);
    tb.add_params(&params);
    tb.add_params_checksum(Checksum64(t.params.data(), t.params.size() * sizeof(float)));
    tb.add_codec(static_cast<fb::CodecKind>(t.spec.codec));
    tb.add_dictionary(t.spec.dictionary);
    tb.add_raw_size(t.raw_size);
    tb.add_block_size(t.block_size);
    tb.add_data(&data);
    tb.add_index(&idx);
    tb.add_index_checksum(Checksum64(t.index.data(), t.index.size()));
    tb.add_raw_checksum(t.raw_checksum);
    tensor_tables.push_back(tb.Finish());
  }
  auto sections_vec = b.CreateVector(sections);
  auto dicts_vec = b.CreateVector(dict_tables);
  auto tensors_vec = b.CreateVector(tensor_tables);
  auto writer_name = b.CreateString(
      options.writer_name.empty() ? std::string("tqf ") + VersionString() : options.writer_name);
  auto header =
      fb::CreateHeader(b, hp, tok, meta, sections_vec, dicts_vec, tensors_vec, writer_name);
  b.Finish(header, fb::HeaderIdentifier());

  TQF_RETURN_IF_ERROR(file->PadTo(format::kHeaderAlignment));
  format::Footer footer;
  footer.header_offset = file->offset();
  footer.header_size = b.GetSize();
  footer.header_checksum = Checksum64(b.GetBufferPointer(), b.GetSize());
  TQF_RETURN_IF_ERROR(file->Append(b.GetBufferPointer(), b.GetSize()));
  footer.file_size = file->offset() + format::kFooterSize;
  uint8_t buf[format::kFooterSize];
  format::EncodeFooter(footer, buf);
  TQF_RETURN_IF_ERROR(file->Append(buf, sizeof(buf)));

  format::Preamble pre;
  pre.header_offset = footer.header_offset;
  pre.header_size = footer.header_size;
  uint8_t pbuf[format::kPreambleSize];
  format::EncodePreamble(pre, pbuf);
  TQF_RETURN_IF_ERROR(file->WriteAt(0, pbuf, sizeof(pbuf)));
  return file->Commit();
}

Status Writer::Finish() {
  Impl& w = *impl_;
  TQF_RETURN_IF_ERROR(w.failed);
  if (w.finished) return Status::InvalidArgument("Finish called twice");
  Status s = w.WriteTail();
  if (!s.ok()) {
    w.failed = s;
    return s;
  }
  w.finished = true;
  return Status::OK();
}

}  // namespace tqf
