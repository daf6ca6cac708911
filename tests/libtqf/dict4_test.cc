// dict4-specific tests: the stored-size formula (2 bytes per hit, 6 per
// miss, plus the raw tail), deterministic dictionary selection, dictionary
// validation and codeword range checks.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "tqf/codec.h"

namespace tqf {
namespace {

const Codec* Dict4() { return FindCodecByName("dict4"); }

std::vector<uint8_t> Dict(const std::vector<uint32_t>& entries) {
  std::vector<uint8_t> d(4 + 4 * entries.size());
  uint32_t n = static_cast<uint32_t>(entries.size());
  std::memcpy(d.data(), &n, 4);
  if (n) std::memcpy(d.data() + 4, entries.data(), 4 * entries.size());
  return d;
}

std::vector<uint32_t> Entries(const std::vector<uint8_t>& dict) {
  std::vector<uint32_t> e((dict.size() - 4) / 4);
  if (!e.empty()) std::memcpy(e.data(), dict.data() + 4, 4 * e.size());
  return e;
}

TEST(Dict4, SizeIsTwoPerHitSixPerMissPlusTail) {
  std::mt19937 rng(1);
  std::vector<uint8_t> train(40000), test(40003);
  for (auto& b : train) b = static_cast<uint8_t>(rng() % 5);
  for (auto& b : test) b = static_cast<uint8_t>(rng() % 6);
  auto builder = Dict4()->NewDictionaryBuilder();
  builder->Add(0, train.data(), train.size());
  auto plan = builder->Build();
  ASSERT_TRUE(plan.ok());
  auto entries = Entries(plan->dictionaries[0]);
  std::map<uint32_t, int> in_dict;
  for (uint32_t e : entries) in_dict[e] = 1;
  size_t hits = 0, misses = 0;
  for (size_t g = 0; g + 4 <= test.size(); g += 4) {
    uint32_t v;
    std::memcpy(&v, &test[g], 4);
    (in_dict.count(v) ? hits : misses)++;
  }
  ASSERT_GT(hits, 0u);
  ASSERT_GT(misses, 0u);
  auto tables = Dict4()->LoadDictionary(plan->dictionaries[0].data(), plan->dictionaries[0].size());
  ASSERT_TRUE(tables.ok());
  std::vector<uint8_t> out;
  ASSERT_TRUE(Dict4()->Encode(tables->get(), test.data(), test.size(), &out).ok());
  EXPECT_EQ(out.size(), 2 * hits + 6 * misses + 3);
}

TEST(Dict4, SelectionIsCountDescThenValueAscAndOrderIndependent) {
  // 70000 distinct groups: group k occurs (k % 3) + 1 times, so the cut at
  // 65535 falls among equal counts and must be broken by value.
  std::vector<uint8_t> a, b;
  for (uint32_t k = 0; k < 70000; ++k) {
    uint32_t g = k * 2654435761u;
    for (uint32_t r = 0; r <= k % 3; ++r) {
      auto& dst = (k & 1) ? a : b;
      dst.insert(dst.end(), reinterpret_cast<uint8_t*>(&g), reinterpret_cast<uint8_t*>(&g) + 4);
    }
  }
  auto build = [&](bool swap) {
    auto builder = Dict4()->NewDictionaryBuilder();
    builder->Add(swap ? 5 : 2, swap ? b.data() : a.data(), swap ? b.size() : a.size());
    builder->Add(swap ? 2 : 5, swap ? a.data() : b.data(), swap ? a.size() : b.size());
    auto plan = builder->Build();
    EXPECT_TRUE(plan.ok());
    return *plan;
  };
  DictionaryPlan p1 = build(false), p2 = build(true);
  ASSERT_EQ(p1.dictionaries.size(), 1u);
  EXPECT_EQ(p1.tensor_dictionary, (std::vector<int>{-1, -1, 0, -1, -1, 0}));
  auto e = Entries(p1.dictionaries[0]);
  ASSERT_EQ(e.size(), 65535u);
  EXPECT_EQ(e, Entries(p2.dictionaries[0]));  // same groups, different counts across tensors
  auto count = [](uint32_t g) {
    for (uint32_t k = 0;; ++k) {
      if (k * 2654435761u == g) return k % 3 + 1;
    }
  };
  for (size_t i = 1; i < 2000; ++i) {
    uint32_t c0 = count(e[i - 1]), c1 = count(e[i]);
    EXPECT_TRUE(c0 > c1 || (c0 == c1 && e[i - 1] < e[i])) << i;
  }
}

TEST(Dict4, LoadDictionaryValidates) {
  auto load = [](const std::vector<uint8_t>& d) {
    return Dict4()->LoadDictionary(d.data(), d.size()).status().code();
  };
  EXPECT_EQ(load({}), StatusCode::kCorruption);
  EXPECT_EQ(load({0, 0, 0}), StatusCode::kCorruption);
  EXPECT_EQ(load(Dict({})), StatusCode::kOk);
  EXPECT_EQ(load(Dict({1, 2, 3})), StatusCode::kOk);
  auto d = Dict({1, 2, 3});
  d.push_back(0);
  EXPECT_EQ(load(d), StatusCode::kCorruption);  // one byte too many
  d.resize(d.size() - 2);
  EXPECT_EQ(load(d), StatusCode::kCorruption);                // one byte short
  EXPECT_EQ(load(Dict({7, 8, 7})), StatusCode::kCorruption);  // duplicate
  std::vector<uint32_t> big(65536);
  for (uint32_t i = 0; i < big.size(); ++i) big[i] = i;
  EXPECT_EQ(load(Dict(big)), StatusCode::kCorruption);  // 65536 > 65535
  big.pop_back();
  EXPECT_EQ(load(Dict(big)), StatusCode::kOk);
}

TEST(Dict4, RejectsCodewordOutsideDictionaryAndDecodesEscapes) {
  auto d = Dict({0x04030201, 0x08070605});
  auto tables = Dict4()->LoadDictionary(d.data(), d.size());
  ASSERT_TRUE(tables.ok());
  uint8_t out[10];
  // cw 1, escape + 4 bytes, tail 2 bytes
  const uint8_t good[] = {1, 0, 0xFF, 0xFF, 9, 9, 9, 9, 0xAA, 0xBB};
  ASSERT_TRUE(Dict4()->Decode(tables->get(), good, sizeof(good), out, 10).ok());
  const uint8_t want[] = {5, 6, 7, 8, 9, 9, 9, 9, 0xAA, 0xBB};
  EXPECT_EQ(0, std::memcmp(out, want, 10));
  const uint8_t bad[] = {2, 0, 0xFF, 0xFF, 9, 9, 9, 9, 0xAA, 0xBB};
  EXPECT_TRUE(Dict4()->Decode(tables->get(), bad, sizeof(bad), out, 10).IsCorruption());
  const uint8_t bad2[] = {0xFE, 0xFF, 0xFF, 0xFF, 9, 9, 9, 9, 0xAA, 0xBB};
  EXPECT_TRUE(Dict4()->Decode(tables->get(), bad2, sizeof(bad2), out, 10).IsCorruption());
  EXPECT_FALSE(Dict4()->Decode(nullptr, good, sizeof(good), out, 10).ok());
}

}  // namespace
}  // namespace tqf
