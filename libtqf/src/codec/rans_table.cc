// rANS frequency tables: normalisation of histograms, the stored form
// (precision byte, reserved byte, run-length coded varint frequencies) and
// the packed slot -> symbol decode table in either slot layout.
#include <algorithm>
#include <cmath>
#include <string>

#include "codec/rans.h"

namespace tqf::codec_internal {

RansFreqs NormalizeFreqs(const uint64_t* counts, int precision) {
  RansFreqs out;
  out.precision = precision;
  const uint32_t m = 1u << precision;
  uint64_t total = 0;
  int present = 0;
  for (int s = 0; s < 256; ++s) {
    total += counts[s];
    if (counts[s]) ++present;
  }
  const uint32_t cap = std::min(kRansMaxFreq, m - 1);
  if (present == 0) {
    out.freq.fill(m / 256);
    return out;
  }
  // Symbols that must carry the slots the capped ones cannot: with few
  // distinct bytes, zero-count neighbours get frequencies too.
  uint64_t c[256];
  std::copy(counts, counts + 256, c);
  for (int s = 0, need = static_cast<int>((m + cap - 1) / cap) - present; need > 0; ++s) {
    if (c[s] == 0) c[s] = 1, --need, ++total;  // weight 1: near-zero share
  }
  int64_t sum = 0;
  for (int s = 0; s < 256; ++s) {
    if (!c[s]) continue;
    double scaled = static_cast<double>(c[s]) * m / static_cast<double>(total);
    out.freq[s] = std::min(cap, std::max<uint32_t>(1, static_cast<uint32_t>(scaled)));
    sum += out.freq[s];
  }
  // Move single slots to where they save the most / cost the least bits.
  while (sum != m) {
    int best = -1;
    double best_v = 0;
    for (int s = 0; s < 256; ++s) {
      if (!c[s]) continue;
      double f = out.freq[s], cs = static_cast<double>(c[s]);
      if (sum < m) {
        if (out.freq[s] >= cap) continue;
        double gain = cs * std::log2((f + 1) / f);
        if (best < 0 || gain > best_v) best = s, best_v = gain;
      } else if (f > 1) {
        double loss = cs * std::log2(f / (f - 1));
        if (best < 0 || loss < best_v) best = s, best_v = loss;
      }
    }
    if (sum < m) {
      ++out.freq[best], ++sum;
    } else {
      --out.freq[best], --sum;
    }
  }
  return out;
}

double RansCostBits(const uint64_t* counts, const RansFreqs& f) {
  double bits = 0, m = static_cast<double>(1u << f.precision);
  for (int s = 0; s < 256; ++s) {
    if (!counts[s]) continue;
    if (!f.freq[s]) return -1;
    bits += static_cast<double>(counts[s]) * std::log2(m / f.freq[s]);
  }
  return bits;
}

std::vector<uint8_t> SerializeRansFreqs(const RansFreqs& f) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(f.precision), 0};
  for (int s = 0; s < 256;) {
    uint32_t v = f.freq[s];
    if (v == 0) {
      int run = 1;
      while (s + run < 256 && f.freq[s + run] == 0) ++run;
      out.push_back(0);
      out.push_back(static_cast<uint8_t>(run - 1));
      s += run;
      continue;
    }
    if (v < 0x80) {
      out.push_back(static_cast<uint8_t>(v));
    } else {
      out.push_back(static_cast<uint8_t>(0x80 | (v & 0x7F)));
      out.push_back(static_cast<uint8_t>(v >> 7));
    }
    ++s;
  }
  return out;
}

Status ParseRansFreqs(const uint8_t* data, size_t size, RansFreqs* out) {
  auto bad = [](const std::string& what) { return Status::Corruption("rans table: " + what); };
  if (size < 2) return bad("shorter than its 2-byte header");
  int precision = data[0];
  if (precision < kRansMinPrecision || precision > kRansMaxPrecision) {
    return bad("precision " + std::to_string(precision) + " outside [8, 15]");
  }
  if (data[1] != 0) return bad("reserved byte is " + std::to_string(data[1]) + ", must be 0");
  const uint32_t m = 1u << precision;
  RansFreqs f;
  f.precision = precision;
  size_t pos = 2;
  uint64_t sum = 0;
  for (int s = 0; s < 256;) {
    if (pos >= size) return bad("ends at symbol " + std::to_string(s));
    uint32_t v = data[pos++];
    if (v & 0x80) {
      if (pos >= size) return bad("ends inside the varint of symbol " + std::to_string(s));
      uint8_t hi = data[pos++];
      if (hi == 0 || (hi & 0x80)) return bad("non-canonical varint at symbol " + std::to_string(s));
      v = (v & 0x7F) | uint32_t{hi} << 7;
    }
    if (v == 0) {
      if (pos >= size) return bad("ends inside the zero run at symbol " + std::to_string(s));
      int run = data[pos++] + 1;
      if (s + run > 256) return bad("zero run past symbol 255");
      s += run;
      continue;
    }
    if (v >= m || v > kRansMaxFreq) {
      return bad("frequency " + std::to_string(v) + " of symbol " + std::to_string(s) +
                 " exceeds min(4095, 2^" + std::to_string(precision) + " - 1)");
    }
    f.freq[s++] = v;
    sum += v;
  }
  if (pos != size) return bad(std::to_string(size - pos) + " bytes after the last symbol");
  if (sum != m) {
    return bad("frequencies sum to " + std::to_string(sum) + ", expected " + std::to_string(m));
  }
  *out = f;
  return Status::OK();
}

RansAlias BuildRansAlias(const RansFreqs& f) {
  // Walker's alias method with Vose's two queues, in ascending symbol order
  // (the order is part of the format: encoder and decoder must agree).
  const uint32_t bucket = 1u << (f.precision - 8);
  RansAlias a;
  std::array<uint32_t, 256> rem = f.freq;
  std::array<int, 256> small_q, large_q;
  int small_head = 0, small_tail = 0, large_head = 0, large_tail = 0;
  for (int s = 0; s < 256; ++s) {
    a.split[s] = static_cast<uint16_t>(bucket);  // full of itself unless set below
    a.alias[s] = static_cast<uint8_t>(s);
    if (rem[s] < bucket) small_q[small_tail++] = s;
    if (rem[s] > bucket) large_q[large_tail++] = s;
  }
  // Frequencies sum to 256 * bucket, so both queues run out together: the
  // buckets still queued always hold exactly bucket slots each on average.
  while (small_head < small_tail && large_head < large_tail) {
    const int s = small_q[small_head++];
    const int l = large_q[large_head];
    a.split[s] = static_cast<uint16_t>(rem[s]);
    a.alias[s] = static_cast<uint8_t>(l);
    rem[l] -= bucket - rem[s];
    if (rem[l] <= bucket) {
      ++large_head;
      if (rem[l] < bucket) small_q[small_tail++] = l;
    }
  }
  // Ranks: a symbol's slots in its own bucket first, then the buckets it
  // fills as an alias, in ascending bucket order.
  std::array<uint32_t, 256> next;
  for (int s = 0; s < 256; ++s) next[s] = a.split[s];
  for (int b = 0; b < 256; ++b) {
    if (a.split[b] >= bucket) continue;
    const int s = a.alias[b];
    a.adj[b] = static_cast<uint16_t>(next[s] - a.split[b]);
    next[s] += bucket - a.split[b];
  }
  return a;
}

RansTables::RansTables(const RansFreqs& f, RansLayout layout)
    : precision_(f.precision),
      layout_(layout),
      decode_(size_t{1} << f.precision),
      slots_(size_t{1} << f.precision),
      freq_(f.freq) {
  uint32_t cum = 0;
  for (int s = 0; s < 256; ++s) {
    cum_[s] = cum;
    cum += freq_[s];
  }
  const uint32_t m = 1u << precision_;
  if (layout == RansLayout::kContiguous) {
    for (int s = 0; s < 256; ++s) {
      for (uint32_t r = 0; r < freq_[s]; ++r) {
        decode_[cum_[s] + r] = static_cast<uint32_t>(s) | r << 8 | freq_[s] << 20;
        slots_[cum_[s] + r] = static_cast<uint16_t>(cum_[s] + r);
      }
    }
    return;
  }
  const RansAlias a = BuildRansAlias(f);
  const int shift = precision_ - 8;
  const uint32_t bucket_mask = (1u << shift) - 1;
  for (uint32_t t = 0; t < m; ++t) {
    const uint32_t b = t >> shift, o = t & bucket_mask;
    const uint32_t s = o < a.split[b] ? b : a.alias[b];
    const uint32_t r = o < a.split[b] ? o : (a.adj[b] + o) & 0xFFFF;
    decode_[t] = s | r << 8 | freq_[s] << 20;
    slots_[cum_[s] + r] = static_cast<uint16_t>(t);
  }
  if (precision_ == 12) {
    bytes_ = std::make_unique<RansByteTables>();
    for (int i = 0; i < 256; ++i) {
      bytes_->split[i] = static_cast<uint8_t>(a.split[i]);
      bytes_->alias[i] = a.alias[i];
      bytes_->adj_lo[i] = static_cast<uint8_t>(a.adj[i]);
      bytes_->adj_hi[i] = static_cast<uint8_t>(a.adj[i] >> 8);
      bytes_->freq_lo[i] = static_cast<uint8_t>(freq_[i]);
      bytes_->freq_hi[i] = static_cast<uint8_t>(freq_[i] >> 8);
      bytes_->alias_freq_lo[i] = static_cast<uint8_t>(freq_[a.alias[i]]);
      bytes_->alias_freq_hi[i] = static_cast<uint8_t>(freq_[a.alias[i]] >> 8);
    }
  }
}

}  // namespace tqf::codec_internal
