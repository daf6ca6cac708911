// RangeSet: an ordered map of disjoint ranges.
#include "io/range_set.h"

#include <algorithm>

namespace tqf {

void RangeSet::Add(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  // The first range that could touch [begin, end): the one before begin.
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin() && std::prev(it)->second >= begin) --it;
  while (it != ranges_.end() && it->first <= end) {
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    bytes_ -= it->second - it->first;
    it = ranges_.erase(it);
  }
  ranges_.emplace(begin, end);
  bytes_ += end - begin;
}

void RangeSet::Remove(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin() && std::prev(it)->second > begin) --it;
  while (it != ranges_.end() && it->first < end) {
    const uint64_t b = it->first, e = it->second;
    bytes_ -= e - b;
    it = ranges_.erase(it);
    if (b < begin) {
      ranges_.emplace(b, begin);
      bytes_ += begin - b;
    }
    if (e > end) {
      it = ranges_.emplace(end, e).first;
      bytes_ += e - end;
      break;
    }
  }
}

bool RangeSet::Contains(uint64_t begin, uint64_t end) const {
  if (begin >= end) return true;
  auto it = ranges_.upper_bound(begin);
  if (it == ranges_.begin()) return false;
  --it;
  return it->first <= begin && it->second >= end;
}

std::vector<std::pair<uint64_t, uint64_t>> RangeSet::Missing(uint64_t begin, uint64_t end) const {
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin() && std::prev(it)->second > begin) --it;
  uint64_t at = begin;
  for (; it != ranges_.end() && it->first < end && at < end; ++it) {
    if (it->first > at) gaps.emplace_back(at, it->first);
    at = std::max(at, it->second);
  }
  if (at < end) gaps.emplace_back(at, end);
  return gaps;
}

}  // namespace tqf
