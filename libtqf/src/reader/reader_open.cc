// Reader::Impl::Load: every structural check Open promises, in the order a
// hostile file is cheapest to reject: footer, preamble, header checksum,
// FlatBuffers verifier, sections, dictionaries, tensors and seek indices.
#include <algorithm>
#include <cstring>

#include "format/header_model.h"
#include "reader/reader_impl.h"
#include "tqf/quantize.h"
#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {

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

struct Range {
  uint64_t begin, end;
};

// Extents of one kind (streams, indices...) must not overlap one another.
Status CheckDisjoint(std::vector<std::pair<Range, std::string>> v, const char* what) {
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

}  // namespace

Status Reader::Impl::Load() {
  if (size < kPreambleSize + kFooterSize) {
    format::Preamble p;
    TQF_RETURN_IF_ERROR(format::DecodePreamble(data, size, &p));  // bad magic reads better
    return Status::Corruption("file is " + std::to_string(size) +
                              " bytes: too short for a preamble and footer (128 bytes)");
  }
  format::Preamble pre;
  TQF_RETURN_IF_ERROR(format::DecodePreamble(data, size, &pre));
  format::Footer foot;
  TQF_RETURN_IF_ERROR(format::DecodeFooter(data + size - kFooterSize, kFooterSize, &foot)
                          .WithContext("footer at offset " + Hex(size - kFooterSize)));
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
  const uint8_t* hdr = data + foot.header_offset;
  uint64_t hsum = Checksum64(hdr, foot.header_size);
  if (hsum != foot.header_checksum) {
    return Status::ChecksumMismatch("header " + ExtentStr(foot.header_offset, foot.header_size) +
                                    ": checksum " + Hex(hsum) + ", footer says " +
                                    Hex(foot.header_checksum));
  }
  if (!fb::HeaderBufferHasIdentifier(hdr)) {
    return Status::Corruption("header: FlatBuffers identifier is not \"TQFH\"");
  }
  flatbuffers::Verifier verifier(hdr, foot.header_size,
                                 /*max_depth=*/64, /*max_tables=*/50'000'000);
  if (!fb::VerifyHeaderBuffer(verifier)) {
    return Status::Corruption("header " + ExtentStr(foot.header_offset, foot.header_size) +
                              ": FlatBuffers verification failed");
  }
  const fb::Header* header = fb::GetHeader(hdr);
  file_info.format_major = pre.format_major;
  file_info.format_minor = pre.format_minor;
  file_info.compat_flags = pre.compat_flags;
  file_info.incompat_flags = pre.incompat_flags;
  file_info.file_size = size;
  file_info.header_offset = foot.header_offset;
  file_info.header_size = foot.header_size;
  file_info.writer = header->writer() ? header->writer()->str() : "";
  TQF_RETURN_IF_ERROR(format::ParseModelInfo(*header, &model));

  // Sections: inside [preamble end, header), disjoint, at most one of each kind.
  Range sect[4] = {};
  bool have[4] = {};
  std::vector<std::pair<Range, std::string>> all_sections;
  for (const fb::Section* s : *header->sections()) {
    const fb::Extent* e = s->extent();
    const char* name = SectionName(s->kind());
    std::string label = name ? name : "section kind " + std::to_string(int(s->kind()));
    if (!RangeWithin(e->offset(), e->size(), kPreambleSize, foot.header_offset)) {
      return Status::Corruption("section " + label + " " + ExtentStr(e->offset(), e->size()) +
                                " is not between the preamble and the header at " +
                                Hex(foot.header_offset));
    }
    all_sections.push_back({{e->offset(), e->offset() + e->size()}, "section " + label});
    if (name == nullptr) continue;  // a newer minor's section: ignorable
    int k = static_cast<int>(s->kind());
    if (have[k]) return Status::Corruption("section " + label + " appears twice");
    have[k] = true;
    sect[k] = {e->offset(), e->offset() + e->size()};
    section_info.push_back({label, e->offset(), e->size()});
  }
  TQF_RETURN_IF_ERROR(CheckDisjoint(all_sections, "extents"));
  for (int k = 0; k < 4; ++k) {
    if (!have[k]) {
      return Status::Corruption(std::string("header has no ") + SectionName(fb::SectionKind(k)) +
                                " section");
    }
  }
  const Range& dict_sect = sect[int(fb::SectionKind::Dictionary)];
  const Range& stream_sect = sect[int(fb::SectionKind::Streams)];
  const Range& plain_sect = sect[int(fb::SectionKind::Plain)];
  const Range& index_sect = sect[int(fb::SectionKind::SeekIndex)];

  // Dictionaries.
  if (const auto* dicts = header->dictionaries()) {
    for (size_t i = 0; i < dicts->size(); ++i) {
      const fb::Dictionary* d = dicts->Get(static_cast<flatbuffers::uoffset_t>(i));
      const std::string where = "dictionary " + std::to_string(i);
      const fb::Extent* e = d->extent();
      if (!RangeWithin(e->offset(), e->size(), dict_sect.begin, dict_sect.end)) {
        return Status::Corruption(where + " " + ExtentStr(e->offset(), e->size()) +
                                  " is outside the dictionary section");
      }
      const Codec* codec = FindCodec(static_cast<CodecKind>(d->codec()));
      if (codec == nullptr || !codec->uses_dictionary()) {
        return Status::NotSupported(where + ": codec " + std::to_string(int(d->codec())) +
                                    " unknown to this reader or takes no dictionary");
      }
      const uint8_t* p = data + e->offset();
      if (options.verify_checksums) {
        uint64_t got = Checksum64(p, e->size());
        if (got != d->checksum()) {
          return Status::ChecksumMismatch(where + ": checksum " + Hex(got) + ", expected " +
                                          Hex(d->checksum()));
        }
      }
      auto tables = codec->LoadDictionary(p, e->size());
      if (!tables.ok()) return tables.status().WithContext(where);
      dict_tables.push_back(std::move(tables).value());
      dict_info.push_back({codec->kind(), e->offset(), e->size()});
      dict_checksum.push_back(d->checksum());
    }
  }

  // Tensors.
  const auto* ts = header->tensors();
  tensors.reserve(ts->size());
  std::vector<std::pair<Range, std::string>> streams, indices, params;
  for (size_t i = 0; i < ts->size(); ++i) {
    const fb::Tensor* ft = ts->Get(static_cast<flatbuffers::uoffset_t>(i));
    TensorInfo t;
    t.name = ft->name()->str();
    const std::string where = "tensor " + std::to_string(i) + " '" + t.name + "'";
    if (!by_name.emplace(t.name, i).second) return Status::Corruption(where + ": duplicate name");
    if (ft->shape()->size() == 0 || ft->shape()->size() > 8) {
      return Status::Corruption(where + ": " + std::to_string(ft->shape()->size()) +
                                " dimensions (1 to 8 allowed)");
    }
    uint64_t elements = 1;
    for (uint64_t d : *ft->shape()) {
      if (d != 0 && elements > UINT64_MAX / d)
        return Status::Corruption(where + ": shape overflows");
      elements *= d;
      t.shape.push_back(d);
    }
    auto dt = static_cast<uint8_t>(ft->dtype());
    if (dt > uint8_t(DType::kI8)) {
      return Status::NotSupported(where + ": stored dtype " + std::to_string(dt) +
                                  (dt == uint8_t(DType::kQ8_0) ? " (q8_0) is a source-only type"
                                                               : " unknown to this reader"));
    }
    t.dtype = static_cast<DType>(dt);
    auto sdt = static_cast<uint8_t>(ft->source_dtype());
    t.source_dtype = sdt <= uint8_t(DType::kQ8_0) ? static_cast<DType>(sdt) : DType::kF32;
    auto q = static_cast<uint8_t>(ft->quant());
    if (q > uint8_t(QuantKind::kBlock)) {
      return Status::NotSupported(where + ": quantizer " + std::to_string(q) + " unknown");
    }
    t.quant = static_cast<QuantKind>(q);
    t.quant_block = ft->quant_block();
    if ((t.dtype == DType::kI8) != (t.quant != QuantKind::kNone) ||
        (t.quant == QuantKind::kBlock && t.quant_block == 0)) {
      return Status::Corruption(where + ": dtype " + DTypeName(t.dtype) + " with quantizer " +
                                QuantKindName(t.quant) + " block " + std::to_string(t.quant_block));
    }
    const uint64_t esize = DTypeSize(t.dtype);
    if (elements > UINT64_MAX / esize || ft->raw_size() != elements * esize) {
      return Status::Corruption(where + ": raw_size " + std::to_string(ft->raw_size()) +
                                " != elements x " + std::to_string(esize));
    }
    t.raw_size = ft->raw_size();
    // Params.
    const fb::Extent* pe = ft->params();
    const uint64_t cols = t.cols(), rows = cols ? elements / cols : 0;
    const uint64_t nparams = NumQuantParams(t.quant, t.quant_block, rows, cols);
    if (pe == nullptr ? nparams != 0 : (pe->size() != nparams * 4)) {
      return Status::Corruption(where + ": params extent holds " +
                                std::to_string(pe ? pe->size() : 0) + " bytes, quantizer needs " +
                                std::to_string(nparams) + " floats");
    }
    if (pe != nullptr && pe->size() > 0) {
      if (!RangeWithin(pe->offset(), pe->size(), plain_sect.begin, plain_sect.end) ||
          pe->offset() % 4 != 0) {
        return Status::Corruption(where + ": params " + ExtentStr(pe->offset(), pe->size()) +
                                  " outside the plain section or misaligned");
      }
      params.push_back({{pe->offset(), pe->offset() + pe->size()}, where});
      t.params = reinterpret_cast<const float*>(data + pe->offset());
      if (options.verify_checksums) {
        uint64_t got = Checksum64(data + pe->offset(), pe->size());
        if (got != ft->params_checksum()) {
          return Status::ChecksumMismatch(where + ": params checksum " + Hex(got) + ", expected " +
                                          Hex(ft->params_checksum()));
        }
      }
    }
    t.num_params = nparams;
    params_offset.push_back(pe ? pe->offset() : 0);
    params_checksum.push_back(ft->params_checksum());
    // Codec and dictionary.
    const Codec* codec = FindCodec(static_cast<CodecKind>(ft->codec()));
    if (codec == nullptr) {
      return Status::NotSupported(where + ": codec " + std::to_string(int(ft->codec())) +
                                  " unknown to this reader");
    }
    t.codec = codec->kind();
    t.dictionary = ft->dictionary();
    if (codec->uses_dictionary()) {
      if (t.dictionary < 0 || size_t(t.dictionary) >= dict_tables.size() ||
          dict_info[t.dictionary].codec != t.codec) {
        return Status::Corruption(where + ": dictionary " + std::to_string(t.dictionary) +
                                  " missing or of another codec");
      }
    } else if (t.dictionary != -1) {
      return Status::Corruption(where + ": codec " + codec->name() + " takes no dictionary");
    }
    // Stream and seek index.
    const fb::Extent* de = ft->data();
    if (!RangeWithin(de->offset(), de->size(), stream_sect.begin, stream_sect.end)) {
      return Status::Corruption(where + ": stream " + ExtentStr(de->offset(), de->size()) +
                                " outside the streams section");
    }
    t.data_offset = de->offset();
    t.stored_size = de->size();
    t.block_size = ft->block_size();
    if (t.raw_size > 0 && t.block_size == 0) return Status::Corruption(where + ": block_size 0");
    const uint64_t nblocks = t.raw_size == 0 ? 0 : (t.raw_size + t.block_size - 1) / t.block_size;
    if (nblocks > UINT32_MAX) return Status::Corruption(where + ": too many blocks");
    t.block_count = static_cast<uint32_t>(nblocks);
    const fb::Extent* ie = ft->index();
    if (ie->size() != nblocks * kIndexEntrySize ||
        !RangeWithin(ie->offset(), ie->size(), index_sect.begin, index_sect.end) ||
        ie->offset() % 8 != 0) {
      return Status::Corruption(where + ": seek index " + ExtentStr(ie->offset(), ie->size()) +
                                " must hold " + std::to_string(nblocks) +
                                " entries of 32 bytes inside the seek_index section");
    }
    if (options.verify_checksums) {
      uint64_t got = Checksum64(data + ie->offset(), ie->size());
      if (got != ft->index_checksum()) {
        return Status::ChecksumMismatch(where + ": seek index checksum " + Hex(got) +
                                        ", expected " + Hex(ft->index_checksum()));
      }
    }
    uint64_t expect_off = 0;
    for (uint64_t b = 0; b < nblocks; ++b) {
      format::IndexEntry e = format::DecodeIndexEntry(data + ie->offset() + b * kIndexEntrySize);
      uint64_t want_raw = std::min<uint64_t>(t.block_size, t.raw_size - b * t.block_size);
      if (e.stored_offset != expect_off || e.raw_size != want_raw ||
          e.stored_size > t.stored_size - e.stored_offset) {
        return Status::Corruption(where + " seek index entry " + std::to_string(b) + ": stored " +
                                  ExtentStr(e.stored_offset, e.stored_size) + " raw size " +
                                  std::to_string(e.raw_size) + " (expected offset " +
                                  Hex(expect_off) + ", raw size " + std::to_string(want_raw) +
                                  ", stream size " + Hex(t.stored_size) + ")");
      }
      expect_off += e.stored_size;
    }
    if (expect_off != t.stored_size) {
      return Status::Corruption(where + ": seek index covers " + std::to_string(expect_off) +
                                " stored bytes, stream has " + std::to_string(t.stored_size));
    }
    streams.push_back({{de->offset(), de->offset() + de->size()}, where});
    indices.push_back({{ie->offset(), ie->offset() + ie->size()}, where});
    index_offset.push_back(ie->offset());
    index_checksum.push_back(ft->index_checksum());
    raw_checksum.push_back(ft->raw_checksum());
    codecs.push_back(codec);
    tensors.push_back(std::move(t));
  }
  TQF_RETURN_IF_ERROR(CheckDisjoint(std::move(streams), "streams"));
  TQF_RETURN_IF_ERROR(CheckDisjoint(std::move(indices), "seek indices"));
  TQF_RETURN_IF_ERROR(CheckDisjoint(std::move(params), "params"));
  return Status::OK();
}

}  // namespace tqf
