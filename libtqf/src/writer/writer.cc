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

struct CodebookRecord {
  uint32_t dim, entries;
  uint64_t offset, size, checksum;
  std::shared_ptr<const CodecTables> tables;
};

struct TensorRecord {
  TensorSpec spec;
  uint64_t raw_size = 0;
  uint32_t block_size = 0;
  uint64_t data_offset = 0, data_size = 0;
  uint64_t raw_checksum = 0;
  std::vector<uint8_t> params;  // as stored (spec.params_format)
  std::vector<uint8_t> index;   // encoded entries
  // Set by WriteTail once the plain and seek-index sections are written.
  uint64_t params_offset = 0, index_offset = 0;
};

struct Extent {
  uint64_t begin = 0, end = 0;
};

// The codec a tensor names and the tables it encodes with (null for codecs
// without a dictionary; the dictionary combined with the codebook for
// rans-alias-vq).
struct CodecChoice {
  const Codec* codec = nullptr;
  const CodecTables* tables = nullptr;
  std::shared_ptr<const CodecTables> own;
};

// The element count of a tensor whose shape, dtype and byte size agree.
Result<uint64_t> CheckShapeAndSize(const TensorSpec& spec, size_t size, const std::string& where) {
  if (spec.shape.empty() || spec.shape.size() > 8) {
    return Status::InvalidArgument(where + ": needs 1 to 8 dimensions");
  }
  uint64_t elements = 1;
  for (size_t k = 0; k < spec.shape.size(); ++k) {
    const uint64_t d = spec.shape[k];
    // A tensor without elements could not be exported back to GGUF (which
    // has none), so it is refused here, and by readers (format spec).
    if (d == 0) {
      return Status::InvalidArgument(where + ": dimension " + std::to_string(k) +
                                     " is 0 (a tensor without elements cannot be stored)");
    }
    if (elements > UINT64_MAX / d) return Status::InvalidArgument(where + ": shape overflows");
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
  return elements;
}

// int8 storage goes with quantization, and the params count must be the
// one NumQuantParams gives for this shape.
Status CheckQuantization(const TensorSpec& spec, uint64_t elements, size_t num_params,
                         const std::string& where) {
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
  return Status::OK();
}

// A dictionary codec needs a dictionary added for that same codec (a
// rans-alias table for rans-alias-vq, which also needs a codebook whose
// vectors tile the blocks).
Result<CodecChoice> ChooseCodec(const TensorSpec& spec, const std::vector<DictRecord>& dicts,
                                const std::vector<CodebookRecord>& codebooks, uint32_t block_size,
                                const std::string& where) {
  CodecChoice choice;
  choice.codec = FindCodec(spec.codec);
  if (choice.codec == nullptr) return Status::InvalidArgument(where + ": unknown codec");
  const bool vq = choice.codec->uses_codebook();
  if (choice.codec->uses_dictionary()) {
    const CodecKind dict_kind = vq ? CodecKind::kRansAlias : spec.codec;
    if (spec.dictionary < 0 || static_cast<size_t>(spec.dictionary) >= dicts.size() ||
        dicts[spec.dictionary].codec != dict_kind) {
      return Status::InvalidArgument(where + ": codec " + choice.codec->name() +
                                     " needs one of its dictionaries");
    }
    choice.tables = dicts[spec.dictionary].tables.get();
  } else if (spec.dictionary != -1) {
    return Status::InvalidArgument(where + ": codec " + std::string(choice.codec->name()) +
                                   " takes no dictionary");
  }
  if (!vq) {
    if (spec.codebook != -1) {
      return Status::InvalidArgument(where + ": codec " + std::string(choice.codec->name()) +
                                     " takes no codebook");
    }
    return choice;
  }
  if (spec.codebook < 0 || static_cast<size_t>(spec.codebook) >= codebooks.size() ||
      spec.dtype != DType::kI8 || block_size % codebooks[spec.codebook].dim != 0) {
    return Status::InvalidArgument(where + ": codec " + std::string(choice.codec->name()) +
                                   " needs int8 elements, one of the file's codebooks and "
                                   "blocks of whole vectors");
  }
  choice.own = CombineVqTables(dicts[spec.dictionary].tables, codebooks[spec.codebook].tables);
  choice.tables = choice.own.get();
  return choice;
}

// Encodes every block of `data` in parallel (blocks are independent by
// design); the first failing block, in block order, names the error.
Status EncodeBlocks(const CodecChoice& codec, const uint8_t* data, size_t size, size_t block_size,
                    int max_threads, const std::string& where,
                    std::vector<std::vector<uint8_t>>* out) {
  const size_t bs = block_size;
  const size_t nblocks = (size + bs - 1) / bs;
  std::vector<std::vector<uint8_t>>& encoded = *out;
  encoded.assign(nblocks, {});
  std::vector<Status> errors(nblocks);
  int threads = max_threads > 0 ? max_threads : omp_get_max_threads();
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(nblocks, 1)));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (long b = 0; b < static_cast<long>(nblocks); ++b) {
    const size_t off = static_cast<size_t>(b) * bs;
    errors[b] =
        codec.codec->Encode(codec.tables, data + off, std::min(bs, size - off), &encoded[b]);
  }
  for (size_t b = 0; b < nblocks; ++b) {
    if (!errors[b].ok()) return errors[b].WithContext(where + " block " + std::to_string(b));
    if (encoded[b].size() > UINT32_MAX) return Status::InvalidArgument(where + ": block too large");
  }
  return Status::OK();
}

// One table of the header's tensor vector. The FlatBuffers builder lays
// bytes out in call order, so the order of the calls here is part of the
// file format's golden bytes.
fbs::Offset<fb::Tensor> BuildTensorTable(fbs::FlatBufferBuilder* b, const TensorRecord& t) {
  auto name = b->CreateString(t.spec.name);
  auto shape = b->CreateVector(t.spec.shape);
  fbs::Offset<fbs::String> quantizer = 0;
  if (!t.spec.quantizer.empty()) quantizer = b->CreateString(t.spec.quantizer);
  fb::Extent params(t.params_offset, t.params.size());
  fb::Extent data(t.data_offset, t.data_size);
  fb::Extent idx(t.index_offset, t.index.size());
  fb::TensorBuilder tb(*b);
  tb.add_name(name);
  tb.add_shape(shape);
  tb.add_source_dtype(static_cast<fb::DType>(t.spec.source_dtype));
  tb.add_dtype(static_cast<fb::DType>(t.spec.dtype));
  tb.add_quant(static_cast<fb::QuantKind>(t.spec.quant));
  tb.add_quant_block(t.spec.quant_block);
  tb.add_params(&params);
  tb.add_params_checksum(Checksum64(t.params.data(), t.params.size()));
  tb.add_codec(static_cast<fb::CodecKind>(t.spec.codec));
  tb.add_dictionary(t.spec.dictionary);
  tb.add_raw_size(t.raw_size);
  tb.add_block_size(t.block_size);
  tb.add_data(&data);
  tb.add_index(&idx);
  tb.add_index_checksum(Checksum64(t.index.data(), t.index.size()));
  tb.add_raw_checksum(t.raw_checksum);
  // Format 1.2 fields; at their defaults FlatBuffers writes nothing, so a
  // file without 1.2 features is byte-identical to format 1.1.
  tb.add_params_format(static_cast<fb::ParamsFormat>(t.spec.params_format));
  tb.add_codebook(t.spec.codebook);
  if (!quantizer.IsNull()) tb.add_quantizer(quantizer);
  return tb.Finish();
}

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
  std::vector<CodebookRecord> codebooks;
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
  Status CheckName(const TensorSpec& spec, const std::string& where) const;
  Status AppendBlocks(const uint8_t* data, std::vector<std::vector<uint8_t>>* encoded,
                      TensorRecord* rec);
  Status WriteTail();
  Result<Extent> WritePlainSection();
  Result<Extent> WriteSeekIndex();
  void BuildHeader(fbs::FlatBufferBuilder* b, const Extent& plain, const Extent& index) const;
  Status WriteHeaderAndFooter(const fbs::FlatBufferBuilder& b);
};

Writer::Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Writer::~Writer() = default;

Result<std::unique_ptr<Writer>> Writer::Create(const std::string& path, const ModelInfo& model,
                                               const WriterOptions& options) {
  if (options.block_size == 0 || options.block_size > (1u << 30)) {
    return Status::InvalidArgument("block size " + std::to_string(options.block_size) +
                                   " out of range (1 .. 1 GiB)");
  }
  // A file no reader would open is refused before it is written.
  if (Status st = format::CheckStopIds(model.tokenizer); !st.ok()) {
    return Status::InvalidArgument("tokenizer: " + st.message());
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

Result<int> Writer::AddCodebook(uint32_t dim, uint32_t entries,
                                const std::vector<int8_t>& vectors) {
  Impl& w = *impl_;
  TQF_RETURN_IF_ERROR(w.failed);
  if (w.finished) return Status::InvalidArgument("AddCodebook after Finish");
  if (w.streams_started) return Status::InvalidArgument("codebooks must be added before tensors");
  if (vectors.size() != size_t{dim} * entries) {
    return Status::InvalidArgument("codebook of " + std::to_string(entries) + " x " +
                                   std::to_string(dim) + " given " +
                                   std::to_string(vectors.size()) + " bytes");
  }
  auto tables = MakeCodebookTables(dim, entries, vectors.data());
  if (!tables.ok()) return Status::InvalidArgument(tables.status().message());
  Status s = w.file->PadTo(kPayloadAlignment);
  if (s.ok()) {
    CodebookRecord c{dim,
                     entries,
                     w.file->offset(),
                     vectors.size(),
                     Checksum64(vectors.data(), vectors.size()),
                     std::move(tables).value()};
    s = w.file->Append(vectors.data(), vectors.size());
    if (s.ok()) w.codebooks.push_back(std::move(c));
  }
  if (!s.ok()) w.failed = s;
  TQF_RETURN_IF_ERROR(s);
  return static_cast<int>(w.codebooks.size() - 1);
}

Status Writer::Impl::CheckName(const TensorSpec& spec, const std::string& where) const {
  if (spec.name.empty()) return Status::InvalidArgument("tensor with an empty name");
  if (names.count(spec.name)) return Status::InvalidArgument(where + ": duplicate name");
  return Status::OK();
}

// Appends the encoded blocks and fills rec's seek-index entries. Each block
// is freed once written, so at most one tensor's codewords are held.
Status Writer::Impl::AppendBlocks(const uint8_t* data, std::vector<std::vector<uint8_t>>* encoded,
                                  TensorRecord* rec) {
  const size_t bs = rec->block_size;
  const size_t size = rec->raw_size;
  const size_t nblocks = encoded->size();
  Status s = file->PadTo(kPayloadAlignment);
  rec->data_offset = file->offset();
  rec->index.resize(nblocks * format::kIndexEntrySize);
  uint64_t stored = 0;
  for (size_t b = 0; s.ok() && b < nblocks; ++b) {
    std::vector<uint8_t>& block = (*encoded)[b];
    const size_t off = b * bs;
    format::IndexEntry e;
    e.stored_offset = stored;
    e.stored_size = static_cast<uint32_t>(block.size());
    e.raw_size = static_cast<uint32_t>(std::min(bs, size - off));
    e.stored_checksum = Checksum64(block.data(), block.size());
    e.raw_checksum = Checksum64(data + off, e.raw_size);
    format::EncodeIndexEntry(e, rec->index.data() + b * format::kIndexEntrySize);
    s = file->Append(block.data(), block.size());
    stored += block.size();
    std::vector<uint8_t>().swap(block);
  }
  rec->data_size = stored;
  return s;
}

Result<TensorWriteStats> Writer::AddTensor(const TensorSpec& spec, const uint8_t* data, size_t size,
                                           const float* params, size_t num_params) {
  Impl& w = *impl_;
  TQF_RETURN_IF_ERROR(w.failed);
  if (w.finished) return Status::InvalidArgument("AddTensor after Finish");
  const std::string where = "tensor '" + spec.name + "'";
  TQF_RETURN_IF_ERROR(w.CheckName(spec, where));
  TQF_ASSIGN_OR_RETURN(const uint64_t elements, CheckShapeAndSize(spec, size, where));
  TQF_RETURN_IF_ERROR(CheckQuantization(spec, elements, num_params, where));
  TQF_ASSIGN_OR_RETURN(const CodecChoice codec,
                       ChooseCodec(spec, w.dicts, w.codebooks, w.options.block_size, where));
  if (spec.params_format != ParamsFormat::kF32 && spec.quant == QuantKind::kTensorMinMax) {
    return Status::InvalidArgument(where + ": tensor-minmax params are stored as f32");
  }
  TensorRecord rec;
  TQF_RETURN_IF_ERROR(
      EncodeParams(spec.params_format, spec.log8_base, params, num_params, &rec.params)
          .WithContext(where));

  TQF_RETURN_IF_ERROR(w.StartStreams());
  rec.spec = spec;
  rec.raw_size = size;
  rec.block_size = w.options.block_size;
  rec.raw_checksum = Checksum64(data, size);
  std::vector<std::vector<uint8_t>> encoded;
  TQF_RETURN_IF_ERROR(
      EncodeBlocks(codec, data, size, rec.block_size, w.options.threads, where, &encoded));
  Status s = w.AppendBlocks(data, &encoded, &rec);
  if (!s.ok()) {
    w.failed = s;
    return s;
  }
  w.names.insert(spec.name);
  TensorWriteStats stats;
  stats.raw_bytes = size;
  stats.stored_bytes = rec.data_size;
  stats.blocks = static_cast<uint32_t>(encoded.size());
  w.tensors.push_back(std::move(rec));
  return stats;
}

// Plain section: each tensor's quantization parameters, f32 little-endian.
Result<Extent> Writer::Impl::WritePlainSection() {
  TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
  Extent plain{file->offset(), 0};
  for (TensorRecord& t : tensors) {
    TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
    t.params_offset = file->offset();
    TQF_RETURN_IF_ERROR(file->Append(t.params.data(), t.params.size()));
  }
  plain.end = file->offset();
  return plain;
}

// Seek index section: each tensor's encoded index entries.
Result<Extent> Writer::Impl::WriteSeekIndex() {
  TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
  Extent index{file->offset(), 0};
  for (TensorRecord& t : tensors) {
    TQF_RETURN_IF_ERROR(file->PadTo(kPayloadAlignment));
    t.index_offset = file->offset();
    TQF_RETURN_IF_ERROR(file->Append(t.index.data(), t.index.size()));
  }
  index.end = file->offset();
  return index;
}

// The FlatBuffers header. The builder lays bytes out in call order, so the
// order of these calls is part of the golden bytes: do not reorder.
void Writer::Impl::BuildHeader(fbs::FlatBufferBuilder* b, const Extent& plain,
                               const Extent& index) const {
  auto hp = format::BuildHyperparameters(*b, model.hparams);
  auto tok = format::BuildTokenizer(*b, model.tokenizer);
  auto meta = format::BuildMetadata(*b, model.metadata, model.tokenizer.stop_ids);
  std::vector<fbs::Offset<fb::Section>> sections;
  auto add_section = [&](fb::SectionKind kind, const Extent& e) {
    fb::Extent ext(e.begin, e.end - e.begin);
    sections.push_back(fb::CreateSection(*b, kind, &ext));
  };
  add_section(fb::SectionKind::Dictionary, dict_section);
  add_section(fb::SectionKind::Streams, stream_section);
  add_section(fb::SectionKind::Plain, plain);
  add_section(fb::SectionKind::SeekIndex, index);
  std::vector<fbs::Offset<fb::Dictionary>> dict_tables;
  for (const DictRecord& d : dicts) {
    fb::Extent ext(d.offset, d.size);
    dict_tables.push_back(
        fb::CreateDictionary(*b, static_cast<fb::CodecKind>(d.codec), &ext, d.checksum));
  }
  std::vector<fbs::Offset<fb::Tensor>> tensor_tables;
  for (const TensorRecord& t : tensors) tensor_tables.push_back(BuildTensorTable(b, t));
  auto sections_vec = b->CreateVector(sections);
  auto dicts_vec = b->CreateVector(dict_tables);
  auto tensors_vec = b->CreateVector(tensor_tables);
  auto writer_name = b->CreateString(
      options.writer_name.empty() ? std::string("tqf ") + VersionString() : options.writer_name);
  // Codebooks (1.2) only when there are some: a file without them keeps the
  // 1.1 header bytes.
  fbs::Offset<fbs::Vector<fbs::Offset<fb::Codebook>>> codebooks_vec = 0;
  if (!codebooks.empty()) {
    std::vector<fbs::Offset<fb::Codebook>> list;
    for (const CodebookRecord& c : codebooks) {
      fb::Extent ext(c.offset, c.size);
      list.push_back(fb::CreateCodebook(*b, static_cast<uint8_t>(c.dim),
                                        static_cast<uint16_t>(c.entries), &ext, c.checksum));
    }
    codebooks_vec = b->CreateVector(list);
  }
  auto header = fb::CreateHeader(*b, hp, tok, meta, sections_vec, dicts_vec, tensors_vec,
                                 writer_name, codebooks_vec);
  b->Finish(header, fb::HeaderIdentifier());
}

// Header, then the footer that locates it; last, the preamble at byte 0 is
// patched to locate the header too.
Status Writer::Impl::WriteHeaderAndFooter(const fbs::FlatBufferBuilder& b) {
  TQF_RETURN_IF_ERROR(file->PadTo(format::kHeaderAlignment));
  format::Footer footer;
  // The oldest minor version that reads this file right: 1.2 only if it
  // uses a 1.2 feature, and compact params also set an incompat bit, since
  // a 1.1 reader would take them for f32.
  bool log8 = false, v12 = !codebooks.empty();
  for (const TensorRecord& t : tensors) {
    log8 |= t.spec.params_format != ParamsFormat::kF32;
    v12 |= t.spec.codebook >= 0 || !t.spec.quantizer.empty();
  }
  footer.format_minor = log8 || v12 ? 2 : 1;
  if (log8) footer.incompat_flags |= format::kIncompatParamsFormats;
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
  pre.format_minor = footer.format_minor;
  pre.incompat_flags = footer.incompat_flags;
  uint8_t pbuf[format::kPreambleSize];
  format::EncodePreamble(pre, pbuf);
  return file->WriteAt(0, pbuf, sizeof(pbuf));
}

Status Writer::Impl::WriteTail() {
  TQF_RETURN_IF_ERROR(StartStreams());
  stream_section.end = file->offset();
  TQF_ASSIGN_OR_RETURN(const Extent plain, WritePlainSection());
  TQF_ASSIGN_OR_RETURN(const Extent index, WriteSeekIndex());
  fbs::FlatBufferBuilder b(1 << 16);
  BuildHeader(&b, plain, index);
  TQF_RETURN_IF_ERROR(WriteHeaderAndFooter(b));
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
