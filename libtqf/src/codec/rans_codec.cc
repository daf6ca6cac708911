// The `rans` and `rans-alias` codecs (format-spec/codec-rans.md): a block of
// N bytes is coded by 64 interleaved rANS states, byte i by state i % 64.
// The two differ only in how a table's slots are laid out (RansLayout).
// The stored block is the min(N, 64) final encoder states (u32 each), then the 16-bit
// renormalisation words in the order the decoder reads them. Each lane's
// last two bytes are carried raw in its initial state. Decoding must consume
// the stream exactly and end every state at a valid initial state
// (2^16 + raw bytes), which detects truncated or altered streams.
#include <algorithm>
#include <cstring>
#include <string>

#include "codec/codec_internal.h"
#include "codec/rans.h"

namespace tqf::codec_internal {
namespace {

Status Corrupt(const std::string& what) { return Status::Corruption("rans block: " + what); }

// The last kRawPerLane bytes of each lane (fewer if the lane is shorter) are
// stored raw in the low bits of its initial state 2^16 + raw, instead of
// spending the 16 bits of L on nothing.
constexpr size_t kRawPerLane = 2;

// How a block of n bytes falls into lanes.
struct BlockShape {
  explicit BlockShape(size_t n) : n(n), lanes(n < kRansLanes ? n : kRansLanes) {}
  size_t Count(size_t j) const { return (n - j + kRansLanes - 1) / kRansLanes; }  // j < lanes
  size_t Raw(size_t j) const { return Count(j) < kRawPerLane ? Count(j) : kRawPerLane; }
  size_t Coded(size_t j) const { return Count(j) - Raw(j); }
  size_t n, lanes;
};

// A block being decoded: its lanes' states and stream position.
struct BlockDecode {
  explicit BlockDecode(size_t n) : shape(n) {}
  BlockShape shape;
  alignas(64) uint32_t x[kRansLanes];
  const uint8_t* p = nullptr;
  const uint8_t* end = nullptr;
  size_t done = 0;    // full steps decoded by kernels
  size_t budget = 0;  // full steps the kernels may take (the checked path does the rest)
};

// One symbol of lane `x`: returns the byte, updates x (no renormalisation).
inline uint8_t DecodeOne(const uint32_t* table, int precision, uint32_t* x) {
  uint32_t e = table[*x & ((1u << precision) - 1)];
  *x = (e >> 20) * (*x >> precision) + ((e >> 8) & 0xFFF);
  return static_cast<uint8_t>(e);
}

class RansCodecImpl final : public Codec {
 public:
  RansCodecImpl(CodecKind kind, const char* name, RansLayout layout)
      : kind_(kind), name_(name), layout_(layout) {}
  CodecKind kind() const override { return kind_; }
  const char* name() const override { return name_; }
  bool uses_dictionary() const override { return true; }

  std::unique_ptr<DictionaryBuilder> NewDictionaryBuilder() const override {
    return NewRansBuilder();
  }

  Result<std::shared_ptr<const CodecTables>> LoadDictionary(const uint8_t* data,
                                                            size_t size) const override {
    RansFreqs f;
    TQF_RETURN_IF_ERROR(ParseRansFreqs(data, size, &f));
    return std::shared_ptr<const CodecTables>(std::make_shared<RansTables>(f, layout_));
  }

  Status Encode(const CodecTables* tables, const uint8_t* in, size_t size,
                std::vector<uint8_t>* out) const override {
    const RansTables* t = Cast(tables);
    if (t == nullptr)
      return Status::InvalidArgument(std::string(name_) + ": Encode needs its tables");
    if (size == 0) return Status::OK();
    const int prec = t->precision();
    const BlockShape shape(size);
    uint32_t x[kRansLanes];
    size_t coded_end[kRansLanes];  // first raw byte of each lane
    for (size_t j = 0; j < shape.lanes; ++j) {
      // The lane's last raw_j bytes ride in its initial state.
      coded_end[j] = j + shape.Coded(j) * kRansLanes;
      x[j] = kRansLow;
      for (size_t r = 0; r < shape.Raw(j); ++r) {
        x[j] |= uint32_t{in[coded_end[j] + r * kRansLanes]} << (8 * r);
      }
    }
    // Words are produced last-first; at most one per byte.
    std::vector<uint16_t> words(size);
    size_t nw = size;
    for (size_t i = size; i-- > 0;) {
      const size_t j = i % kRansLanes;
      if (i >= coded_end[j]) continue;  // raw
      const uint8_t s = in[i];
      const uint32_t f = t->freq(s);
      if (f == 0) {
        return Status::InvalidArgument(std::string(name_) + ": byte " + std::to_string(s) +
                                       " at offset " + std::to_string(i) +
                                       " has no frequency in the table");
      }
      uint32_t& xs = x[j];
      if (xs >= f << (32 - prec)) {
        words[--nw] = static_cast<uint16_t>(xs);
        xs >>= 16;
      }
      xs = ((xs / f) << prec) + t->slot(s, xs % f);
    }
    size_t pos = out->size();
    out->resize(pos + 4 * shape.lanes + 2 * (size - nw));
    uint8_t* o = out->data() + pos;
    for (size_t j = 0; j < shape.lanes; ++j) StoreLE32(o + 4 * j, x[j]);
    std::memcpy(o + 4 * shape.lanes, words.data() + nw, 2 * (size - nw));
    return Status::OK();
  }

  Status Decode(const CodecTables* tables, const uint8_t* in, size_t in_size, uint8_t* out,
                size_t out_size) const override {
    const RansTables* t = Cast(tables);
    if (t == nullptr)
      return Status::InvalidArgument(std::string(name_) + ": Decode needs its tables");
    if (out_size == 0) return DecodeEmpty(in_size);
    BlockDecode d(out_size);
    TQF_RETURN_IF_ERROR(Begin(in, in_size, &d));
    RunSingle(t, &d, out);
    return Finish(t, &d, out, out_size);
  }

  void DecodeMany(DecodeJob* jobs, size_t n) const override {
    const bool vbmi = ActiveRansKernel() == RansKernel::kAvx512Vbmi;
    for (size_t i = 0; i < n;) {
      const RansTables* ta = Cast(jobs[i].tables);
      const RansTables* tb = i + 1 < n ? Cast(jobs[i + 1].tables) : nullptr;
      if (vbmi && ta != nullptr && tb != nullptr && ta->byte_tables() != nullptr &&
          tb->byte_tables() != nullptr) {
        DecodePair(ta, &jobs[i], tb, &jobs[i + 1]);
        i += 2;
        continue;
      }
      DecodeJob& j = jobs[i++];
      j.status = Decode(j.tables, j.in, j.in_size, j.out, j.out_size);
    }
  }

 private:
  const RansTables* Cast(const CodecTables* tables) const {
    const auto* t = dynamic_cast<const RansTables*>(tables);
    return t != nullptr && t->layout() == layout_ ? t : nullptr;
  }

  static Status DecodeEmpty(size_t in_size) {
    if (in_size != 0) return Corrupt(std::to_string(in_size) + " bytes for an empty block");
    return Status::OK();
  }

  // Reads the states; sets the kernels' step budget.
  static Status Begin(const uint8_t* in, size_t in_size, BlockDecode* d) {
    const BlockShape& shape = d->shape;
    if (in_size < 4 * shape.lanes) {
      return Corrupt(std::to_string(in_size) + " bytes, shorter than its " +
                     std::to_string(shape.lanes) + " states");
    }
    for (size_t j = 0; j < shape.lanes; ++j) {
      d->x[j] = LoadLE32(in + 4 * j);
      if (d->x[j] < kRansLow) return Corrupt("state " + std::to_string(j) + " below 2^16");
    }
    d->p = in + 4 * shape.lanes;
    d->end = in + in_size;
    // Full steps in which every lane decodes a coded byte go to the kernels,
    // which stop early when fewer than 2 * kRansLanes stream bytes remain.
    const size_t full = shape.n / kRansLanes;
    d->budget = full > kRawPerLane ? full - kRawPerLane : 0;
    return Status::OK();
  }

  // Kernel steps on one block, up to its budget.
  static void RunSingle(const RansTables* t, BlockDecode* d, uint8_t* out) {
    if (d->done >= d->budget) return;
    uint8_t* o = out + d->done * kRansLanes;
    const size_t want = d->budget - d->done;
    const RansKernel k = ActiveRansKernel();
    if (k == RansKernel::kAvx512Vbmi && t->byte_tables() != nullptr) {
      d->done += RansStepsAliasVbmi({t->byte_tables(), d->x, &d->p, d->end, o}, want);
      RunTail(t, d, out);
      return;
    }
    RansStepsFn fn = RansStepsScalar;
    if (k == RansKernel::kAvx512 || k == RansKernel::kAvx512Vbmi) fn = RansStepsAvx512;
    if (k == RansKernel::kAvx2) fn = RansStepsAvx2;
    d->done += fn(t->decode_table(), t->precision(), d->x, &d->p, d->end, o, want);
  }

  // The kernels stop with 2 * kRansLanes stream bytes left, a few steps
  // short of the budget; the byte-table kernel finishes them on a copy of
  // the rest padded with zeros (scalar decoding of those steps cost ~3%).
  // A stream that runs into the padding is corrupt: the steps are undone
  // and left to the checked path, which reports exactly where.
  static void RunTail(const RansTables* t, BlockDecode* d, uint8_t* out) {
    const size_t left = static_cast<size_t>(d->end - d->p);
    if (d->done >= d->budget || left >= 2 * kRansLanes) return;
    alignas(64) uint8_t pad[4 * kRansLanes] = {};
    std::memcpy(pad, d->p, left);
    alignas(64) uint32_t saved[kRansLanes];
    std::memcpy(saved, d->x, sizeof(saved));
    const uint8_t* q = pad;
    const size_t k = RansStepsAliasVbmi(
        {t->byte_tables(), d->x, &q, pad + left + 2 * kRansLanes, out + d->done * kRansLanes},
        d->budget - d->done);
    if (static_cast<size_t>(q - pad) > left) {
      std::memcpy(d->x, saved, sizeof(saved));
      return;
    }
    d->done += k;
    d->p += q - pad;
  }

  // Two blocks (byte tables, possibly different) through the pair kernel,
  // then each finishes alone.
  void DecodePair(const RansTables* ta, DecodeJob* a, const RansTables* tb, DecodeJob* b) const {
    if (a->out_size == 0 || b->out_size == 0) {
      a->status = Decode(ta, a->in, a->in_size, a->out, a->out_size);
      b->status = Decode(tb, b->in, b->in_size, b->out, b->out_size);
      return;
    }
    BlockDecode da(a->out_size), db(b->out_size);
    a->status = Begin(a->in, a->in_size, &da);
    b->status = Begin(b->in, b->in_size, &db);
    if (a->status.ok() && b->status.ok()) {
      const size_t both = std::min(da.budget, db.budget);
      const size_t k =
          RansStepsAliasVbmiPair({ta->byte_tables(), da.x, &da.p, da.end, a->out},
                                 {tb->byte_tables(), db.x, &db.p, db.end, b->out}, both);
      da.done = db.done = k;
    }
    if (a->status.ok()) {
      RunSingle(ta, &da, a->out);
      a->status = Finish(ta, &da, a->out, a->out_size);
    }
    if (b->status.ok()) {
      RunSingle(tb, &db, b->out);
      b->status = Finish(tb, &db, b->out, b->out_size);
    }
  }

  // The checked path: the bytes the kernels left, raw bytes taken from the
  // final states, then the end-of-block checks.
  static Status Finish(const RansTables* t, BlockDecode* d, uint8_t* out, size_t out_size) {
    const BlockShape& shape = d->shape;
    const uint32_t* table = t->decode_table();
    const int prec = t->precision();
    const uint8_t* p = d->p;
    const uint8_t* const end = d->end;
    for (size_t i = d->done * kRansLanes; i < out_size; ++i) {
      const size_t j = i % kRansLanes, k = i / kRansLanes;
      uint32_t& xs = d->x[j];
      if (k >= shape.Coded(j)) {
        out[i] = static_cast<uint8_t>(xs >> (8 * (k - shape.Coded(j))));
        continue;
      }
      out[i] = DecodeOne(table, prec, &xs);
      if (xs < kRansLow) {
        if (end - p < 2) return Corrupt("stream ends at byte " + std::to_string(i));
        xs = xs << 16 | LoadLE16(p);
        p += 2;
      }
    }
    if (p != end) return Corrupt(std::to_string(end - p) + " bytes left after the last symbol");
    for (size_t j = 0; j < shape.lanes; ++j) {
      // What remains must be the encoder's initial state: 2^16 + raw bytes.
      const uint32_t limit = kRansLow + (1u << (8 * shape.Raw(j)));
      if (d->x[j] >= limit) {
        return Corrupt("state " + std::to_string(j) + " ends at " + std::to_string(d->x[j]) +
                       ", not an initial state");
      }
    }
    return Status::OK();
  }

  CodecKind kind_;
  const char* name_;
  RansLayout layout_;
};

}  // namespace

size_t RansStepsScalar(const uint32_t* table, int precision, uint32_t* states, const uint8_t** pp,
                       const uint8_t* end, uint8_t* out, size_t steps) {
  const uint8_t* p = *pp;
  uint32_t x[kRansLanes];
  std::memcpy(x, states, sizeof(x));
  size_t k = 0;
  for (; k < steps && end - p >= 2 * kRansLanes; ++k) {
    __builtin_prefetch(p + 512);  // never faults, even past the end
    uint8_t* o = out + k * kRansLanes;
    for (int j = 0; j < kRansLanes; ++j) {
      o[j] = DecodeOne(table, precision, &x[j]);
      // Branchless renormalisation (a branch here mispredicts ~40% of the
      // time): shift in a word when the state fell below L.
      const uint32_t need = x[j] < kRansLow;
      x[j] = x[j] << (need << 4) | (LoadLE16(p) & (0u - need));
      p += 2 * need;
    }
  }
  std::memcpy(states, x, sizeof(x));
  *pp = p;
  return k;
}

const Codec* RansCodec() {
  static const RansCodecImpl kCodec(CodecKind::kRans, "rans", RansLayout::kContiguous);
  return &kCodec;
}

const Codec* RansAliasCodec() {
  static const RansCodecImpl kCodec(CodecKind::kRansAlias, "rans-alias", RansLayout::kAlias);
  return &kCodec;
}

}  // namespace tqf::codec_internal
