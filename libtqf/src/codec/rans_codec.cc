// The `rans` codec (format-spec/codec-rans.md): a block of N bytes is coded
// by 64 interleaved rANS states, byte i by state i % 64. The stored block is
// the min(N, 64) final encoder states (u32 each), then the 16-bit
// renormalisation words in the order the decoder reads them. Each lane's
// last two bytes are carried raw in its initial state. Decoding must consume
// the stream exactly and end every state at a valid initial state
// (2^16 + raw bytes), which detects truncated or altered streams.
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

// One symbol of lane `x`: returns the byte, updates x (no renormalisation).
inline uint8_t DecodeOne(const uint32_t* table, int precision, uint32_t* x) {
  uint32_t e = table[*x & ((1u << precision) - 1)];
  *x = (e >> 20) * (*x >> precision) + ((e >> 8) & 0xFFF);
  return static_cast<uint8_t>(e);
}

class RansCodecImpl final : public Codec {
 public:
  CodecKind kind() const override { return CodecKind::kRans; }
  const char* name() const override { return "rans"; }
  bool uses_dictionary() const override { return true; }

  std::unique_ptr<DictionaryBuilder> NewDictionaryBuilder() const override {
    return NewRansBuilder();
  }

  Result<std::shared_ptr<const CodecTables>> LoadDictionary(const uint8_t* data,
                                                            size_t size) const override {
    RansFreqs f;
    TQF_RETURN_IF_ERROR(ParseRansFreqs(data, size, &f));
    return std::shared_ptr<const CodecTables>(std::make_shared<RansTables>(f));
  }

  Status Encode(const CodecTables* tables, const uint8_t* in, size_t size,
                std::vector<uint8_t>* out) const override {
    const auto* t = dynamic_cast<const RansTables*>(tables);
    if (t == nullptr) return Status::InvalidArgument("rans: Encode needs rans tables");
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
        return Status::InvalidArgument("rans: byte " + std::to_string(s) + " at offset " +
                                       std::to_string(i) + " has no frequency in the table");
      }
      uint32_t& xs = x[j];
      if (xs >= f << (32 - prec)) {
        words[--nw] = static_cast<uint16_t>(xs);
        xs >>= 16;
      }
      xs = ((xs / f) << prec) + (xs % f) + t->cum(s);
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
    const auto* t = dynamic_cast<const RansTables*>(tables);
    if (t == nullptr) return Status::InvalidArgument("rans: Decode needs rans tables");
    if (out_size == 0) {
      if (in_size != 0) return Corrupt(std::to_string(in_size) + " bytes for an empty block");
      return Status::OK();
    }
    const BlockShape shape(out_size);
    if (in_size < 4 * shape.lanes) {
      return Corrupt(std::to_string(in_size) + " bytes, shorter than its " +
                     std::to_string(shape.lanes) + " states");
    }
    alignas(64) uint32_t x[kRansLanes];
    for (size_t j = 0; j < shape.lanes; ++j) {
      x[j] = LoadLE32(in + 4 * j);
      if (x[j] < kRansLow) return Corrupt("state " + std::to_string(j) + " below 2^16");
    }
    const uint8_t* p = in + 4 * shape.lanes;
    const uint8_t* const end = in + in_size;
    const uint32_t* table = t->decode_table();
    const int prec = t->precision();
    // Full steps in which every lane decodes a coded byte go to the kernel,
    // which stops early when fewer than 2 * kRansLanes stream bytes remain.
    const size_t full = out_size / kRansLanes;
    size_t done = 0;
    if (full > kRawPerLane) done = Kernel()(table, prec, x, &p, end, out, full - kRawPerLane);
    // Checked path: the rest, raw bytes taken from the final states.
    for (size_t i = done * kRansLanes; i < out_size; ++i) {
      const size_t j = i % kRansLanes, k = i / kRansLanes;
      uint32_t& xs = x[j];
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
      if (x[j] >= limit) {
        return Corrupt("state " + std::to_string(j) + " ends at " + std::to_string(x[j]) +
                       ", not an initial state");
      }
    }
    return Status::OK();
  }

 private:
  static RansStepsFn Kernel() {
    switch (ActiveRansKernel()) {
      case RansKernel::kAvx512:
        return RansStepsAvx512;
      case RansKernel::kAvx2:
        return RansStepsAvx2;
      case RansKernel::kScalar:
        break;
    }
    return RansStepsScalar;
  }
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
  static const RansCodecImpl kCodec;
  return &kCodec;
}

}  // namespace tqf::codec_internal
