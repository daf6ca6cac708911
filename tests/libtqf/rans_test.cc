// rans / rans-alias tests: every decode kernel this CPU supports gives the
// same bytes and the same errors, one block at a time or interleaved by
// DecodeMany; alias layouts are valid for any table; frequency tables are
// normalised and validated; the builder is deterministic and shares tables
// only when that is smaller; stored size tracks the order-0 entropy.
#include "codec/rans.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "tqf/codec.h"

namespace tqf {
namespace {

using codec_internal::RansKernel;

const Codec* Rans() { return FindCodecByName("rans"); }

const RansKernel kAllKernels[] = {RansKernel::kScalar, RansKernel::kAvx2, RansKernel::kAvx512,
                                  RansKernel::kAvx512Vbmi};

std::vector<uint8_t> Laplace(size_t n, double scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> ex(1.0 / scale);
  std::vector<uint8_t> v(n);
  for (auto& b : v) {
    long q = std::lround(ex(rng)) * ((rng() & 1) ? 1 : -1);
    b = static_cast<uint8_t>(static_cast<int8_t>(std::max(-127L, std::min(127L, q))));
  }
  return v;
}

std::shared_ptr<const CodecTables> Tables(const std::vector<uint8_t>& data,
                                          const Codec* codec = Rans()) {
  auto b = codec->NewDictionaryBuilder();
  b->Add(0, data.data(), data.size());
  auto plan = b->Build();
  EXPECT_TRUE(plan.ok());
  auto t = codec->LoadDictionary(plan->dictionaries[0].data(), plan->dictionaries[0].size());
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

double EntropyBytes(const std::vector<uint8_t>& v) {
  double c[256] = {0}, h = 0;
  for (uint8_t b : v) ++c[b];
  for (double x : c) {
    if (x > 0) h -= x * std::log2(x / v.size());
  }
  return h / 8;
}

class KernelRestorer {
 public:
  KernelRestorer() : saved_(codec_internal::ActiveRansKernel()) {}
  ~KernelRestorer() { codec_internal::SetRansKernel(saved_); }

 private:
  RansKernel saved_;
};

class RansCodecs : public ::testing::TestWithParam<const char*> {
 protected:
  const Codec* codec() const { return FindCodecByName(GetParam()); }
};

TEST_P(RansCodecs, EveryKernelDecodesTheSame) {
  KernelRestorer restore;
  const Codec* c = codec();
  ASSERT_NE(c, nullptr);
  for (size_t size :
       {1, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257, 1000, 65536, 65537, 100003}) {
    auto data = Laplace(size, size % 2 ? 3.0 : 20.0, static_cast<uint32_t>(size));
    auto t = Tables(data, c);
    std::vector<uint8_t> enc;
    ASSERT_TRUE(c->Encode(t.get(), data.data(), data.size(), &enc).ok());
    // Single-byte flips: the scalar kernel's verdict (and output) is the
    // reference every other kernel must reproduce exactly.
    std::vector<std::vector<uint8_t>> flipped;
    for (size_t i = 0; i < enc.size(); i += 1 + enc.size() / 61) {
      flipped.push_back(enc);
      flipped.back()[i] ^= 0x41;
    }
    std::vector<std::pair<StatusCode, std::vector<uint8_t>>> want;
    for (RansKernel k : kAllKernels) {
      if (!codec_internal::SetRansKernel(k)) continue;
      SCOPED_TRACE("kernel " + std::to_string(static_cast<int>(k)) + " size " +
                   std::to_string(size));
      std::vector<uint8_t> out(size);
      Status s = c->Decode(t.get(), enc.data(), enc.size(), out.data(), size);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(out, data);
      size_t caught = 0;
      for (size_t f = 0; f < flipped.size(); ++f) {
        std::fill(out.begin(), out.end(), 0);
        Status sb = c->Decode(t.get(), flipped[f].data(), flipped[f].size(), out.data(), size);
        ASSERT_TRUE(sb.ok() || sb.IsCorruption()) << sb.ToString();
        caught += !sb.ok();
        if (k == RansKernel::kScalar) {
          want.emplace_back(sb.code(), out);
        } else if (sb.ok()) {
          EXPECT_EQ(want[f].first, StatusCode::kOk) << "flip " << f;
          EXPECT_EQ(want[f].second, out) << "flip " << f;
        } else {
          EXPECT_EQ(want[f].first, sb.code()) << "flip " << f;
        }
      }
      // Flips that only nudge the low bits of a state can end in a valid
      // initial state (its low 16 bits are raw bytes); block checksums catch
      // those. Most flips must fail the end-state check.
      if (size >= 1000) {
        EXPECT_GE(caught * 10, flipped.size() * 8);
      }
    }
  }
}

// DecodeMany (two blocks interleaved by the VBMI kernel) must give each job
// exactly what Decode gives it: bytes, and status on damaged blocks, with
// blocks of different lengths and tables, and a damaged block next to a
// good one.
TEST_P(RansCodecs, DecodeManyMatchesDecodeJobByJob) {
  KernelRestorer restore;
  const Codec* c = codec();
  auto train = Laplace(400000, 12.0, 5);
  auto t = Tables(train, c);
  auto other = Laplace(400000, 3.0, 6);
  auto t_other = Tables(other, c);
  const size_t sizes[] = {65536, 65536, 65536, 1000, 20000, 65536, 0, 300, 64, 65536, 129};
  std::vector<std::vector<uint8_t>> src, enc;
  size_t off = 0;
  std::vector<const CodecTables*> tables;
  for (size_t i = 0; i < std::size(sizes); ++i) {
    const size_t n = sizes[i];
    const bool alt = i % 3 == 1;  // jobs 1, 4, 7, 10 use the other table
    const auto& from = alt ? other : train;
    tables.push_back(alt ? t_other.get() : t.get());
    src.emplace_back(from.begin() + off, from.begin() + off + n);
    off += n;
    enc.emplace_back();
    ASSERT_TRUE(c->Encode(tables.back(), src.back().data(), n, &enc.back()).ok());
  }
  enc[5][enc[5].size() / 2] ^= 0x10;  // damaged, paired with a good block
  enc[9].resize(enc[9].size() - 2);   // truncated
  for (RansKernel k : kAllKernels) {
    if (!codec_internal::SetRansKernel(k)) continue;
    SCOPED_TRACE("kernel " + std::to_string(static_cast<int>(k)));
    std::vector<std::vector<uint8_t>> one(src.size()), many(src.size());
    std::vector<DecodeJob> jobs(src.size());
    std::vector<Status> want(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      one[i].assign(sizes[i], 0);
      many[i].assign(sizes[i], 0);
      want[i] = c->Decode(tables[i], enc[i].data(), enc[i].size(), one[i].data(), sizes[i]);
      jobs[i].tables = tables[i];
      jobs[i].in = enc[i].data();
      jobs[i].in_size = enc[i].size();
      jobs[i].out = many[i].data();
      jobs[i].out_size = sizes[i];
    }
    c->DecodeMany(jobs.data(), jobs.size());
    for (size_t i = 0; i < src.size(); ++i) {
      EXPECT_EQ(jobs[i].status.code(), want[i].code()) << "job " << i;
      if (want[i].ok()) {
        EXPECT_EQ(many[i], src[i]) << "job " << i;
      } else {
        EXPECT_EQ(many[i], one[i]) << "job " << i;  // same partial output
      }
    }
    EXPECT_FALSE(want[5].ok());
    EXPECT_FALSE(want[9].ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, RansCodecs, ::testing::Values("rans", "rans-alias"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param) == "rans" ? "rans" : "rans_alias";
                         });

// The alias layout of any valid table: every bucket holds its own symbol
// then at most one alias, each symbol owns exactly freq[s] slots with ranks
// 0..freq[s]-1, and encoding's slot() is the decode table's inverse.
TEST(RansAlias, LayoutIsAValidBijectionForAnyTable) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 300; ++iter) {
    uint64_t counts[256] = {0};
    for (int s = 0; s < 256; ++s) {
      switch (iter % 4) {
        case 0: counts[s] = rng() % 2 ? rng() % 100000 : 0; break;
        case 1: counts[s] = uint64_t{1} << (rng() % 36); break;
        case 2: counts[s] = (s == iter % 256) ? 1000000 : rng() % 3; break;
        default: counts[s] = 1; break;
      }
    }
    const int prec = codec_internal::kRansMinPrecision + iter % 8;
    auto f = codec_internal::NormalizeFreqs(counts, prec);
    codec_internal::RansTables t(f, codec_internal::RansLayout::kAlias);
    const uint32_t m = 1u << prec, bucket = m / 256;
    std::vector<uint32_t> owned(256, 0);
    std::vector<std::vector<bool>> rank_seen(256);
    for (int s = 0; s < 256; ++s) rank_seen[s].assign(f.freq[s], false);
    for (uint32_t slot = 0; slot < m; ++slot) {
      const uint32_t e = t.decode_table()[slot];
      const uint32_t s = e & 0xFF, r = (e >> 8) & 0xFFF, fr = e >> 20;
      ASSERT_EQ(fr, f.freq[s]) << "slot " << slot;
      ASSERT_LT(r, f.freq[s]) << "slot " << slot << " prec " << prec;
      ASSERT_FALSE(rank_seen[s][r]) << "rank used twice";
      rank_seen[s][r] = true;
      ASSERT_EQ(t.slot(static_cast<uint8_t>(s), r), slot);
      ++owned[s];
      // Bucket b's slots belong to b, then to a single alias.
      const uint32_t b = slot / bucket;
      if (s != b) {
        const uint32_t first = t.decode_table()[b * bucket + bucket - 1] & 0xFF;
        ASSERT_EQ(s, first) << "bucket " << b << " has two aliases";
      }
    }
    for (int s = 0; s < 256; ++s) ASSERT_EQ(owned[s], f.freq[s]) << "symbol " << s;
  }
}

TEST(Rans, SizeIsCloseToEntropy) {
  for (double scale : {2.0, 8.0, 30.0}) {
    auto data = Laplace(1 << 20, scale, 7);
    auto t = Tables(data);
    size_t stored = 0;
    for (size_t off = 0; off < data.size(); off += 65536) {
      std::vector<uint8_t> enc;
      ASSERT_TRUE(Rans()->Encode(t.get(), data.data() + off, 65536, &enc).ok());
      stored += enc.size();
    }
    EXPECT_LT(stored, EntropyBytes(data) * 1.01) << "scale " << scale;
  }
}

TEST(Rans, NormalizeKeepsEverySymbolAndSumsExactly) {
  std::mt19937 rng(3);
  for (int iter = 0; iter < 200; ++iter) {
    uint64_t counts[256] = {0};
    int kinds = iter % 5;
    for (int s = 0; s < 256; ++s) {
      if (kinds == 0) counts[s] = (s == iter % 256) ? 1000000 : 0;    // one symbol
      if (kinds == 1) counts[s] = rng() % 3 == 0 ? rng() % 1000 : 0;  // sparse
      if (kinds == 2) counts[s] = uint64_t{1} << (rng() % 40);        // extreme skew
      if (kinds == 3) counts[s] = 1;                                  // flat
      if (kinds == 4) counts[s] = (s < 2) ? 1u << 30 : 0;             // two huge
    }
    for (int prec = codec_internal::kRansMinPrecision; prec <= codec_internal::kRansMaxPrecision;
         ++prec) {
      auto f = codec_internal::NormalizeFreqs(counts, prec);
      uint64_t sum = 0;
      for (int s = 0; s < 256; ++s) {
        sum += f.freq[s];
        if (counts[s]) {
          EXPECT_GE(f.freq[s], 1u);
        }
        EXPECT_LE(f.freq[s], std::min<uint32_t>(codec_internal::kRansMaxFreq, (1u << prec) - 1));
      }
      EXPECT_EQ(sum, 1u << prec);
      auto bytes = codec_internal::SerializeRansFreqs(f);
      codec_internal::RansFreqs back;
      ASSERT_TRUE(codec_internal::ParseRansFreqs(bytes.data(), bytes.size(), &back).ok());
      EXPECT_EQ(back.freq, f.freq);
    }
  }
}

TEST(Rans, LoadDictionaryValidates) {
  uint64_t counts[256] = {0};
  for (int s = 0; s < 256; ++s) counts[s] = 1000 / (1 + std::abs(s - 128));
  auto good = codec_internal::SerializeRansFreqs(codec_internal::NormalizeFreqs(counts, 12));
  auto load = [](const std::vector<uint8_t>& d) {
    return Rans()->LoadDictionary(d.data(), d.size()).status().code();
  };
  EXPECT_EQ(load(good), StatusCode::kOk);
  EXPECT_EQ(load({}), StatusCode::kCorruption);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(load(std::vector<uint8_t>(good.begin(), good.begin() + n)), StatusCode::kCorruption)
        << "truncated to " << n;
  }
  auto v = good;
  v.push_back(1);
  EXPECT_EQ(load(v), StatusCode::kCorruption);  // trailing byte
  v = good;
  v[0] = 16;
  EXPECT_EQ(load(v), StatusCode::kCorruption);  // precision
  v[0] = 7;
  EXPECT_EQ(load(v), StatusCode::kCorruption);
  v = good;
  v[1] = 1;
  EXPECT_EQ(load(v), StatusCode::kCorruption);  // reserved
  // A single symbol owning every slot is invalid; so is a wrong sum.
  EXPECT_EQ(load({8, 0, 0x80, 0x02, 0, 254}), StatusCode::kCorruption);     // 256 of 2^8
  EXPECT_EQ(load({8, 0, 0xFF, 0x01, 0, 254}), StatusCode::kCorruption);     // 255, sum 255
  EXPECT_EQ(load({8, 0, 0xFF, 0x01, 1, 0, 253}), StatusCode::kOk);          // 255 + 1
  EXPECT_EQ(load({8, 0, 0xFF, 0x81, 1, 0, 253}), StatusCode::kCorruption);  // 3-byte varint
  EXPECT_EQ(load({8, 0, 0x80, 0x00, 1, 0, 253}), StatusCode::kCorruption);  // non-canonical
  EXPECT_EQ(load({8, 0, 0xFF, 0x01, 1, 0, 254}), StatusCode::kCorruption);  // run past 255
}

TEST(Rans, EncodeRejectsBytesOutsideTheTable) {
  std::vector<uint8_t> train(1000, 5);
  auto t = Tables(train);
  std::vector<uint8_t> data(1000, 5), out;
  data[10] = 9;  // a coded byte (the last two of each lane ride raw in its state)
  EXPECT_EQ(Rans()->Encode(t.get(), data.data(), data.size(), &out).code(),
            StatusCode::kInvalidArgument);
}

TEST(Rans, BuilderSharesTablesOnlyWhenSmallerAndIsDeterministic) {
  auto big_a = Laplace(200000, 10, 1), big_b = Laplace(200000, 40, 2);
  auto small_a = Laplace(500, 10, 3);
  auto build = [&](bool reverse) {
    auto b = Rans()->NewDictionaryBuilder();
    std::vector<std::pair<size_t, const std::vector<uint8_t>*>> adds = {
        {0, &big_a}, {1, &big_b}, {4, &small_a}};
    if (reverse) std::reverse(adds.begin(), adds.end());
    for (auto& [i, d] : adds) b->Add(i, d->data(), d->size());
    auto plan = b->Build();
    EXPECT_TRUE(plan.ok());
    return *plan;
  };
  DictionaryPlan p = build(false), q = build(true);
  EXPECT_EQ(p.dictionaries, q.dictionaries);
  EXPECT_EQ(p.tensor_dictionary, q.tensor_dictionary);
  ASSERT_EQ(p.tensor_dictionary.size(), 5u);
  EXPECT_EQ(p.tensor_dictionary[2], -1);
  EXPECT_NE(p.tensor_dictionary[0], p.tensor_dictionary[1]);  // different statistics
  EXPECT_EQ(p.dictionaries.size(), 2u);  // the small tensor is not worth a table of its own
  EXPECT_GE(p.tensor_dictionary[4], 0);
}

}  // namespace
}  // namespace tqf
