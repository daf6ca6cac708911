// The source layer's pure parts: range bookkeeping, URL redaction, the
// Content-Range parser and the block cache's keying and self-checks. The
// HTTP paths run against a real nginx in tests/remote/remote_test.py.
#include "tqf/source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "io/block_cache.h"
#include "io/range_set.h"
#include "io/url.h"
#include "util/checksum.h"

namespace tqf {
namespace {

using Gaps = std::vector<std::pair<uint64_t, uint64_t>>;

TEST(RangeSet, AddMergesTouchingAndOverlapping) {
  RangeSet s;
  s.Add(10, 20);
  s.Add(30, 40);
  EXPECT_EQ(s.bytes(), 20u);
  s.Add(20, 30);  // touches both: one range
  EXPECT_TRUE(s.Contains(10, 40));
  EXPECT_EQ(s.bytes(), 30u);
  s.Add(5, 50);
  EXPECT_EQ(s.bytes(), 45u);
  EXPECT_EQ(s.Missing(0, 60), (Gaps{{0, 5}, {50, 60}}));
}

TEST(RangeSet, RemoveSplits) {
  RangeSet s;
  s.Add(0, 100);
  s.Remove(40, 60);
  EXPECT_EQ(s.bytes(), 80u);
  EXPECT_FALSE(s.Contains(30, 70));
  EXPECT_TRUE(s.Contains(0, 40));
  EXPECT_TRUE(s.Contains(60, 100));
  EXPECT_EQ(s.Missing(0, 100), (Gaps{{40, 60}}));
  s.Remove(0, 1000);
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_EQ(s.Missing(0, 10), (Gaps{{0, 10}}));
}

TEST(RangeSet, EmptyRangesAreNoOps) {
  RangeSet s;
  s.Add(5, 5);
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_TRUE(s.Contains(7, 7));
  EXPECT_TRUE(s.Missing(3, 3).empty());
}

TEST(RangeSet, MatchesABitmapUnderRandomEdits) {
  RangeSet s;
  std::vector<bool> ref(256);
  uint32_t x = 12345;
  auto next = [&] { return (x = x * 1103515245 + 12345) >> 16; };
  for (int i = 0; i < 2000; ++i) {
    uint64_t a = next() % 256, b = next() % 256;
    if (a > b) std::swap(a, b);
    const bool add = next() % 2;
    add ? s.Add(a, b) : s.Remove(a, b);
    for (uint64_t k = a; k < b; ++k) ref[k] = add;
    uint64_t count = 0;
    Gaps want;
    for (uint64_t k = 0; k < 256; ++k) {
      count += ref[k];
      if (ref[k]) continue;
      if (!want.empty() && want.back().second == k) {
        want.back().second = k + 1;
      } else {
        want.push_back({k, k + 1});
      }
    }
    ASSERT_EQ(s.bytes(), count);
    ASSERT_EQ(s.Missing(0, 256), want);
  }
}

TEST(Url, RedactsUserinfo) {
  EXPECT_EQ(RedactUrl("https://u:p@host/x.tqf"), "https://***@host/x.tqf");
  EXPECT_EQ(RedactUrl("http://user@host:80/a@b"), "http://***@host:80/a@b");
  EXPECT_EQ(RedactUrl("http://u:p@ss@host/"), "http://***@host/");  // '@' in the password
  EXPECT_EQ(RedactUrl("http://host/a?x=@y"), "http://host/a?x=@y");
  EXPECT_EQ(RedactUrl("http://u:p@host"), "http://***@host");
  EXPECT_EQ(RedactUrl("/local/file@2.tqf"), "/local/file@2.tqf");
}

TEST(Url, KnowsRemoteSchemes) {
  EXPECT_TRUE(IsRemoteUrl("http://h/x"));
  EXPECT_TRUE(IsRemoteUrl("HTTPS://h/x"));
  EXPECT_FALSE(IsRemoteUrl("file:///x"));
  EXPECT_FALSE(IsRemoteUrl("ftp://h/x"));
  EXPECT_FALSE(IsRemoteUrl("http:/x"));
  EXPECT_FALSE(IsRemoteUrl("model.tqf"));
}

TEST(ContentRange, ParsesWellFormed) {
  ContentRange r;
  ASSERT_TRUE(ParseContentRange("bytes 0-99/1000", &r).ok());
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
  EXPECT_EQ(r.total, 1000u);
  ASSERT_TRUE(ParseContentRange("bytes 999-999/1000", &r).ok());
}

TEST(ContentRange, RefusesMalformedAndHostile) {
  ContentRange r;
  for (const char* bad :
       {"", "bytes", "bytes */1000", "bytes 0-99/*", "bytes 5-4/10", "bytes 0-10/10", "items 0-1/2",
        "bytes -1-2/3", "bytes 0-1/99999999999999999999", "bytes 0-1/2 x", "bytes 0x0-1/2",
        "bytes 0-1/9223372036854775809"}) {
    const Status s = ParseContentRange(bad, &r);
    EXPECT_TRUE(s.IsCorruption()) << bad << ": " << s.ToString();
  }
}

class BlockCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tqf-cache-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

TEST_F(BlockCacheTest, RoundTripsByChecksumAndSize) {
  ASSERT_TRUE(BlockCache::Prepare(dir_).ok());
  BlockCache cache(dir_, 0);
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  const uint64_t sum = Checksum64(data.data(), data.size());
  std::vector<uint8_t> out(1000);
  EXPECT_FALSE(cache.Get(sum, data.size(), out.data()));
  cache.Put(sum, data.size(), data.data());
  ASSERT_TRUE(cache.Get(sum, data.size(), out.data()));
  EXPECT_EQ(out, data);
  EXPECT_FALSE(cache.Get(sum, 999, out.data()));  // the size is part of the key
  // The key names the file: shared by any process with the same directory.
  EXPECT_EQ(cache.PathOf(0x0123456789abcdefull, 42), dir_ + "/01/0123456789abcdef-42");
}

TEST_F(BlockCacheTest, DamagedEntryIsDeletedAndMissed) {
  BlockCache cache(dir_, 0);
  std::vector<uint8_t> data(64, 9);
  const uint64_t sum = Checksum64(data.data(), data.size());
  cache.Put(sum, data.size(), data.data());
  const std::string path = cache.PathOf(sum, data.size());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put(0);
  }
  std::vector<uint8_t> out(64);
  EXPECT_FALSE(cache.Get(sum, data.size(), out.data()));
  struct stat st;
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "damaged entry still there";
}

TEST_F(BlockCacheTest, EvictsOldestPastTheLimit) {
  BlockCache cache(dir_, 2500);
  std::vector<uint64_t> sums;
  for (int i = 0; i < 5; ++i) {
    std::vector<uint8_t> data(1000, uint8_t(i));
    sums.push_back(Checksum64(data.data(), data.size()));
    cache.Put(sums.back(), data.size(), data.data());
    ::usleep(20000);  // distinct modification times
  }
  std::vector<uint8_t> out(1000);
  EXPECT_TRUE(cache.Get(sums[4], 1000, out.data()));
  EXPECT_FALSE(cache.Get(sums[0], 1000, out.data()));
  int kept = 0;
  for (uint64_t s : sums) kept += cache.Get(s, 1000, out.data());
  EXPECT_LE(kept * 1000, 2500);
}

TEST_F(BlockCacheTest, PrepareRefusesAFile) {
  const std::string file = dir_ + "/plain";
  std::ofstream(file) << "x";
  EXPECT_TRUE(BlockCache::Prepare(file).IsIOError());
}

}  // namespace
}  // namespace tqf
