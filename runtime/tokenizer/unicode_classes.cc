// Unicode class lookups (see unicode_classes.h).
#include "unicode_classes.h"

namespace tqf::rt {
namespace {

using unicode_internal::CodepointRange;

bool InRanges(const CodepointRange* ranges, size_t n, uint32_t cp) {
  size_t lo = 0, hi = n;  // binary search for the range holding cp
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < ranges[mid].first) {
      hi = mid;
    } else if (cp > ranges[mid].last) {
      lo = mid + 1;
    } else {
      return true;
    }
  }
  return false;
}

}  // namespace

bool IsLetter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return InRanges(unicode_internal::kLetterRanges, unicode_internal::kLetterRangesSize, cp);
}

bool IsNumber(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return InRanges(unicode_internal::kNumberRanges, unicode_internal::kNumberRangesSize, cp);
}

bool IsWhiteSpace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return InRanges(unicode_internal::kWhiteSpaceRanges, unicode_internal::kWhiteSpaceRangesSize, cp);
}

}  // namespace tqf::rt
