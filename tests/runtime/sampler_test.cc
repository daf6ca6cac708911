// Sampler tests: greedy is the first argmax; a seed fixes the sequence;
// top-p keeps only the nucleus; temperature sampling follows softmax.
#include "tqf/rt/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace tqf::rt {
namespace {

TEST(Sampler, GreedyIsFirstArgMax) {
  Sampler s(SamplerOptions{});
  std::vector<float> l = {0.5f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.Sample(&l), 1);
  EXPECT_EQ(ArgMax({}), 0);
}

TEST(Sampler, SeedMakesItDeterministic) {
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_p = 0.9f;
  o.seed = 42;
  Sampler a(o), b(o);
  o.seed = 43;
  Sampler c(o);
  std::vector<int32_t> ra, rb, rc;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> base(50);
    for (int j = 0; j < 50; ++j) base[j] = std::sin(0.7f * j + i);
    std::vector<float> la = base, lb = base, lc = base;
    ra.push_back(a.Sample(&la));
    rb.push_back(b.Sample(&lb));
    rc.push_back(c.Sample(&lc));
  }
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_p = 0.5f;
  o.seed = 7;
  Sampler s(o);
  // p = {0.6, 0.2, 0.1, 0.1}: the nucleus for 0.5 is token 0 alone.
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l = {std::log(0.6f), std::log(0.2f), std::log(0.1f), std::log(0.1f)};
    EXPECT_EQ(s.Sample(&l), 0);
  }
}

TEST(Sampler, TemperatureFollowsSoftmax) {
  SamplerOptions o;
  o.temperature = 2.0f;
  o.seed = 1;
  Sampler s(o);
  // logits {0, 2 ln 3}: at T = 2 the probabilities are {1/4, 3/4}.
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    std::vector<float> l = {0.0f, 2.0f * std::log(3.0f)};
    ones += s.Sample(&l);
  }
  EXPECT_NEAR(ones / double(n), 0.75, 0.02);
}

TEST(Sampler, UniformFloatsInRange) {
  Sampler s(SamplerOptions{});
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const float f = s.NextFloat();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    sum += f;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

}  // namespace
}  // namespace tqf::rt
