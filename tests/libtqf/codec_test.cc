// Codec tests: round trips of every registered codec over random, skewed and
// constant data of many sizes; the dict4 size formula and dictionary rules;
// hostile streams (truncated, extended, garbage) give kCorruption, never a
// crash (run under ASan/UBSan too).
#include "tqf/codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace tqf {
namespace {

enum class Shape { kUniform, kLaplace, kConstant, kFewGroups };

std::vector<uint8_t> MakeData(Shape shape, size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(size);
  switch (shape) {
    case Shape::kUniform:
      for (auto& b : v) b = static_cast<uint8_t>(rng());
      break;
    case Shape::kLaplace: {
      std::exponential_distribution<double> ex(1.0 / 12.0);
      for (auto& b : v) {
        double x = ex(rng) * ((rng() & 1) ? 1 : -1);
        b = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(std::lround(x), -127L, 127L)));
      }
      break;
    }
    case Shape::kConstant: std::fill(v.begin(), v.end(), uint8_t{0x5a}); break;
    case Shape::kFewGroups:
      for (size_t i = 0; i < size; ++i) v[i] = static_cast<uint8_t>((i % 4) + 4 * (rng() % 3));
      break;
  }
  return v;
}

// Builds `codec`'s tables from `data` (nullptr when it uses none).
std::shared_ptr<const CodecTables> TablesFor(const Codec* codec, const std::vector<uint8_t>& data) {
  if (!codec->uses_dictionary()) return nullptr;
  auto builder = codec->NewDictionaryBuilder();
  EXPECT_NE(builder, nullptr);
  if (builder == nullptr) return nullptr;
  builder->Add(0, data.data(), data.size());
  auto plan = builder->Build();
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  if (!plan.ok()) return nullptr;
  EXPECT_EQ(plan->tensor_dictionary.size(), 1u);
  int d = plan->tensor_dictionary[0];
  EXPECT_GE(d, 0);
  auto tables = codec->LoadDictionary(plan->dictionaries[d].data(), plan->dictionaries[d].size());
  EXPECT_TRUE(tables.ok()) << tables.status().ToString();
  return tables.ok() ? *tables : nullptr;
}

std::vector<uint8_t> EncodeOrDie(const Codec* c, const CodecTables* t,
                                 const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0xAB};  // Encode must append
  Status s = c->Encode(t, data.data(), data.size(), &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(out[0], 0xAB);
  out.erase(out.begin());
  return out;
}

const std::vector<size_t>& Sizes() {
  static const std::vector<size_t> kSizes = {0,  1,   2,   3,    4,    5,     6,     7,     8,
                                             9,  15,  16,  17,   31,   33,    63,    64,    65,
                                             99, 255, 256, 1000, 4097, 65535, 65536, 65537, 300001};
  return kSizes;
}

TEST(Codec, RegistryFindsEveryCodec) {
  auto all = ByteCodecs();
  ASSERT_GE(all.size(), 2u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(FindCodec(all[i]->kind()), all[i]);
    EXPECT_EQ(FindCodecByName(all[i]->name()), all[i]);
    if (i > 0) {
      EXPECT_LT(all[i - 1]->kind(), all[i]->kind());
    }
    EXPECT_EQ(all[i]->NewDictionaryBuilder() != nullptr, all[i]->uses_dictionary());
  }
  EXPECT_NE(FindCodecByName("raw"), nullptr);
  EXPECT_NE(FindCodecByName("dict4"), nullptr);
  EXPECT_EQ(FindCodecByName("nope"), nullptr);
  EXPECT_EQ(FindCodec(static_cast<CodecKind>(200)), nullptr);
  ASSERT_NE(DefaultCodec(), nullptr);
}

TEST(Codec, RawRejectsDictionary) {
  const Codec* raw = FindCodecByName("raw");
  uint8_t b[4] = {0};
  EXPECT_EQ(raw->LoadDictionary(b, 4).status().code(), StatusCode::kInvalidArgument);
}

TEST(Codec, RoundTripEveryCodecShapeAndSize) {
  for (const Codec* codec : ByteCodecs()) {
    for (Shape shape : {Shape::kUniform, Shape::kLaplace, Shape::kConstant, Shape::kFewGroups}) {
      for (size_t size : Sizes()) {
        SCOPED_TRACE(std::string(codec->name()) + " shape " +
                     std::to_string(static_cast<int>(shape)) + " size " + std::to_string(size));
        auto data = MakeData(shape, size, static_cast<uint32_t>(size * 7 + 1));
        auto tables = TablesFor(codec, data);
        auto enc = EncodeOrDie(codec, tables.get(), data);
        std::vector<uint8_t> dec(size + 1, 0xEE);
        Status s = codec->Decode(tables.get(), enc.data(), enc.size(), dec.data(), size);
        ASSERT_TRUE(s.ok()) << s.ToString();
        EXPECT_EQ(dec[size], 0xEE) << "wrote past out_size";
        dec.resize(size);
        ASSERT_EQ(dec, data);
      }
    }
  }
}

TEST(Codec, BlocksOfOneTableDecodeIndependently) {
  // One dictionary built over a whole "tensor", used for each of its blocks.
  auto data = MakeData(Shape::kLaplace, 200000, 3);
  for (const Codec* codec : ByteCodecs()) {
    auto tables = TablesFor(codec, data);
    const size_t kBlock = 65536;
    for (size_t off = 0; off < data.size(); off += kBlock) {
      size_t n = std::min(kBlock, data.size() - off);
      std::vector<uint8_t> blk(data.begin() + off, data.begin() + off + n);
      auto enc = EncodeOrDie(codec, tables.get(), blk);
      std::vector<uint8_t> dec(n);
      ASSERT_TRUE(codec->Decode(tables.get(), enc.data(), enc.size(), dec.data(), n).ok());
      ASSERT_EQ(dec, blk) << codec->name();
    }
  }
}

// Every truncation and extension of a valid stream, and every single-byte
// corruption of a short one, is rejected or decodes without touching memory
// outside the buffers.
TEST(Codec, HostileStreamsNeverCrash) {
  for (const Codec* codec : ByteCodecs()) {
    for (Shape shape : {Shape::kLaplace, Shape::kUniform, Shape::kConstant}) {
      SCOPED_TRACE(std::string(codec->name()) + " shape " + std::to_string(int(shape)));
      auto data = MakeData(shape, 1203, 11);
      auto tables = TablesFor(codec, data);
      auto enc = EncodeOrDie(codec, tables.get(), data);
      std::vector<uint8_t> dec(data.size());
      for (size_t len = 0; len < enc.size(); ++len) {
        std::vector<uint8_t> cut(enc.begin(), enc.begin() + len);  // exact-size copy for ASan
        Status s = codec->Decode(tables.get(), cut.data(), cut.size(), dec.data(), dec.size());
        EXPECT_EQ(s.code(), StatusCode::kCorruption) << "truncated to " << len;
      }
      for (size_t extra = 1; extra <= 9; ++extra) {
        std::vector<uint8_t> ext = enc;
        ext.resize(enc.size() + extra, 0);
        Status s = codec->Decode(tables.get(), ext.data(), ext.size(), dec.data(), dec.size());
        EXPECT_EQ(s.code(), StatusCode::kCorruption) << "extended by " << extra;
      }
      for (size_t i = 0; i < enc.size(); i += 1 + enc.size() / 97) {
        for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
          std::vector<uint8_t> bad = enc;
          bad[i] ^= x;
          Status s = codec->Decode(tables.get(), bad.data(), bad.size(), dec.data(), dec.size());
          EXPECT_TRUE(s.ok() || s.code() == StatusCode::kCorruption) << s.ToString();
        }
      }
    }
  }
}

TEST(Codec, GarbageStreamsNeverCrash) {
  std::mt19937 rng(42);
  auto sample = MakeData(Shape::kLaplace, 4096, 5);
  for (const Codec* codec : ByteCodecs()) {
    auto tables = TablesFor(codec, sample);
    for (int iter = 0; iter < 2000; ++iter) {
      std::vector<uint8_t> in(rng() % 300);
      for (auto& b : in) b = static_cast<uint8_t>(rng());
      std::vector<uint8_t> out(rng() % 400);
      Status s = codec->Decode(tables.get(), in.data(), in.size(), out.data(), out.size());
      EXPECT_TRUE(s.ok() || s.code() == StatusCode::kCorruption) << s.ToString();
    }
  }
}

// rans-alias-vq expands indices through the codebook for every vector
// length (the constant-size copies of 2, 4 and 8 and the general path), keeps
// only the first bytes of a short last vector, and refuses an index beyond
// the codebook wherever it is.
TEST(VqCodec, ExpandsEveryDimAndRefusesIndicesBeyondTheCodebook) {
  const Codec* vq = FindCodec(CodecKind::kRansAliasVq);
  ASSERT_NE(vq, nullptr);
  for (uint32_t dim : {1u, 2u, 3u, 4u, 8u}) {
    const uint32_t entries = 5;
    std::vector<int8_t> book(dim * entries);
    for (size_t i = 0; i < book.size(); ++i) book[i] = static_cast<int8_t>(i * 7 - 50);
    auto cb = MakeCodebookTables(dim, entries, book.data());
    ASSERT_TRUE(cb.ok());
    const size_t n_vectors = 1000, size = n_vectors * dim - (dim > 1 ? 1 : 0);
    std::vector<uint8_t> data(size), indices(n_vectors);
    for (size_t v = 0; v < n_vectors; ++v) {
      indices[v] = static_cast<uint8_t>((v * 3 + v / 7) % entries);
      for (size_t j = 0; j < dim && v * dim + j < size; ++j) {
        data[v * dim + j] = static_cast<uint8_t>(book[indices[v] * dim + j]);
      }
    }
    auto rans = TablesFor(FindCodec(CodecKind::kRansAlias), indices);
    ASSERT_NE(rans, nullptr);
    auto tables = CombineVqTables(rans, *cb);
    std::vector<uint8_t> enc;
    ASSERT_TRUE(vq->Encode(tables.get(), data.data(), data.size(), &enc).ok()) << dim;
    std::vector<uint8_t> out(size);
    ASSERT_TRUE(vq->Decode(tables.get(), enc.data(), enc.size(), out.data(), size).ok()) << dim;
    EXPECT_EQ(out, data) << "dim " << dim;
    // The same stream against a codebook one vector short: index 4 is out.
    auto small = MakeCodebookTables(dim, entries - 1, book.data());
    ASSERT_TRUE(small.ok());
    Status st =
        vq->Decode(CombineVqTables(rans, *small).get(), enc.data(), enc.size(), out.data(), size);
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("beyond the codebook's 4 vectors"), std::string::npos)
        << st.ToString();
  }
}

}  // namespace
}  // namespace tqf
