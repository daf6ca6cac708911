// Quantizer names: QuantSpecName and ParseQuantSpec (see quantize.h).
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "tqf/quantize.h"

namespace tqf {
namespace {

// Reads an unsigned integer at the front of `s`, advancing it.
bool TakeUint(std::string_view* s, uint32_t* out) {
  const char* end = s->data() + s->size();
  auto r = std::from_chars(s->data(), end, *out);
  if (r.ec != std::errc() || r.ptr == s->data()) return false;
  s->remove_prefix(static_cast<size_t>(r.ptr - s->data()));
  return true;
}

// "-g<G>" (G in 16..256, a power of two) or "-row" (0), or nothing
// (`fallback`); false if anything else remains.
bool TakeGroup(std::string_view s, uint32_t fallback, uint32_t* group) {
  if (s.empty()) {
    *group = fallback;
    return true;
  }
  if (s == "-row") {
    *group = 0;
    return true;
  }
  if (s.substr(0, 2) != "-g") return false;
  s.remove_prefix(2);
  uint32_t g = 0;
  if (!TakeUint(&s, &g) || !s.empty() || g < 16 || g > 256 || (g & (g - 1)) != 0) return false;
  *group = g;
  return true;
}

std::string GroupSuffix(uint32_t group) {
  return group == 0 ? "-row" : "-g" + std::to_string(group);
}

}  // namespace

std::string QuantSpecName(const QuantSpec& spec) {
  switch (spec.scheme) {
    case QuantScheme::kScalar: {
      if (spec.grid == ScalarGrid::kNf4) return "nf4" + GroupSuffix(spec.group);
      return "q" + std::to_string(spec.bits) + (spec.grid == ScalarGrid::kAsymmetric ? "a" : "") +
             GroupSuffix(spec.group);
    }
    case QuantScheme::kEntropy: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "ec%g", spec.entropy_bits);
      return buf;
    }
    case QuantScheme::kVq:
      return "vq" + std::to_string(spec.vq_dim) + "x" + std::to_string(spec.vq_entries) +
             GroupSuffix(spec.group);
    default: return QuantSchemeName(spec.scheme);
  }
}

Result<QuantSpec> ParseQuantSpec(std::string_view name) {
  if (auto legacy = ParseQuantScheme(name); legacy.ok()) return QuantSpec(*legacy);
  const Status bad = Status::InvalidArgument(
      "unknown quantizer '" + std::string(name) +
      "' (expected raw, tensor-minmax, channel, block32, q<2..6>[a]-g<16..256>|-row, "
      "nf4-g<G>|-row, ec<bits>, vq<2|4|8>x<16..256>-g<G>|-row)");
  QuantSpec spec;
  std::string_view s = name;
  if (s.substr(0, 3) == "nf4") {
    spec.scheme = QuantScheme::kScalar;
    spec.bits = 4;
    spec.grid = ScalarGrid::kNf4;
    if (!TakeGroup(s.substr(3), 32, &spec.group)) return bad;
    return spec;
  }
  if (s.substr(0, 2) == "ec") {
    spec.scheme = QuantScheme::kEntropy;
    const std::string num(s.substr(2));
    char* end = nullptr;
    spec.entropy_bits = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size() || !(spec.entropy_bits >= 1.0) ||
        spec.entropy_bits > 7.5) {
      return bad;
    }
    return spec;
  }
  if (s.substr(0, 2) == "vq") {
    s.remove_prefix(2);
    spec.scheme = QuantScheme::kVq;
    if (!TakeUint(&s, &spec.vq_dim) || s.empty() || s[0] != 'x') return bad;
    s.remove_prefix(1);
    if (!TakeUint(&s, &spec.vq_entries)) return bad;
    if ((spec.vq_dim != 2 && spec.vq_dim != 4 && spec.vq_dim != 8) || spec.vq_entries < 16 ||
        spec.vq_entries > 256 || !TakeGroup(s, 0, &spec.group)) {
      return bad;
    }
    return spec;
  }
  if (s.substr(0, 1) == "q") {
    s.remove_prefix(1);
    uint32_t bits = 0;
    if (!TakeUint(&s, &bits) || bits < 2 || bits > 6) return bad;
    spec.scheme = QuantScheme::kScalar;
    spec.bits = static_cast<int>(bits);
    if (!s.empty() && s[0] == 'a') {
      spec.grid = ScalarGrid::kAsymmetric;
      s.remove_prefix(1);
    }
    if (!TakeGroup(s, 32, &spec.group)) return bad;
    return spec;
  }
  return bad;
}

}  // namespace tqf
