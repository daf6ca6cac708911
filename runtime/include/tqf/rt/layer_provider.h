// LayerProvider: hands out the decoded weights of a transformer layer,
// decoding them from a tqf::Reader on demand, within a memory budget.
//
// Budget semantics (`mem_budget`, bytes of decoded layer weights):
//   < 0 (no --mem-budget): every layer is decoded once, on first use (or
//       ahead of it by the prefetcher), and kept for the provider's life.
//   >= 0: the decoded bytes the provider holds -- cached layers, the layer
//       in use, a layer being prefetched and pooled buffers, all counted --
//       never exceed max(mem_budget, one layer buffer). Buffers are laid out
//       per layer but sized alike: every layer within 25% of the largest
//       takes the largest's size (so any freed buffer serves any layer, and
//       a byte budget holds whole largest layers). The layer in use is never evicted; of
//       the rest, the one whose next use in the forward pass's cyclic layer order is
//       farthest is evicted first (least-recently-used would evict exactly the layer
//       needed next). A prefetch starts only
//       if it fits in the budget next to what is pinned, so:
//   0:  the paper's mode: every layer is decoded each time it is needed,
//       synchronously, and freed when the next one is needed; at most one
//       decoded layer exists at a time and nothing is prefetched.
//   2 layers: the layer in use plus the next one decoding in the
//       background (every layer is still decoded once per use).
//   more: the model prefetches one layer ahead; the rest of the budget
//       keeps layers cached (k cached layers save k decodes per token). A
//       deeper prefetch would only move decodes earlier onto the same
//       cores, and each layer it held would be one layer less cached.
// Only layers are counted: the embedding, output head and norms are held
// by the model outside the budget (see Model::resident_bytes()).
//
// Buffers: a layer's decoded bytes live in one anonymous mapping, 2 MiB
// aligned, with huge pages asked for (MADV_HUGEPAGE: fewer TLB misses in
// the decode's writes and every token's reads) and pre-faulted
// (MADV_POPULATE_WRITE) where the kernel has them. In budget mode an
// evicted layer's buffer is kept in a pool (still counted as held) and
// reused for the next decode, which avoids the page faults and zeroing of
// fresh memory on every decode; buffers beyond the budget are unmapped,
// returning their pages to the OS at once.
//
// Decoding: a layer's blocks form one list cut into chunks of 8 blocks
// that threads claim atomically. Prefetch(l) hands layer l to a
// background thread (which decodes with all decode threads: decoding
// dominates a budgeted run, and sharing the cores measured faster than
// reserving one); an Acquire(l) that finds l still decoding claims and
// decodes its remaining chunks too, with its own decode threads, instead
// of waiting idle. Decoded bytes do not depend on which thread decodes a
// chunk. A chunk's compressed bytes never enter the process: each thread
// reads them (pread, Reader::DecodeBlocksTransient) a pair of blocks at a
// time into a buffer of its own and decodes from there. Reading them
// through the mapping instead cost a page fault per 4 KiB and a madvise to
// release them again (~230K pages per token for a 1B model: ~18% of a
// budgeted token's CPU time by perf) where the copy costs less. For a URL
// the bytes are fetched into the Source and released once decoded
// (Reader::ReleaseBlocks), so the resident set stays near one chunk per
// decoding thread either way; the next layer's are requested ahead
// (Reader::WillNeed: the page cache, or the network).
// A decode error, found by whichever thread decoded the failing chunk, is
// returned by Acquire naming layer, tensor and block.
//
// Ownership: the Reader must outlive the provider. DecodedLayer handles are
// shared_ptrs; a handle keeps its layer alive (and pinned) until released
// and must not outlive the provider.
// Thread-safety: Acquire/Prefetch/stats may be called from any thread; the
// model calls them from its one driving thread.
#ifndef TQF_RUNTIME_LAYER_PROVIDER_H_
#define TQF_RUNTIME_LAYER_PROVIDER_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "tqf/reader.h"
#include "tqf/rt/kernels.h"
#include "tqf/result.h"

namespace tqf::rt {

struct LayerProviderOptions {
  int64_t mem_budget = -1;  // bytes; < 0 = unlimited (decode once, keep)
  // >= 0: the budget in layers instead, `mem_budget_layers` times the
  // largest layer's decoded bytes (layer_bytes()); mem_budget is ignored.
  int mem_budget_layers = -1;
  int decode_threads = 0;  // threads for on-demand decodes (0: all cores)
  bool prefetch = true;    // decode the next layer in the background
  // Unlimited budget only: hold 4-bit-or-less tensors as nibbles
  // (held_nibbles.h; also off with TQF_HELD_FORM=int8), those that fit in
  // groups of 16 rows (NibbleGroupsFit: per-block or per-row scales) so if
  // nibble_groups (for a kernel path with matmul_n4_group16; the Model sets it).
  bool hold_nibbles = true;
  bool nibble_groups = false;
};

struct LayerProviderStats {
  uint64_t acquires = 0;
  uint64_t hits = 0;              // layer was decoded and cached before it was asked for
  uint64_t prefetch_hits = 0;     // layer came from the prefetcher (maybe after a wait)
  uint64_t misses = 0;            // decoded on demand in the calling thread
  uint64_t prefetches = 0;        // background decodes started
  uint64_t prefetch_skipped = 0;  // not started: would exceed the budget
  uint64_t evictions = 0;
  uint64_t decodes = 0;          // layer decodes of any kind
  uint64_t decoded_bytes = 0;    // bytes produced by those decodes
  double decode_seconds = 0;     // wall time inside decodes (both threads)
  double wait_seconds = 0;       // time Acquire kept the caller waiting
  uint64_t helped_chunks = 0;    // 8-block chunks an Acquire decoded of a layer it found decoding
  uint64_t held_bytes = 0;       // decoded-layer buffers mapped now (in use, cached, pooled)
  uint64_t peak_held_bytes = 0;  // their maximum
  uint64_t buffer_maps = 0;      // buffers mapped (and faulted in) fresh: none pooled fitted
};

// How the runtime lays out a decoded tensor wherever it holds one (layer
// buffers, held tensors, the storage service's slots): its decoded bytes,
// then, 64-byte aligned, a private copy of its quantization parameters.
// Compute reads only these copies, never the mapped file, so a file
// truncated or rewritten under a running model cannot fault inside a
// kernel (see Reader::CopyParams).
struct DecodedTensorLayout {
  size_t params_offset = 0;  // from the tensor's start; == bytes when it has no params
  size_t bytes = 0;          // decoded bytes + params, each padded to 64
};
DecodedTensorLayout LayoutOf(const TensorInfo& t);

// The decoded tensors of one layer, in the order the provider was given.
// It borrows its buffer from the provider's pool (see LayerProvider).
class DecodedLayer {
 public:
  // offsets[i]: where tensor i starts in the buffer; params[i]: where its
  // params start, or SIZE_MAX for none; luts[i] (empty: none): where its
  // 16-code table starts if it is nibble-held (held_nibbles.h), else
  // SIZE_MAX; layouts[i] (empty: all kRows): a nibble-held tensor's layout.
  DecodedLayer(int index, uint8_t* base, size_t bytes, std::vector<size_t> offsets,
               std::vector<size_t> params, std::vector<size_t> luts = {},
               std::vector<NibbleLayout> layouts = {})
      : index_(index),
        base_(base),
        bytes_(bytes),
        offsets_(std::move(offsets)),
        params_(std::move(params)),
        luts_(std::move(luts)),
        layouts_(std::move(layouts)) {}
  DecodedLayer(const DecodedLayer&) = delete;
  DecodedLayer& operator=(const DecodedLayer&) = delete;

  int index() const { return index_; }
  size_t bytes() const { return bytes_; }
  uint8_t* base() const { return base_; }
  // Decoded bytes of the i-th tensor (64-byte aligned).
  const uint8_t* tensor(size_t i) const { return base_ + offsets_[i]; }
  // The i-th tensor's quantization parameters (64-byte aligned), or
  // nullptr if it has none.
  const float* params(size_t i) const {
    return params_[i] == SIZE_MAX ? nullptr : reinterpret_cast<const float*>(base_ + params_[i]);
  }
  // The i-th tensor's code table if it is held as nibbles (WeightView::lut),
  // else nullptr (int8 codes).
  const int8_t* lut(size_t i) const {
    return luts_.empty() || luts_[i] == SIZE_MAX
               ? nullptr
               : reinterpret_cast<const int8_t*>(base_ + luts_[i]);
  }
  // The i-th tensor's nibble layout (WeightView::nibble_layout).
  NibbleLayout nibble_layout(size_t i) const {
    return layouts_.empty() ? NibbleLayout::kRows : layouts_[i];
  }

 private:
  int index_;
  uint8_t* base_;
  size_t bytes_;
  std::vector<size_t> offsets_, params_, luts_;
  std::vector<NibbleLayout> layouts_;
};

// Decodes tensor `index` of `reader` into out[0..LayoutOf(t).bytes): its
// decoded bytes and a copy of its params, as LayoutOf describes. Reader
// errors as they come.
Status DecodeTensorWithParams(const Reader& reader, size_t index, uint8_t* out, int threads);

// Decodes tensors indices[0..n) of `reader` into outs[i][0..raw_size) like
// Reader::DecodeTensor (blocks in parallel on `threads` threads, 0 = all),
// but one list of blocks across the tensors (so a tensor's odd last block
// pairs with the next one's first), without keeping their compressed
// bytes in the process (Reader::DecodeBlocksTransient, see LayerProvider),
// so the file-backed part of the resident set stays small while big
// tensors decode. The first failing block's error (naming tensor and block).
Status DecodeTensorsReleasing(const Reader& reader, const size_t* indices, uint8_t* const* outs,
                              size_t n, int threads);

// The weight matrices of each layer of `reader`'s model, in the order a
// Model binds them (blk.N.attn_q, attn_k, attn_v, attn_output, ffn_gate,
// ffn_up, ffn_down): for a LayerProvider made outside a Model (benchmarks,
// tests). Layers from 0 until the first with none of them; a missing
// matrix is left out, unchecked (Model::Init checks names and shapes).
std::vector<std::vector<size_t>> FindLayerMatrices(const Reader& reader);

// Where a Model gets its decoded layers: the built-in LayerProvider, or an
// external source such as a `tqf serve` client (ModelOptions::layer_source).
// Thread-safety: implementations must allow calls from any thread.
class LayerSource {
 public:
  virtual ~LayerSource() = default;
  // Called once by the Model before any Acquire: layer l is made of the
  // reader's tensors layers[l], and Acquire(l)'s tensor(i) must be the
  // decoded bytes of layers[l][i]. An error refuses the model.
  virtual Status Bind(const Reader& reader, const std::vector<std::vector<size_t>>& layers) = 0;
  // The decoded layer, pinned until the last shared_ptr goes.
  virtual Result<std::shared_ptr<const DecodedLayer>> Acquire(int layer) = 0;
  // A hint that `layer` comes next; never blocks on a decode.
  virtual void Prefetch(int layer) = 0;
  virtual LayerProviderStats stats() const = 0;
  // Decoded bytes of layer `layer`.
  virtual size_t layer_bytes(int layer) const = 0;
  // A non-layer tensor (embedding, output head) of `reader` that the source
  // already holds, laid out as LayoutOf(reader.tensors()[tensor_index])
  // says (decoded bytes, then params) and valid while the source lives;
  // nullptr if the model must decode it itself.
  virtual const uint8_t* HeldTensor(const Reader& reader, size_t tensor_index) const {
    return nullptr;
  }
};

class DecodeJob;  // internal to layer_provider.cc: one layer's decode, shared by threads

class LayerProvider : public LayerSource {
 public:
  // `layers[l]` lists the reader's tensor indices making up layer l.
  LayerProvider(const Reader* reader, std::vector<std::vector<size_t>> layers,
                const LayerProviderOptions& options);
  ~LayerProvider() override;  // waits for a background decode to finish
  LayerProvider(const LayerProvider&) = delete;
  LayerProvider& operator=(const LayerProvider&) = delete;

  // OK if `layers` is what the provider was made with (kInvalidArgument).
  Status Bind(const Reader& reader, const std::vector<std::vector<size_t>>& layers) override;
  // The decoded layer `layer`, decoding it if needed. Errors from the
  // reader (kCorruption, kChecksumMismatch ...) are returned as they are;
  // kResourceExhausted if memory for the layer cannot be obtained.
  Result<std::shared_ptr<const DecodedLayer>> Acquire(int layer) override;
  // Starts decoding `layer` in the background if it is not decoded, not
  // already under way, and fits the budget. Never blocks on a decode.
  void Prefetch(int layer) override;

  LayerProviderStats stats() const override;
  size_t num_layers() const { return layers_.size(); }
  // Decoded bytes layer `layer` occupies (including alignment padding).
  size_t layer_bytes(int layer) const override { return layer_bytes_[layer]; }
  // The budget in bytes in force (a layer count converted), or -1 for none.
  int64_t mem_budget() const { return options_.mem_budget; }

 private:
  enum class State { kAbsent, kDecoding, kReady };
  struct Entry {
    State state = State::kAbsent;
    std::shared_ptr<const DecodedLayer> layer;  // kReady
    // kDecoding: the decode any thread may help with; null once its chunks
    // are done and one thread (its completer) is building the layer.
    std::shared_ptr<DecodeJob> job;
    Status error;  // kAbsent after a failed decode: what failed
    bool from_prefetch = false;
    bool used = false;
  };
  class Memory;

  // Evicts unpinned cached layers, the one needed farthest ahead of `layer`
  // first (a forward pass visits layers cyclically), until a buffer for
  // `layer` fits the budget (a pooled buffer, or new bytes).
  // Returns whether it fits. mu_ held.
  bool MakeRoom(int layer);
  // Takes a buffer for `layer` from the pool or maps a new one; nullptr
  // if the system refuses memory.
  uint8_t* TakeBuffer(int layer);
  // Puts `layer` in kDecoding with a new job decoding into `buffer` (taken
  // by the caller). mu_ held.
  std::shared_ptr<DecodeJob> StartJob(int layer, uint8_t* buffer, bool prefetch);
  // Waits for `job`'s chunks (mu_ released meanwhile). The first thread to
  // get here for a job completes it: copies the params, marks the layer
  // ready (or absent, keeping the error) and wakes waiters; it gets the
  // error. Other threads get OK and find the entry's new state.
  // *lock holds mu_ on entry and on return.
  Status Complete(std::unique_lock<std::mutex>* lock, const std::shared_ptr<DecodeJob>& job);
  // The decoded layer over `job`'s buffer, its params copied (mu_ not held).
  Result<std::shared_ptr<const DecodedLayer>> BuildLayer(const DecodeJob& job);
  void MarkReady(int layer, std::shared_ptr<const DecodedLayer> decoded);
  // `decoded` repacked with its fitting tensors as nibbles (held_nibbles.h)
  // in a buffer of its own, or `decoded` itself if none fits (or memory
  // for the repacked one is refused).
  std::shared_ptr<const DecodedLayer> HoldNibbles(std::shared_ptr<const DecodedLayer> decoded);
  void WorkerLoop();

  const Reader* reader_;
  std::vector<std::vector<size_t>> layers_;
  std::vector<size_t> layer_bytes_;
  std::vector<size_t> buffer_bytes_;  // per layer: its buffer, the largest layer's if within 25%
  std::vector<std::vector<size_t>> offsets_, params_;  // per layer, per tensor
  LayerProviderOptions options_;
  std::shared_ptr<Memory> memory_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
  std::deque<std::shared_ptr<DecodeJob>> queue_;  // prefetches for the worker
  bool stop_ = false;
  LayerProviderStats stats_;
  std::thread worker_;
};

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_LAYER_PROVIDER_H_
