// Statistics for `dict4`: counts aligned 4-byte groups per tensor with
// chunked radix sorts, merges the counts across tensors, and picks the
// 65,535 most frequent groups (count descending, then group value
// ascending, so the choice is deterministic).
#include <algorithm>
#include <mutex>
#include <set>

#include "codec/codec_internal.h"
#include "codec/dict4.h"

namespace tqf::codec_internal {
namespace {

struct GroupCount {
  uint32_t group;
  uint32_t count;  // saturating
};

constexpr size_t kChunkGroups = size_t{1} << 22;    // 16 MiB of groups per sort
constexpr size_t kPerTensorKeep = size_t{1} << 18;  // distinct groups kept per tensor

uint32_t SatAdd(uint32_t a, uint32_t b) { return a > UINT32_MAX - b ? UINT32_MAX : a + b; }

// Sorts v ascending (LSD radix, digits of 11, 11 and 10 bits).
void RadixSort(std::vector<uint32_t>* v, std::vector<uint32_t>* tmp) {
  tmp->resize(v->size());
  const int kShifts[3] = {0, 11, 22};
  for (int shift : kShifts) {
    size_t hist[2048] = {0};
    for (uint32_t x : *v) ++hist[(x >> shift) & 2047];
    size_t sum = 0;
    for (size_t& h : hist) {
      size_t c = h;
      h = sum;
      sum += c;
    }
    for (uint32_t x : *v) (*tmp)[hist[(x >> shift) & 2047]++] = x;
    v->swap(*tmp);
  }
}

// Merges two lists sorted by group, adding counts.
std::vector<GroupCount> Merge(const std::vector<GroupCount>& a, const std::vector<GroupCount>& b) {
  std::vector<GroupCount> out;
  out.reserve(a.size() + b.size());
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].group < b[j].group) {
      out.push_back(a[i++]);
    } else if (b[j].group < a[i].group) {
      out.push_back(b[j++]);
    } else {
      out.push_back({a[i].group, SatAdd(a[i].count, b[j].count)});
      ++i, ++j;
    }
  }
  out.insert(out.end(), a.begin() + i, a.end());
  out.insert(out.end(), b.begin() + j, b.end());
  return out;
}

// Orders by count descending, then group ascending.
bool MoreFrequent(const GroupCount& a, const GroupCount& b) {
  return a.count != b.count ? a.count > b.count : a.group < b.group;
}

// Keeps the `keep` most frequent entries of a group-sorted list, re-sorted
// by group.
void KeepTop(std::vector<GroupCount>* v, size_t keep) {
  if (v->size() <= keep) return;
  std::nth_element(v->begin(), v->begin() + keep, v->end(), MoreFrequent);
  v->resize(keep);
  std::sort(v->begin(), v->end(),
            [](const GroupCount& a, const GroupCount& b) { return a.group < b.group; });
}

class Dict4Builder final : public DictionaryBuilder {
 public:
  void Add(size_t tensor_index, const uint8_t* data, size_t size) override {
    std::vector<GroupCount> counts = CountTensor(data, size);
    std::lock_guard<std::mutex> lock(mu_);
    seen_.insert(tensor_index);
    if (!counts.empty()) global_ = Merge(global_, counts);
  }

  Result<DictionaryPlan> Build() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<GroupCount> top = global_;
    size_t n = std::min<size_t>(top.size(), kDict4MaxEntries);
    std::partial_sort(top.begin(), top.begin() + n, top.end(), MoreFrequent);
    std::vector<uint32_t> entries(n);
    for (size_t i = 0; i < n; ++i) entries[i] = top[i].group;

    DictionaryPlan plan;
    plan.dictionaries.push_back(SerializeDict4(entries));
    size_t max_index = seen_.empty() ? 0 : *seen_.rbegin() + 1;
    plan.tensor_dictionary.assign(max_index, -1);
    for (size_t t : seen_) plan.tensor_dictionary[t] = 0;
    return plan;
  }

 private:
  static std::vector<GroupCount> CountTensor(const uint8_t* data, size_t size) {
    std::vector<GroupCount> counts;
    std::vector<uint32_t> buf, tmp;
    const size_t groups = size / 4;
    for (size_t start = 0; start < groups; start += kChunkGroups) {
      size_t n = std::min(kChunkGroups, groups - start);
      buf.resize(n);
      for (size_t i = 0; i < n; ++i) buf[i] = LoadLE32(data + 4 * (start + i));
      RadixSort(&buf, &tmp);
      std::vector<GroupCount> chunk;
      for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && buf[j] == buf[i]) ++j;
        chunk.push_back({buf[i], static_cast<uint32_t>(j - i)});
        i = j;
      }
      counts = counts.empty() ? std::move(chunk) : Merge(counts, chunk);
    }
    KeepTop(&counts, kPerTensorKeep);
    return counts;
  }

  std::mutex mu_;
  std::vector<GroupCount> global_;  // sorted by group
  std::set<size_t> seen_;
};

}  // namespace

std::unique_ptr<DictionaryBuilder> NewDict4Builder() { return std::make_unique<Dict4Builder>(); }

}  // namespace tqf::codec_internal
