// Tables for `rans`: one byte histogram per tensor, then a greedy choice,
// largest tensor first, between a tensor's own table (its coded size plus
// the table's stored size) and reusing a table already chosen (its coded
// size under that table). Big tensors get their own tables; small tensors
// with similar statistics share one. Deterministic whatever order or
// threads Add is called from.
#include <algorithm>
#include <map>
#include <mutex>

#include "codec/rans.h"

namespace tqf::codec_internal {
namespace {

struct Histogram {
  uint64_t count[256] = {0};
  uint64_t total = 0;
};

class RansBuilder final : public DictionaryBuilder {
 public:
  void Add(size_t tensor_index, const uint8_t* data, size_t size) override {
    Histogram h;
    // Four sub-histograms break the store-to-load dependency on runs.
    uint64_t c[4][256] = {{0}};
    size_t i = 0;
    for (; i + 4 <= size; i += 4) {
      ++c[0][data[i]], ++c[1][data[i + 1]], ++c[2][data[i + 2]], ++c[3][data[i + 3]];
    }
    for (; i < size; ++i) ++c[0][data[i]];
    for (int s = 0; s < 256; ++s) h.count[s] = c[0][s] + c[1][s] + c[2][s] + c[3][s];
    h.total = size;
    std::lock_guard<std::mutex> lock(mu_);
    Histogram& dst = hist_[tensor_index];  // a tensor added twice accumulates
    for (int s = 0; s < 256; ++s) dst.count[s] += h.count[s];
    dst.total += h.total;
  }

  Result<DictionaryPlan> Build() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<size_t> order;
    for (const auto& [index, h] : hist_) order.push_back(index);
    std::stable_sort(order.begin(), order.end(),
                     [this](size_t a, size_t b) { return hist_[a].total > hist_[b].total; });
    DictionaryPlan plan;
    std::vector<RansFreqs> tables;
    plan.tensor_dictionary.assign(hist_.empty() ? 0 : hist_.rbegin()->first + 1, -1);
    for (size_t index : order) {
      const Histogram& h = hist_[index];
      RansFreqs own = NormalizeFreqs(h.count, kRansDefaultPrecision);
      std::vector<uint8_t> own_bytes = SerializeRansFreqs(own);
      double best_bits = RansCostBits(h.count, own) + 8.0 * own_bytes.size();
      int best = -1;
      for (size_t k = 0; k < tables.size(); ++k) {
        double bits = RansCostBits(h.count, tables[k]);
        if (bits >= 0 && bits < best_bits) best_bits = bits, best = static_cast<int>(k);
      }
      if (best < 0) {
        best = static_cast<int>(tables.size());
        tables.push_back(own);
        plan.dictionaries.push_back(std::move(own_bytes));
      }
      plan.tensor_dictionary[index] = best;
    }
    return plan;
  }

 private:
  std::mutex mu_;
  std::map<size_t, Histogram> hist_;
};

}  // namespace

std::unique_ptr<DictionaryBuilder> NewRansBuilder() { return std::make_unique<RansBuilder>(); }

}  // namespace tqf::codec_internal
