// RangeSet: which bytes of a remote file are present in memory, as a set of
// disjoint half-open ranges. Not thread-safe (HttpSource locks around it).
#ifndef TQF_IO_RANGE_SET_H_
#define TQF_IO_RANGE_SET_H_

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace tqf {

class RangeSet {
 public:
  // Adds [begin, end), merging with neighbours it touches.
  void Add(uint64_t begin, uint64_t end);
  // Removes [begin, end), splitting ranges it cuts.
  void Remove(uint64_t begin, uint64_t end);
  // Whether every byte of [begin, end) is present (an empty range is).
  bool Contains(uint64_t begin, uint64_t end) const;
  // The parts of [begin, end) not present, in order.
  std::vector<std::pair<uint64_t, uint64_t>> Missing(uint64_t begin, uint64_t end) const;
  uint64_t bytes() const { return bytes_; }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // begin -> end, disjoint, not touching
  uint64_t bytes_ = 0;
};

}  // namespace tqf

#endif  // TQF_IO_RANGE_SET_H_
