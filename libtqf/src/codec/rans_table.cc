// rANS frequency tables: normalisation of histograms, the stored form
// (precision byte, reserved byte, run-length coded varint frequencies) and
// the packed slot -> symbol decode table.
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

RansTables::RansTables(const RansFreqs& f)
    : precision_(f.precision), decode_(size_t{1} << f.precision), freq_(f.freq) {
  uint32_t cum = 0;
  for (int s = 0; s < 256; ++s) {
    cum_[s] = cum;
    for (uint32_t i = 0; i < freq_[s]; ++i) {
      decode_[cum + i] = static_cast<uint32_t>(s) | i << 8 | freq_[s] << 20;
    }
    cum += freq_[s];
  }
}

}  // namespace tqf::codec_internal
