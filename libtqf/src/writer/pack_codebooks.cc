// PackModel's vector-quantization codebooks: which tensors share one, and
// training each on a sample of its tensors' (importance-weighted) vectors.
#include <algorithm>
#include <map>
#include <tuple>

#include "writer/pack_internal.h"

namespace tqf::pack_internal {
namespace {

// Tensors that share one codebook, and the spec they share it under.
struct BookGroup {
  uint32_t dim = 0, entries = 0;
  std::vector<size_t> tensors;
  uint64_t vectors = 0;  // in all its tensors
};

// Groups the VQ plans by (role, dim, entries); then, if any role's weights
// are too few to carry a codebook of its own at under 1/32 bit per weight,
// merges the roles of each (dim, entries).
std::vector<BookGroup> GroupTensors(const SourceModel& model, const std::vector<Plan>& plans) {
  std::map<std::tuple<int, uint32_t, uint32_t>, BookGroup> by_role;
  for (size_t i = 0; i < plans.size(); ++i) {
    const QuantSpec& s = plans[i].spec;
    if (s.scheme != QuantScheme::kVq) continue;
    const auto key =
        std::make_tuple(static_cast<int>(RoleOf(model.tensors[i].name)), s.vq_dim, s.vq_entries);
    BookGroup& g = by_role[key];
    g.dim = s.vq_dim;
    g.entries = s.vq_entries;
    g.tensors.push_back(i);
    g.vectors += model.tensors[i].num_elements() / s.vq_dim;
  }
  bool share = false;
  for (const auto& [key, g] : by_role) {
    const uint64_t book_bits = uint64_t{8} * g.dim * g.entries;
    if (g.vectors * g.dim < 32 * book_bits) share = true;
  }
  std::map<std::tuple<int, uint32_t, uint32_t>, BookGroup> merged;
  for (auto& [key, g] : by_role) {
    const auto k = share ? std::make_tuple(0, g.dim, g.entries) : key;
    BookGroup& m = merged[k];
    m.dim = g.dim;
    m.entries = g.entries;
    m.tensors.insert(m.tensors.end(), g.tensors.begin(), g.tensors.end());
    m.vectors += g.vectors;
  }
  std::vector<BookGroup> out;
  for (auto& [key, g] : merged) {
    std::sort(g.tensors.begin(), g.tensors.end());
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

Result<std::vector<VqCodebook>> TrainCodebooks(const SourceModel& model, const PackOptions& options,
                                               std::vector<Plan>* plans) {
  const std::vector<BookGroup> groups = GroupTensors(model, *plans);
  size_t total = 0, done = 0;
  for (const BookGroup& g : groups) total += g.tensors.size();
  std::vector<VqCodebook> books;
  for (const BookGroup& g : groups) {
    const size_t stride = std::max<size_t>(
        1, static_cast<size_t>(g.vectors / std::max<size_t>(1, options.vq_samples)));
    std::vector<float> x, w;
    for (size_t i : g.tensors) {
      if (options.cancel != nullptr && options.cancel->load()) {
        return Status::Cancelled("pack cancelled");
      }
      const SourceTensor& t = model.tensors[i];
      TQF_ASSIGN_OR_RETURN(std::vector<float> values, SourceValues(t, options.allow_nonfinite));
      std::vector<float> importance;
      if (options.statistics != nullptr) {
        TQF_ASSIGN_OR_RETURN(importance, options.statistics->Diagonal(t.name, t.cols()));
      }
      VqTrainingVectors((*plans)[i].spec, values.data(), t.rows(), t.cols(),
                        importance.empty() ? nullptr : importance.data(), stride, &x, &w);
      (*plans)[i].codebook = static_cast<int>(books.size());
      if (options.progress) options.progress("codebooks", ++done, total);
    }
    books.push_back(TrainVqCodebook(x.data(), w.data(), w.size(), g.dim, g.entries,
                                    options.vq_iterations, options.seed + books.size()));
  }
  return books;
}

}  // namespace tqf::pack_internal
