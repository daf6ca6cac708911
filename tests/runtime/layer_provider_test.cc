// LayerProvider's shared decoding on stories260K packed with 4 KiB blocks
// (several chunks per layer): a layer decoded by the prefetch thread, by
// a waiting Acquire and by several callers at once has exactly the bytes of
// a plain decode; each layer is decoded once however many threads help;
// the budget holds; a corrupt block's error reaches every caller, naming
// layer, tensor and block, whichever thread decoded it. No timing is
// asserted: which thread decodes which chunk varies run to run, and every
// outcome must be the same.
#include "tqf/rt/layer_provider.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime_test_util.h"
#include "test_util.h"
#include "tqf/reader.h"
#include "tqf/signals.h"

namespace tqf::rt {
namespace {

// Layer `l` decoded tensor by tensor on one thread, laid out as the
// provider lays it out (the reference a shared decode must equal).
std::vector<uint8_t> Reference(const Reader& reader, const std::vector<size_t>& tensors,
                               size_t bytes) {
  std::vector<uint8_t> out(bytes, 0);
  size_t off = 0;
  for (size_t idx : tensors) {
    EXPECT_TRUE(DecodeTensorWithParams(reader, idx, out.data() + off, 1).ok());
    off += LayoutOf(reader.tensors()[idx]).bytes;
  }
  return out;
}

// Bytes [0, used) of a decoded layer: its tensors and params (the page
// padding after them is never written).
bool SameLayer(const DecodedLayer& got, const std::vector<uint8_t>& want, size_t used) {
  return std::memcmp(got.base(), want.data(), used) == 0;
}

size_t UsedBytes(const Reader& reader, const std::vector<size_t>& tensors) {
  size_t used = 0;
  for (size_t idx : tensors) used += LayoutOf(reader.tensors()[idx]).bytes;
  return used;
}

class SharedDecode : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = PackedStories("gguf", "channel", "rans-alias");
    ASSERT_FALSE(path.empty());
    Result<std::unique_ptr<Reader>> r = Reader::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reader_ = std::move(r).value();
    layers_ = FindLayerMatrices(*reader_);
    ASSERT_GE(layers_.size(), 2u);
    for (const auto& tensors : layers_) {
      size_t blocks = 0;
      for (size_t idx : tensors) blocks += reader_->tensors()[idx].block_count;
      ASSERT_GT(blocks, 8u) << "a layer must span several 8-block chunks";
    }
  }
  std::unique_ptr<Reader> reader_;
  std::vector<std::vector<size_t>> layers_;
};

// FindLayerMatrices lists every layer's seven matrices in the Model's order.
TEST_F(SharedDecode, FindLayerMatricesInModelOrder) {
  const char* const names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                               "ffn_gate", "ffn_up", "ffn_down"};
  ASSERT_EQ(layers_.size(), reader_->model().hparams.n_layers);
  for (size_t l = 0; l < layers_.size(); ++l) {
    ASSERT_EQ(layers_[l].size(), 7u);
    for (size_t i = 0; i < 7; ++i) {
      EXPECT_EQ(reader_->tensors()[layers_[l][i]].name,
                "blk." + std::to_string(l) + "." + names[i] + ".weight");
    }
  }
}

TEST_F(SharedDecode, PrefetchedLayerHelpedByItsWaiterIsIdentical) {
  uint64_t helped = 0;
  for (int threads : {1, 2, 4}) {
    LayerProviderOptions po;
    po.decode_threads = threads;
    LayerProvider p(reader_.get(), layers_, po);
    for (size_t l = 0; l < layers_.size(); ++l) {
      // Acquire right after Prefetch: the waiter usually finds chunks left.
      p.Prefetch(static_cast<int>(l));
      Result<std::shared_ptr<const DecodedLayer>> got = p.Acquire(static_cast<int>(l));
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      const std::vector<uint8_t> want = Reference(*reader_, layers_[l], p.layer_bytes(l));
      EXPECT_TRUE(SameLayer(**got, want, UsedBytes(*reader_, layers_[l])))
          << "layer " << l << ", " << threads << " threads";
    }
    EXPECT_EQ(p.stats().decodes, layers_.size());  // once each, however many helped
    helped += p.stats().helped_chunks;
  }
  // Whether the waiter found chunks left is up to the scheduler; say so.
  std::printf("waiters decoded %llu chunks\n", static_cast<unsigned long long>(helped));
}

TEST_F(SharedDecode, ConcurrentAcquiresDecodeOnceAndAgree) {
  LayerProviderOptions po;
  po.decode_threads = 2;
  LayerProvider p(reader_.get(), layers_, po);
  const int layer = static_cast<int>(layers_.size() - 1);
  p.Prefetch(layer);
  std::vector<std::shared_ptr<const DecodedLayer>> got(4);
  std::vector<Status> status(got.size());
  std::vector<std::thread> callers;
  for (size_t i = 0; i < got.size(); ++i) {
    callers.emplace_back([&, i] {
      Result<std::shared_ptr<const DecodedLayer>> r = p.Acquire(layer);
      status[i] = r.status();
      if (r.ok()) got[i] = *r;
    });
  }
  for (std::thread& t : callers) t.join();
  const std::vector<uint8_t> want = Reference(*reader_, layers_[layer], p.layer_bytes(layer));
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(status[i].ok()) << status[i].ToString();
    EXPECT_EQ(got[i].get(), got[0].get());  // one decoded layer, shared
    EXPECT_TRUE(SameLayer(*got[i], want, UsedBytes(*reader_, layers_[layer])));
  }
  EXPECT_EQ(p.stats().decodes, 1u);
}

TEST_F(SharedDecode, ReleasingDecodeEqualsPlainDecode) {
  for (int threads : {1, 2, 3}) {
    const std::vector<size_t>& tensors = layers_[0];
    std::vector<std::vector<uint8_t>> outs(tensors.size());
    std::vector<uint8_t*> ptrs;
    for (size_t i = 0; i < tensors.size(); ++i) {
      outs[i].resize(reader_->tensors()[tensors[i]].raw_size);
      ptrs.push_back(outs[i].data());
    }
    ASSERT_TRUE(
        DecodeTensorsReleasing(*reader_, tensors.data(), ptrs.data(), tensors.size(), threads)
            .ok());
    for (size_t i = 0; i < tensors.size(); ++i) {
      std::vector<uint8_t> want(outs[i].size());
      ASSERT_TRUE(reader_->DecodeTensor(tensors[i], want.data(), want.size(), 1).ok());
      EXPECT_EQ(outs[i], want) << reader_->tensors()[tensors[i]].name << ", " << threads;
    }
  }
}

TEST_F(SharedDecode, BudgetHoldsWithHelpingWaiters) {
  LayerProviderOptions probe_options;
  LayerProvider probe(reader_.get(), layers_, probe_options);
  const size_t layer = probe.layer_bytes(0);
  for (size_t budget_layers : {0u, 1u, 2u, 3u}) {
    LayerProviderOptions po;
    po.mem_budget = static_cast<int64_t>(budget_layers * layer);
    po.decode_threads = 2;
    LayerProvider p(reader_.get(), layers_, po);
    for (int pass = 0; pass < 3; ++pass) {
      for (size_t l = 0; l < layers_.size(); ++l) {
        Result<std::shared_ptr<const DecodedLayer>> got = p.Acquire(static_cast<int>(l));
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        p.Prefetch(static_cast<int>((l + 1) % layers_.size()));
      }
    }
    EXPECT_LE(p.stats().peak_held_bytes, std::max<size_t>(budget_layers, 1) * layer)
        << budget_layers << " layers";
  }
}

// A copy of the model with one byte of blk.2.ffn_up.weight's stream flipped.
std::string CorruptCopy(const Reader& reader, const std::string& path) {
  Result<size_t> idx = reader.FindTensor("blk.2.ffn_up.weight");
  EXPECT_TRUE(idx.ok());
  const uint64_t off = reader.tensors()[*idx].data_offset + 100;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_LT(off, bytes.size());
  bytes[off] ^= 0x5a;
  const std::string bad = tqf::testing::TempDir() + "/corrupt-shared.tqf";
  std::ofstream(bad, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bad;
}

TEST_F(SharedDecode, CorruptBlockReachesEveryCallerNamed) {
  const std::string bad = CorruptCopy(*reader_, PackedStories("gguf", "channel", "rans-alias"));
  Result<std::unique_ptr<Reader>> r = Reader::Open(bad);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (int64_t budget : {int64_t{-1}, int64_t{0}}) {
    LayerProviderOptions po;
    po.mem_budget = budget;
    po.decode_threads = 2;
    LayerProvider p(r->get(), layers_, po);
    p.Prefetch(2);  // the prefetch thread, the callers or both decode the bad chunk
    std::vector<Status> status(3);
    std::vector<std::thread> callers;
    for (size_t i = 0; i < status.size(); ++i) {
      callers.emplace_back([&, i] { status[i] = p.Acquire(2).status(); });
    }
    for (std::thread& t : callers) t.join();
    for (const Status& s : status) {
      EXPECT_TRUE(s.IsChecksumMismatch() || s.IsCorruption()) << s.ToString();
      EXPECT_NE(s.message().find("layer 2"), std::string::npos) << s.ToString();
      EXPECT_NE(s.message().find("blk.2.ffn_up.weight"), std::string::npos) << s.ToString();
      EXPECT_NE(s.message().find("block"), std::string::npos) << s.ToString();
    }
    // The other layers are unaffected.
    EXPECT_TRUE(p.Acquire(1).ok());
  }
}

TEST_F(SharedDecode, ReleasedBlocksDecodeAgainIdentically) {
  const size_t idx = layers_[0][4];  // ffn_gate: several blocks
  const TensorInfo& t = reader_->tensors()[idx];
  std::vector<uint8_t> first(t.raw_size), again(t.raw_size);
  ASSERT_TRUE(reader_->DecodeTensor(idx, first.data(), first.size(), 1).ok());
  std::vector<BlockRef> refs;
  for (size_t b = 0; b < t.block_count; ++b) refs.push_back({idx, b, nullptr});
  refs.push_back({reader_->tensors().size(), 0, nullptr});  // out of range: skipped
  refs.push_back({idx, t.block_count, nullptr});            // likewise
  reader_->ReleaseBlocks(refs.data(), refs.size());
  ASSERT_TRUE(reader_->DecodeTensor(idx, again.data(), again.size(), 2).ok());
  EXPECT_EQ(first, again);
}

// The blocks of `tensors`, tensor by tensor, into one buffer (out: nullptr
// until Bind gives them a place), as the provider lists a layer's.
std::vector<BlockRef> LayerRefs(const Reader& reader, const std::vector<size_t>& tensors,
                                std::vector<uint8_t>* buf) {
  size_t bytes = 0;
  for (size_t idx : tensors) bytes += reader.tensors()[idx].raw_size;
  buf->assign(bytes, 0);
  std::vector<BlockRef> refs;
  size_t off = 0;
  for (size_t idx : tensors) {
    const TensorInfo& t = reader.tensors()[idx];
    for (size_t b = 0; b < t.block_count; ++b) {
      refs.push_back({idx, b, buf->data() + off + uint64_t(b) * t.block_size});
    }
    off += t.raw_size;
  }
  return refs;
}

// Read (pread into a scratch buffer) and mapped decodes give the same
// bytes, for every layer, in pieces of every length (an odd piece makes a
// pair across two tensors, or a lone block), in reverse piece order (the
// scratch buffer reused across calls), and through a reader without a
// file (OpenMemory: the mapped path, then released).
TEST_F(SharedDecode, TransientDecodeEqualsMappedDecode) {
  ASSERT_TRUE(reader_->source()->can_read());
  const std::string path = PackedStories("gguf", "channel", "rans-alias");
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<uint64_t> image((bytes.size() + 7) / 8);  // 8-byte aligned for OpenMemory
  std::memcpy(image.data(), bytes.data(), bytes.size());
  Result<std::unique_ptr<Reader>> mem =
      Reader::OpenMemory(reinterpret_cast<const uint8_t*>(image.data()), bytes.size());
  ASSERT_TRUE(mem.ok()) << mem.status().ToString();
  std::vector<uint8_t> scratch;
  for (const auto& tensors : layers_) {
    std::vector<uint8_t> want, got;
    std::vector<BlockRef> refs = LayerRefs(*reader_, tensors, &want);
    ASSERT_TRUE(reader_->DecodeBlocks(refs.data(), refs.size(), 1).ok());
    for (const Reader* r : {reader_.get(), mem->get()}) {
      for (size_t piece : {size_t{1}, size_t{3}, size_t{8}, refs.size()}) {
        refs = LayerRefs(*r, tensors, &got);
        for (size_t end = refs.size(); end > 0;) {
          const size_t first = end > piece ? end - piece : 0;
          const Status s = r->DecodeBlocksTransient(&refs[first], end - first, &scratch);
          ASSERT_TRUE(s.ok()) << s.ToString();
          end = first;
        }
        EXPECT_EQ(got, want) << "piece " << piece;
      }
    }
  }
}

// A bad entry is refused before anything is read, as DecodeBlocks does.
TEST_F(SharedDecode, TransientDecodeRefusesBadRefs) {
  std::vector<uint8_t> scratch, out(1 << 20);
  const BlockRef bad[] = {{reader_->tensors().size(), 0, out.data()}};
  EXPECT_TRUE(reader_->DecodeBlocksTransient(bad, 1, &scratch).IsInvalidArgument());
  const size_t idx = layers_[0][0];
  const BlockRef past[] = {{idx, reader_->tensors()[idx].block_count, out.data()}};
  EXPECT_TRUE(reader_->DecodeBlocksTransient(past, 1, &scratch).IsInvalidArgument());
}

// A file truncated under an open reader: the read comes up short, which
// is an I/O error naming the file, tensor and block (the mapped path would
// fault instead), both from the Reader and from a budgeted provider's
// Acquire (naming the layer too); blocks before the cut still decode.
// (Params lie after the streams, past the cut: a layer that decoded would
// fault copying them, which the handler turns into an error.)
TEST_F(SharedDecode, TruncatedFileGivesNamedReadError) {
  InstallMappedFileFaultHandler();
  const std::string src = PackedStories("gguf", "channel", "rans-alias");
  std::ifstream in(src, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = tqf::testing::TempDir() + "/truncated-transient.tqf";
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Result<std::unique_ptr<Reader>> r = Reader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const size_t cut_tensor = layers_[2][5];  // blk.2.ffn_up
  const TensorInfo& t = (*r)->tensors()[cut_tensor];
  ASSERT_GT(t.block_count, 1u);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(t.data_offset + 100)), 0);

  std::vector<uint8_t> scratch, buf;
  std::vector<BlockRef> refs = LayerRefs(**r, layers_[0], &buf);
  Status s = (*r)->DecodeBlocksTransient(refs.data(), refs.size(), &scratch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  refs = LayerRefs(**r, {cut_tensor}, &buf);
  s = (*r)->DecodeBlocksTransient(refs.data(), refs.size(), &scratch);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("short read"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("blk.2.ffn_up.weight' block 0/"), std::string::npos) << s.ToString();

  LayerProviderOptions po;
  po.mem_budget = 0;
  po.decode_threads = 2;
  LayerProvider p(r->get(), layers_, po);
  s = p.Acquire(2).status();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("layer 2"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("short read"), std::string::npos) << s.ToString();
  std::remove(path.c_str());
}

// A budget in layers is that many of the largest layer's bytes, whatever
// mem_budget says, and holds like the same budget given in bytes.
TEST_F(SharedDecode, LayerCountBudgetIsLayersTimesLargestLayer) {
  size_t largest = 0;
  {
    LayerProvider p(reader_.get(), layers_, LayerProviderOptions());
    for (size_t l = 0; l < layers_.size(); ++l) {
      largest = std::max(largest, p.layer_bytes(static_cast<int>(l)));
    }
    EXPECT_EQ(p.mem_budget(), -1);
  }
  for (int n : {0, 1, 2, 3}) {
    LayerProviderOptions po;
    po.mem_budget = 12345;  // ignored
    po.mem_budget_layers = n;
    po.decode_threads = 2;
    LayerProvider p(reader_.get(), layers_, po);
    EXPECT_EQ(p.mem_budget(), static_cast<int64_t>(n * largest)) << n;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t l = 0; l < layers_.size(); ++l) {
        const auto layer = p.Acquire(static_cast<int>(l));
        ASSERT_TRUE(layer.ok()) << layer.status().ToString();
        p.Prefetch(static_cast<int>((l + 1) % layers_.size()));
      }
    }
    EXPECT_LE(p.stats().peak_held_bytes, std::max<size_t>(n, 1) * largest) << n;
  }
}

// Layers of different sizes (here: every other layer without its query
// matrix, a page smaller, as mixed schemes make them) share one
// buffer size, so a budget-0 run maps and faults in one buffer and reuses
// it for every layer, not one per layer; the layers still decode to the
// reference bytes, and the budget still holds.
TEST_F(SharedDecode, LayersOfMixedSizesReuseOneBuffer) {
  std::vector<std::vector<size_t>> layers = layers_;
  for (size_t l = 1; l < layers.size(); l += 2) layers[l].erase(layers[l].begin());
  LayerProviderOptions po;
  po.mem_budget = 0;
  po.prefetch = false;
  po.decode_threads = 2;
  LayerProvider p(reader_.get(), layers, po);
  size_t largest = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    largest = std::max(largest, p.layer_bytes(static_cast<int>(l)));
  }
  ASSERT_LT(p.layer_bytes(1), largest) << "the test needs layers of different sizes";
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t l = 0; l < layers.size(); ++l) {
      const auto layer = p.Acquire(static_cast<int>(l));
      ASSERT_TRUE(layer.ok()) << layer.status().ToString();
      // Tensor by tensor, codes and params: a reused buffer keeps another
      // layer's bytes in the alignment padding, which nothing reads.
      const std::vector<uint8_t> want =
          Reference(*reader_, layers[l], UsedBytes(*reader_, layers[l]));
      for (size_t i = 0; i < layers[l].size(); ++i) {
        const TensorInfo& t = reader_->tensors()[layers[l][i]];
        const size_t off = static_cast<size_t>((*layer)->tensor(i) - (*layer)->base());
        ASSERT_EQ(0, std::memcmp((*layer)->tensor(i), want.data() + off, t.raw_size)) << t.name;
        ASSERT_EQ(0, std::memcmp((*layer)->params(i), want.data() + off + LayoutOf(t).params_offset,
                                 t.num_params * sizeof(float)))
            << t.name;
      }
    }
  }
  EXPECT_EQ(p.stats().buffer_maps, 1u);
  EXPECT_EQ(p.stats().peak_held_bytes, largest);
  // Without a budget nothing is pooled and every layer keeps its buffer:
  // exact sizes, nothing faulted in beyond them.
  LayerProvider held(reader_.get(), layers, LayerProviderOptions());
  size_t sum = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    ASSERT_TRUE(held.Acquire(static_cast<int>(l)).ok());
    sum += held.layer_bytes(static_cast<int>(l));
  }
  EXPECT_EQ(held.stats().held_bytes, sum);
}

}  // namespace
}  // namespace tqf::rt
