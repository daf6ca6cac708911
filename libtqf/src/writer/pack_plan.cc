// PackModel's plan: which scheme and codec each tensor gets.
#include <algorithm>
#include <cmath>
#include <new>
#include <string>

#include "writer/pack_internal.h"

namespace tqf::pack_internal {

Role RoleOf(const std::string& name) {
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("token_embd") || name.rfind("output.", 0) == 0) return Role::kEmbedding;
  if (has("attn_")) return Role::kAttention;
  if (has("ffn_down")) return Role::kFeedForwardDown;
  if (has("ffn_")) return Role::kFeedForward;
  return Role::kOther;
}

namespace {

// `spec` for a row of `cols` elements (see PlanTensors).
QuantSpec FitSpecToShape(QuantSpec spec, size_t cols) {
  if (spec.scheme != QuantScheme::kVq || cols % spec.vq_dim == 0) return spec;
  const double index_bits = std::log2(static_cast<double>(spec.vq_entries)) / spec.vq_dim;
  for (uint32_t d = spec.vq_dim / 2; d >= 2; d /= 2) {
    if (cols % d != 0) continue;
    const double entries = std::exp2(index_bits * d);
    spec.vq_dim = d;
    spec.vq_entries = static_cast<uint32_t>(std::clamp(std::lround(entries), 16L, 256L));
    return spec;
  }
  QuantSpec ec(QuantScheme::kEntropy);
  ec.entropy_bits = std::max(1.0, index_bits);
  return ec;
}

}  // namespace

std::vector<Plan> PlanTensors(const SourceModel& model, const PackOptions& options,
                              const Codec* byte_codec) {
  std::vector<Plan> plans;
  plans.reserve(model.tensors.size());
  for (const SourceTensor& t : model.tensors) {
    // 1-D tensors (norms, biases) are small and precision-critical: kept f32
    // and stored plainly.
    if (t.shape.size() < 2) {
      plans.push_back({QuantScheme::kRaw, FindCodec(CodecKind::kRaw)});
      continue;
    }
    QuantSpec spec = options.tensor_quant ? options.tensor_quant(t) : options.quant;
    spec = FitSpecToShape(spec, t.cols());
    const Codec* codec =
        spec.scheme == QuantScheme::kVq ? FindCodec(CodecKind::kRansAliasVq) : byte_codec;
    plans.push_back({spec, codec});
  }
  return plans;
}

std::vector<size_t> FileOrder(const SourceModel& model) {
  std::vector<size_t> order(model.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  return order;
}

std::vector<size_t> ComputeOrder(const SourceModel& model) {
  // Rank: -1 before the blocks, N for blk.N, a large number for the head.
  auto rank = [](const std::string& name) -> long {
    if (name.rfind("output", 0) == 0) return 1L << 40;
    if (name.rfind("blk.", 0) != 0) return -1;
    const size_t dot = name.find('.', 4);
    const std::string num = name.substr(4, dot == std::string::npos ? 0 : dot - 4);
    if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos) {
      return -1;
    }
    return std::stol(num);
  };
  std::vector<size_t> order = FileOrder(model);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return rank(model.tensors[a].name) < rank(model.tensors[b].name);
  });
  return order;
}

Result<std::vector<float>> SourceValues(const SourceTensor& t, bool allow_nonfinite) {
  std::vector<float> values;
  try {
    values.resize(t.num_elements());
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate " +
                                     std::to_string(t.num_elements()) + " floats");
  }
  TQF_RETURN_IF_ERROR(t.ToF32(values.data()).WithContext("tensor '" + t.name + "'"));
  if (!allow_nonfinite) {
    Status finite = CheckFiniteValues(values.data(), t.rows(), t.cols());
    if (!finite.ok()) {
      return Status::InvalidArgument("tensor '" + t.name + "': " + finite.message() +
                                     " (--allow-nonfinite stores them, unquantized only)");
    }
  }
  return values;
}

}  // namespace tqf::pack_internal
