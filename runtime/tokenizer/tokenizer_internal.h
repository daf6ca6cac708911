// Internals shared by the tokenizer implementations: their factories, the
// greedy pair-merging engine both BPE flavours use, and the byte-level
// pre-tokenizer. Not part of the runtime's interface.
#ifndef TQF_RUNTIME_TOKENIZER_INTERNAL_H_
#define TQF_RUNTIME_TOKENIZER_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <queue>
#include <string_view>
#include <vector>

#include "tqf/internal/pretokenizer.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::rt::tokenizer_internal {

Result<std::unique_ptr<Tokenizer>> CreateSentencePiece(const TokenizerData& data);
Result<std::unique_ptr<Tokenizer>> CreateByteLevel(const TokenizerData& data);

// Repeatedly replaces the adjacent pair of ids with the highest priority by
// its merged id, until no pair merges; among equal priorities the leftmost
// pair goes first. `pair_fn(left, right, &priority, &merged)` returns
// whether the pair merges. This is the naive "scan for the best pair, merge,
// repeat" loop of llama2.c and GPT-2 done with a priority queue over a
// linked list: O(n log n), same result.
template <typename PairFn>
void MergePairs(std::vector<int32_t>* ids, const PairFn& pair_fn) {
  const int n = static_cast<int>(ids->size());
  if (n < 2) return;
  struct Symbol {
    int32_t id;
    int prev, next;    // neighbours in the list, -1 at the ends
    uint32_t version;  // bumped whenever id changes or the symbol dies
  };
  struct Candidate {
    double priority;
    int left, right;
    uint32_t left_version, right_version;
    int32_t merged;
  };
  // Top of the queue: highest priority, then smallest left position (list
  // order equals position order, since a merge keeps the left symbol).
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  };
  std::vector<Symbol> sym(n);
  for (int i = 0; i < n; ++i) sym[i] = {(*ids)[i], i - 1, i + 1 < n ? i + 1 : -1, 0};
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  auto consider = [&](int left, int right) {
    double priority;
    int32_t merged;
    if (pair_fn(sym[left].id, sym[right].id, &priority, &merged)) {
      queue.push({priority, left, right, sym[left].version, sym[right].version, merged});
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    Symbol& r = sym[c.right];
    if (l.version != c.left_version || r.version != c.right_version || l.next != c.right) {
      continue;  // stale: one side changed since this pair was queued
    }
    l.id = c.merged;
    ++l.version;
    ++r.version;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    r.prev = r.next = -2;  // dead
    if (l.prev >= 0) consider(l.prev, c.left);
    if (l.next >= 0) consider(c.left, l.next);
  }
  ids->clear();
  for (int i = 0; i >= 0; i = sym[i].next) ids->push_back(sym[i].id);
}

// Splits `text` into consecutive non-empty pieces as the pre-tokenizer's
// regex find-all would (every byte lands in exactly one piece).
void PreSplit(std::string_view text, PreTokenizer pattern, std::vector<std::string_view>* pieces);

}  // namespace tqf::rt::tokenizer_internal

#endif  // TQF_RUNTIME_TOKENIZER_INTERNAL_H_
