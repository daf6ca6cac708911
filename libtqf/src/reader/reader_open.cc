// Reader::Impl::Load: every structural check Open promises, in the order a
// hostile file is cheapest to reject: footer, preamble, header checksum,
// FlatBuffers verifier, sections, dictionaries, tensors and seek indices.
// Each step below follows a part of format-spec/tqf-format.md.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "format/header_model.h"
#include "reader/reader_impl.h"
#include "tqf/quantize.h"
#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {

using reader_internal::LabelledExtents;
using reader_internal::Range;
using reader_internal::Sections;
using reader_internal::TensorExtents;

namespace {

using format::kFooterSize;
using format::kIndexEntrySize;
using format::kPreambleSize;

const char* SectionName(fb::SectionKind k) {
  switch (k) {
    case fb::SectionKind::Dictionary: return "dictionary";
    case fb::SectionKind::Streams: return "streams";
    case fb::SectionKind::Plain: return "plain";
    case fb::SectionKind::SeekIndex: return "seek_index";
  }
  return nullptr;
}

std::string ExtentStr(uint64_t off, uint64_t size) {
  return "[" + Hex(off) + ", +" + Hex(size) + ")";
}

Range RangeOf(const fb::Extent& e) { return {e.offset(), e.offset() + e.size()}; }

// A tensor's dictionary must be one its codec reads: of its own kind, or a
// rans-alias table for rans-alias-vq (whose dictionaries are such tables).
bool DictionaryFits(CodecKind dictionary, CodecKind codec) {
  return dictionary == codec ||
         (codec == CodecKind::kRansAliasVq && dictionary == CodecKind::kRansAlias);
}

// Extents of one kind (streams, indices...) must not overlap one another.
Status CheckDisjoint(LabelledExtents v, const char* what) {
  std::sort(v.begin(), v.end(),
            [](const auto& a, const auto& b) { return a.first.begin < b.first.begin; });
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i].first.begin < v[i - 1].first.end) {
      return Status::Corruption(std::string(what) + " of " + v[i - 1].second + " and " +
                                v[i].second + " overlap");
    }
  }
  return Status::OK();
}

// The checksum of data[offset, +size) must be `want` (when checksums are checked).
Status CheckChecksum(const uint8_t* data, uint64_t offset, uint64_t size, uint64_t want,
                     const std::string& what) {
  const uint64_t got = Checksum64(data + offset, size);
  if (got == want) return Status::OK();
  return Status::ChecksumMismatch(what + " checksum " + Hex(got) + ", expected " + Hex(want));
}

// Preamble and footer agree, the footer describes this file, and the header
// they point at lies in the body, aligned.
Status CheckFrame(const format::Preamble& pre, const format::Footer& foot, size_t size) {
  if (foot.file_size != size) {
    return Status::Corruption("footer says the file is " + std::to_string(foot.file_size) +
                              " bytes but it is " + std::to_string(size) +
                              (foot.file_size > size ? " (truncated)" : " (trailing bytes)"));
  }
  if (pre.header_offset != foot.header_offset || pre.header_size != foot.header_size ||
      pre.format_major != foot.format_major || pre.format_minor != foot.format_minor ||
      pre.incompat_flags != foot.incompat_flags) {
    return Status::Corruption("preamble and footer disagree on the header location or version");
  }
  const uint64_t body_end = size - kFooterSize;
  if (!RangeWithin(foot.header_offset, foot.header_size, kPreambleSize, body_end) ||
      foot.header_size == 0) {
    return Status::Corruption("header " + ExtentStr(foot.header_offset, foot.header_size) +
                              " is not inside the file body [0x40, " + Hex(body_end) + ")");
  }
  if (foot.header_offset % format::kHeaderAlignment != 0) {
    return Status::Corruption("header offset " + Hex(foot.header_offset) +
                              " is not 8-byte aligned");
  }
  return Status::OK();
}

}  // namespace

Status Reader::Impl::Load() {
  const fb::Header* header = nullptr;
  TQF_RETURN_IF_ERROR(LoadEnvelope(&header));
  TQF_RETURN_IF_ERROR(format::ParseModelInfo(*header, &model));
  Sections sections;
  TQF_RETURN_IF_ERROR(LoadSections(*header, &sections));
  // A remote file's small sections, together (the streams come on demand).
  if (remote()) {
    const SourceExtent small[3] = {
        {sections.dictionary.begin, sections.dictionary.end - sections.dictionary.begin, 0, false},
        {sections.plain.begin, sections.plain.end - sections.plain.begin, 0, false},
        {sections.seek_index.begin, sections.seek_index.end - sections.seek_index.begin, 0, false}};
    TQF_RETURN_IF_ERROR(source->Ensure(small, 3));
  }
  TQF_RETURN_IF_ERROR(LoadDictionaries(*header, sections.dictionary));
  TQF_RETURN_IF_ERROR(LoadCodebooks(*header, sections.dictionary));
  const auto* ts = header->tensors();
  tensors.reserve(ts->size());
  records.reserve(ts->size());
  TensorExtents extents;
  for (size_t i = 0; i < ts->size(); ++i) {
    TQF_RETURN_IF_ERROR(
        LoadTensor(i, *ts->Get(static_cast<flatbuffers::uoffset_t>(i)), sections, &extents));
  }
  TQF_RETURN_IF_ERROR(CheckDisjoint(std::move(extents.streams), "streams"));
  TQF_RETURN_IF_ERROR(CheckDisjoint(std::move(extents.indices), "seek indices"));
  return CheckDisjoint(std::move(extents.params), "params");
}

// A remote file's preamble and header, fetched together once the footer
// (which a remote Source reads first) says where the header is. A footer
// that does not decode, or names a header outside the file or larger than
// a remote reader fetches, gets its clear error from the checks after this.
Status Reader::Impl::FetchEnvelope() {
  if (!remote()) return Status::OK();
  TQF_RETURN_IF_ERROR(EnsureRange(size - kFooterSize, kFooterSize));
  std::vector<SourceExtent> want = {{0, kPreambleSize, 0, false}};
  format::Footer foot;
  if (format::DecodeFooter(data + size - kFooterSize, kFooterSize, &foot).ok()) {
    if (foot.header_size > kMaxRemoteHeader) {
      return Status::Corruption("footer: header of " + std::to_string(foot.header_size) +
                                " bytes; a remote reader fetches at most " +
                                std::to_string(kMaxRemoteHeader));
    }
    if (RangeWithin(foot.header_offset, foot.header_size, 0, size)) {
      want.push_back({foot.header_offset, foot.header_size, foot.header_checksum, false});
    }
  }
  return source->Ensure(want.data(), want.size());
}

Status Reader::Impl::LoadEnvelope(const fb::Header** header) {
  if (size < kPreambleSize + kFooterSize) {
    TQF_RETURN_IF_ERROR(EnsureRange(0, size));  // remote: all of it, at most 127 bytes
    format::Preamble p;
    TQF_RETURN_IF_ERROR(format::DecodePreamble(data, size, &p));  // bad magic reads better
    return Status::Corruption("file is " + std::to_string(size) +
                              " bytes: too short for a preamble and footer (128 bytes)");
  }
  TQF_RETURN_IF_ERROR(FetchEnvelope());
  format::Preamble pre;
  TQF_RETURN_IF_ERROR(format::DecodePreamble(data, size, &pre));
  format::Footer foot;
  TQF_RETURN_IF_ERROR(format::DecodeFooter(data + size - kFooterSize, kFooterSize, &foot)
                          .WithContext("footer at offset " + Hex(size - kFooterSize)));
  TQF_RETURN_IF_ERROR(CheckFrame(pre, foot, size));
  const uint8_t* hdr = data + foot.header_offset;
  const std::string where = "header " + ExtentStr(foot.header_offset, foot.header_size);
  const uint64_t hsum = Checksum64(hdr, foot.header_size);
  if (hsum != foot.header_checksum) {
    return Status::ChecksumMismatch(where + ": checksum " + Hex(hsum) + ", footer says " +
                                    Hex(foot.header_checksum));
  }
  if (!fb::HeaderBufferHasIdentifier(hdr)) {
    return Status::Corruption("header: FlatBuffers identifier is not \"TQFH\"");
  }
  flatbuffers::Verifier verifier(hdr, foot.header_size,
                                 /*max_depth=*/64, /*max_tables=*/50'000'000);
  if (!fb::VerifyHeaderBuffer(verifier)) {
    return Status::Corruption(where + ": FlatBuffers verification failed");
  }
  *header = fb::GetHeader(hdr);
  file_info.format_major = pre.format_major;
  file_info.format_minor = pre.format_minor;
  file_info.compat_flags = pre.compat_flags;
  file_info.incompat_flags = pre.incompat_flags;
  file_info.file_size = size;
  file_info.header_offset = foot.header_offset;
  file_info.header_size = foot.header_size;
  file_info.writer = (*header)->writer() ? (*header)->writer()->str() : "";
  return Status::OK();
}

// Sections lie between the preamble and the header, disjoint, at most one
// of each kind; a kind this reader does not know (a newer minor's) is
// ignored, but still may not overlap the others.
Status Reader::Impl::LoadSections(const fb::Header& header, Sections* sections) {
  Range* known[4] = {&sections->dictionary, &sections->streams, &sections->plain,
                     &sections->seek_index};
  bool have[4] = {};
  LabelledExtents all;
  for (const fb::Section* s : *header.sections()) {
    const fb::Extent* e = s->extent();
    const char* name = SectionName(s->kind());
    std::string label = name ? name : "section kind " + std::to_string(int(s->kind()));
    if (!RangeWithin(e->offset(), e->size(), kPreambleSize, file_info.header_offset)) {
      return Status::Corruption("section " + label + " " + ExtentStr(e->offset(), e->size()) +
                                " is not between the preamble and the header at " +
                                Hex(file_info.header_offset));
    }
    all.push_back({RangeOf(*e), "section " + label});
    if (name == nullptr) continue;
    const int k = static_cast<int>(s->kind());
    if (have[k]) return Status::Corruption("section " + label + " appears twice");
    have[k] = true;
    *known[k] = RangeOf(*e);
    section_info.push_back({label, e->offset(), e->size()});
  }
  TQF_RETURN_IF_ERROR(CheckDisjoint(std::move(all), "extents"));
  for (int k = 0; k < 4; ++k) {
    if (!have[k]) {
      return Status::Corruption(std::string("header has no ") + SectionName(fb::SectionKind(k)) +
                                " section");
    }
  }
  return Status::OK();
}

Status Reader::Impl::LoadDictionaries(const fb::Header& header, const Range& section) {
  const auto* list = header.dictionaries();
  if (list == nullptr) return Status::OK();
  for (size_t i = 0; i < list->size(); ++i) {
    const fb::Dictionary* d = list->Get(static_cast<flatbuffers::uoffset_t>(i));
    const std::string where = "dictionary " + std::to_string(i);
    const fb::Extent* e = d->extent();
    if (!RangeWithin(e->offset(), e->size(), section.begin, section.end)) {
      return Status::Corruption(where + " " + ExtentStr(e->offset(), e->size()) +
                                " is outside the dictionary section");
    }
    const Codec* codec = FindCodec(static_cast<CodecKind>(d->codec()));
    if (codec == nullptr || !codec->uses_dictionary()) {
      return Status::NotSupported(where + ": codec " + std::to_string(int(d->codec())) +
                                  " unknown to this reader or takes no dictionary");
    }
    if (options.verify_checksums) {
      TQF_RETURN_IF_ERROR(CheckChecksum(data, e->offset(), e->size(), d->checksum(), where + ":"));
    }
    auto tables = codec->LoadDictionary(data + e->offset(), e->size());
    if (!tables.ok()) return tables.status().WithContext(where);
    dicts.push_back({std::move(tables).value(), d->checksum()});
    dict_info.push_back({codec->kind(), e->offset(), e->size()});
  }
  return Status::OK();
}

// Codebooks (1.2) lie in the dictionary section beside the dictionaries.
Status Reader::Impl::LoadCodebooks(const fb::Header& header, const Range& section) {
  const auto* list = header.codebooks();
  if (list == nullptr) return Status::OK();
  for (size_t i = 0; i < list->size(); ++i) {
    const fb::Codebook* c = list->Get(static_cast<flatbuffers::uoffset_t>(i));
    const std::string where = "codebook " + std::to_string(i);
    const fb::Extent* e = c->extent();
    const uint64_t want = uint64_t{c->dim()} * c->entries();
    if (e->size() != want || !RangeWithin(e->offset(), e->size(), section.begin, section.end)) {
      return Status::Corruption(where + " " + ExtentStr(e->offset(), e->size()) + " must hold " +
                                std::to_string(c->entries()) + " vectors of " +
                                std::to_string(c->dim()) + " bytes inside the dictionary section");
    }
    if (options.verify_checksums) {
      TQF_RETURN_IF_ERROR(CheckChecksum(data, e->offset(), e->size(), c->checksum(), where + ":"));
    }
    auto tables = MakeCodebookTables(c->dim(), c->entries(),
                                     reinterpret_cast<const int8_t*>(data + e->offset()));
    if (!tables.ok()) return tables.status().WithContext(where);
    codebooks.push_back({std::move(tables).value(), c->checksum()});
    codebook_info.push_back({c->dim(), c->entries(), e->offset(), e->size()});
  }
  return Status::OK();
}

Status Reader::Impl::LoadTensor(size_t index, const fb::Tensor& ft, const Sections& sections,
                                TensorExtents* extents) {
  TensorInfo t;
  t.name = ft.name()->str();
  if (ft.quantizer() != nullptr) t.quantizer = ft.quantizer()->str();
  const std::string where = "tensor " + std::to_string(index) + " '" + t.name + "'";
  if (!by_name.emplace(t.name, index).second) {
    return Status::Corruption(where + ": duplicate name");
  }
  reader_internal::TensorRecord rec;
  TQF_RETURN_IF_ERROR(LoadTensorType(ft, where, &t));
  TQF_RETURN_IF_ERROR(LoadTensorParams(ft, where, sections.plain, &t, &extents->params));
  TQF_RETURN_IF_ERROR(LoadTensorCodec(ft, where, &t, &rec));
  TQF_RETURN_IF_ERROR(LoadTensorStream(ft, where, sections, &t, &rec, extents));
  rec.index_offset = ft.index()->offset();
  rec.index_checksum = ft.index_checksum();
  rec.raw_checksum = ft.raw_checksum();
  rec.params_checksum = ft.params_checksum();
  records.push_back(std::move(rec));
  tensors.push_back(std::move(t));
  return Status::OK();
}

// Shape, stored and source types, quantizer, and the decoded size they imply.
Status Reader::Impl::LoadTensorType(const fb::Tensor& ft, const std::string& where,
                                    TensorInfo* t) const {
  if (ft.shape()->size() == 0 || ft.shape()->size() > 8) {
    return Status::Corruption(where + ": " + std::to_string(ft.shape()->size()) +
                              " dimensions (1 to 8 allowed)");
  }
  uint64_t elements = 1;
  for (uint64_t d : *ft.shape()) {
    if (d == 0) return Status::Corruption(where + ": a dimension is 0 (every one must be >= 1)");
    if (elements > UINT64_MAX / d) return Status::Corruption(where + ": shape overflows");
    elements *= d;
    t->shape.push_back(d);
  }
  const auto dt = static_cast<uint8_t>(ft.dtype());
  if (dt > uint8_t(DType::kI8)) {
    return Status::NotSupported(
        where + ": stored dtype " + std::to_string(dt) +
        (dt <= kMaxDType ? " (" + std::string(DTypeName(DType(dt))) + ") is a source-only type"
                         : " unknown to this reader"));
  }
  t->dtype = static_cast<DType>(dt);
  const auto sdt = static_cast<uint8_t>(ft.source_dtype());
  t->source_dtype = sdt <= kMaxDType ? static_cast<DType>(sdt) : DType::kF32;
  const auto q = static_cast<uint8_t>(ft.quant());
  if (q > uint8_t(QuantKind::kBlock)) {
    return Status::NotSupported(where + ": quantizer " + std::to_string(q) + " unknown");
  }
  t->quant = static_cast<QuantKind>(q);
  t->quant_block = ft.quant_block();
  if ((t->dtype == DType::kI8) != (t->quant != QuantKind::kNone) ||
      (t->quant == QuantKind::kBlock && t->quant_block == 0)) {
    return Status::Corruption(where + ": dtype " + DTypeName(t->dtype) + " with quantizer " +
                              QuantKindName(t->quant) + " block " + std::to_string(t->quant_block));
  }
  const uint64_t esize = DTypeSize(t->dtype);
  if (elements > UINT64_MAX / esize || ft.raw_size() != elements * esize) {
    return Status::Corruption(where + ": raw_size " + std::to_string(ft.raw_size()) +
                              " != elements x " + std::to_string(esize));
  }
  t->raw_size = ft.raw_size();
  return Status::OK();
}

// The quantizer's f32 parameters: exactly as many as it needs, in the plain
// section, 4-byte aligned.
Status Reader::Impl::LoadTensorParams(const fb::Tensor& ft, const std::string& where,
                                      const Range& plain, TensorInfo* t,
                                      LabelledExtents* params) const {
  const fb::Extent* pe = ft.params();
  const uint64_t cols = t->cols(), rows = cols ? t->num_elements() / cols : 0;
  const uint64_t nparams = NumQuantParams(t->quant, t->quant_block, rows, cols);
  const auto pf = static_cast<uint8_t>(ft.params_format());
  if (pf > static_cast<uint8_t>(ParamsFormat::kLog8) ||
      (pf != 0 && t->quant == QuantKind::kTensorMinMax)) {
    return Status::NotSupported(where + ": params format " + std::to_string(pf) +
                                " unknown, or not allowed with its quantizer");
  }
  t->params_format = static_cast<ParamsFormat>(pf);
  if (pf != 0 && (file_info.incompat_flags & format::kIncompatParamsFormats) == 0) {
    return Status::Corruption(where + ": params stored " + ParamsFormatName(t->params_format) +
                              " but incompat bit 0 (params formats) is not set");
  }
  const uint64_t want = ParamsBytes(t->params_format, nparams);
  if (pe == nullptr ? want != 0 : (pe->size() != want)) {
    return Status::Corruption(where + ": params extent holds " +
                              std::to_string(pe ? pe->size() : 0) + " bytes, quantizer needs " +
                              std::to_string(nparams) + " " + ParamsFormatName(t->params_format) +
                              " params (" + std::to_string(want) + " bytes)");
  }
  t->num_params = nparams;
  t->params_bytes = want;
  if (pe == nullptr || pe->size() == 0) return Status::OK();
  if (!RangeWithin(pe->offset(), pe->size(), plain.begin, plain.end) || pe->offset() % 4 != 0) {
    return Status::Corruption(where + ": params " + ExtentStr(pe->offset(), pe->size()) +
                              " outside the plain section or misaligned");
  }
  params->push_back({RangeOf(*pe), where});
  t->params_offset = pe->offset();
  if (t->params_format == ParamsFormat::kF32) {
    t->params = reinterpret_cast<const float*>(data + pe->offset());
  }
  if (options.verify_checksums) {
    TQF_RETURN_IF_ERROR(
        CheckChecksum(data, pe->offset(), pe->size(), ft.params_checksum(), where + ": params"));
  }
  if (t->params_format == ParamsFormat::kLog8) {
    float base;
    std::memcpy(&base, data + pe->offset(), 4);
    if (!(base >= 0x1p-100f && base <= 0x1p100f)) {
      return Status::Corruption(where + ": log8 params base " + std::to_string(base) +
                                " outside [2^-100, 2^100]");
    }
  }
  return Status::OK();
}

// The codec is known, and takes a dictionary of its own kind exactly when
// it uses one.
Status Reader::Impl::LoadTensorCodec(const fb::Tensor& ft, const std::string& where, TensorInfo* t,
                                     reader_internal::TensorRecord* rec) const {
  const Codec* codec = rec->codec = FindCodec(static_cast<CodecKind>(ft.codec()));
  if (codec == nullptr) {
    return Status::NotSupported(where + ": codec " + std::to_string(int(ft.codec())) +
                                " unknown to this reader");
  }
  t->codec = codec->kind();
  t->dictionary = ft.dictionary();
  t->codebook = ft.codebook();
  if (codec->uses_dictionary()) {
    if (t->dictionary < 0 || size_t(t->dictionary) >= dicts.size() ||
        !DictionaryFits(dict_info[t->dictionary].codec, t->codec)) {
      return Status::Corruption(where + ": dictionary " + std::to_string(t->dictionary) +
                                " missing or of another codec");
    }
    rec->tables = dicts[t->dictionary].tables.get();
  } else if (t->dictionary != -1) {
    return Status::Corruption(where + ": codec " + codec->name() + " takes no dictionary");
  }
  if (!codec->uses_codebook()) {
    if (t->codebook != -1) {
      return Status::Corruption(where + ": codec " + codec->name() + " takes no codebook");
    }
    return Status::OK();
  }
  // rans-alias-vq: int8 elements expanded from a codebook, whole vectors per
  // block.
  if (t->codebook < 0 || size_t(t->codebook) >= codebooks.size()) {
    return Status::Corruption(where + ": codebook " + std::to_string(t->codebook) + " missing");
  }
  const uint32_t dim = codebook_info[t->codebook].dim;
  if (t->dtype != DType::kI8 || (t->block_size != 0 && ft.block_size() % dim != 0)) {
    return Status::Corruption(where + ": codec " + codec->name() + " needs int8 elements and " +
                              "blocks of whole " + std::to_string(dim) + "-element vectors");
  }
  rec->own_tables = CombineVqTables(dicts[t->dictionary].tables, codebooks[t->codebook].tables);
  rec->tables = rec->own_tables.get();
  return Status::OK();
}

// The stream lies in the streams section; its seek index, in the seek_index
// section, has one entry per block, and the entries tile the stream in
// order with the decoded sizes the block size implies.
Status Reader::Impl::LoadTensorStream(const fb::Tensor& ft, const std::string& where,
                                      const Sections& sections, TensorInfo* t,
                                      reader_internal::TensorRecord* rec,
                                      TensorExtents* extents) const {
  const fb::Extent* de = ft.data();
  if (!RangeWithin(de->offset(), de->size(), sections.streams.begin, sections.streams.end)) {
    return Status::Corruption(where + ": stream " + ExtentStr(de->offset(), de->size()) +
                              " outside the streams section");
  }
  t->data_offset = de->offset();
  t->stored_size = de->size();
  t->block_size = ft.block_size();
  if (t->raw_size > 0 && t->block_size == 0) return Status::Corruption(where + ": block_size 0");
  // Rounded up without forming raw_size + block_size - 1, which can wrap.
  const uint64_t nblocks =
      t->raw_size == 0 ? 0 : t->raw_size / t->block_size + (t->raw_size % t->block_size != 0);
  if (nblocks > UINT32_MAX) return Status::Corruption(where + ": too many blocks");
  t->block_count = static_cast<uint32_t>(nblocks);
  const fb::Extent* ie = ft.index();
  if (ie->size() != nblocks * kIndexEntrySize ||
      !RangeWithin(ie->offset(), ie->size(), sections.seek_index.begin, sections.seek_index.end) ||
      ie->offset() % 8 != 0) {
    return Status::Corruption(where + ": seek index " + ExtentStr(ie->offset(), ie->size()) +
                              " must hold " + std::to_string(nblocks) +
                              " entries of 32 bytes inside the seek_index section");
  }
  if (options.verify_checksums) {
    TQF_RETURN_IF_ERROR(
        CheckChecksum(data, ie->offset(), ie->size(), ft.index_checksum(), where + ": seek index"));
  }
  rec->blocks.resize(nblocks);
  uint64_t expect_off = 0;
  for (uint64_t b = 0; b < nblocks; ++b) {
    const format::IndexEntry e = rec->blocks[b] =
        format::DecodeIndexEntry(data + ie->offset() + b * kIndexEntrySize);
    uint64_t want_raw = std::min<uint64_t>(t->block_size, t->raw_size - b * t->block_size);
    if (e.stored_offset != expect_off || e.raw_size != want_raw ||
        e.stored_size > t->stored_size - e.stored_offset) {
      return Status::Corruption(where + " seek index entry " + std::to_string(b) + ": stored " +
                                ExtentStr(e.stored_offset, e.stored_size) + " raw size " +
                                std::to_string(e.raw_size) + " (expected offset " +
                                Hex(expect_off) + ", raw size " + std::to_string(want_raw) +
                                ", stream size " + Hex(t->stored_size) + ")");
    }
    expect_off += e.stored_size;
  }
  if (expect_off != t->stored_size) {
    return Status::Corruption(where + ": seek index covers " + std::to_string(expect_off) +
                              " stored bytes, stream has " + std::to_string(t->stored_size));
  }
  extents->streams.push_back({RangeOf(*de), where});
  extents->indices.push_back({RangeOf(*ie), where});
  return Status::OK();
}

}  // namespace tqf
