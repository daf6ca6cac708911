// LayerProvider: on-demand layer decoding with a cache that evicts the
// layer needed farthest ahead, a byte budget, a buffer pool and one
// background prefetch thread. See
// layer_provider.h.
#include "tqf/rt/layer_provider.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "tqf/rt/held_nibbles.h"

namespace tqf::rt {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t{2} << 20;
// Blocks per unit of decode work: even, so that a pair (rans-alias decodes
// two blocks interleaved) never straddles two units; small, so that a
// thread joining late still finds work and few compressed pages are
// mapped at once (8 x 64 KiB blocks: ~0.5 MB per decoding thread).
constexpr size_t kChunkBlocks = 8;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Maps `bytes` of anonymous memory for decoded weights, pre-faulted, so
// that a decode writes into mapped pages instead of taking a fault every
// 4 KiB, with 2 MiB pages asked for: decodes write and the kernels stream
// every byte of a layer per token, and huge pages cut that stream's TLB
// misses (on a 2-vCPU VM, generation with held layers 1.09-1.19x in
// alternating rounds; budget 0 lost ~25% without them in a separate run).
// Getting them costs the first pass (prompt at a 4-layer budget 2.7-4.5
// tok/s vs 5.3-7.0): budgets reuse pooled buffers, so it is paid once.
// Both are hints: a kernel without them gives plain, lazily faulted pages.
uint8_t* MapDecodeBuffer(size_t bytes, bool huge) {
  // A 2 MiB-aligned start, so that the whole buffer can be huge pages:
  // over-map by one huge page and trim the slack.
  const size_t span = bytes + kHugePage;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t raw = reinterpret_cast<uintptr_t>(p);
  const uintptr_t start = (raw + kHugePage - 1) / kHugePage * kHugePage;
  if (start > raw) ::munmap(p, start - raw);
  const uintptr_t tail = start + bytes, end = raw + span;
  if (end > tail) ::munmap(reinterpret_cast<void*>(tail), end - tail);
  uint8_t* buffer = reinterpret_cast<uint8_t*>(start);
#ifdef MADV_HUGEPAGE
  if (huge) ::madvise(buffer, bytes, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
  ::madvise(buffer, bytes, MADV_POPULATE_WRITE);
#endif
  return buffer;
}

}  // namespace

// One layer's (or tensor list's) decode, cut into chunks of kChunkBlocks
// blocks that any thread may claim: the prefetch thread, a thread that
// waits for the layer in Acquire, and the OpenMP threads each brings. A
// chunk is read and decoded by Reader::DecodeBlocksTransient: a local
// file's bytes are read into the thread's buffer, a URL's released once
// decoded (only pages wholly inside the chunk, so a neighbouring chunk in
// flight never re-fetches its pages). Which thread decodes a chunk does
// not change its bytes.
class DecodeJob {
 public:
  DecodeJob(const Reader* reader, std::vector<BlockRef> refs, int layer = -1,
            uint8_t* buffer = nullptr)
      : layer_(layer),
        buffer_(buffer),
        start_(std::chrono::steady_clock::now()),
        reader_(reader),
        refs_(std::move(refs)),
        chunks_((refs_.size() + kChunkBlocks - 1) / kChunkBlocks),
        errors_(chunks_) {}

  // For a layer's job: the layer, the buffer it decodes into (owned by the
  // job until the layer is built) and when it was started.
  int layer() const { return layer_; }
  uint8_t* buffer() const { return buffer_; }
  std::chrono::steady_clock::time_point start() const { return start_; }

  // Decodes unclaimed chunks until none is left to claim, on as many of
  // `threads` threads (the caller and an OpenMP team) as are not already
  // decoding this job: a thread beyond the cores only takes turns with the
  // others, and one descheduled while it holds a chunk delays the whole
  // layer. Chunks other threads claimed may still be decoding when it
  // returns. Any number of callers at once. Returns how many chunks it
  // decoded.
  size_t Work(int threads) {
    if (threads <= 0) threads = omp_get_max_threads();
    threads -= active_.load(std::memory_order_relaxed);
    if (threads <= 0) return 0;
    threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), chunks_));
    size_t decoded = 0;
    if (threads > 1) {
#pragma omp parallel num_threads(threads) reduction(+ : decoded)
      decoded += RunChunks();
    } else {
      decoded = RunChunks();
    }
    return decoded;
  }
  // Waits until every chunk is decoded; the first failing block's error in
  // list order (a chunk's DecodeBlocks names tensor and block), or OK.
  Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return released_ || chunks_ == 0; });
    for (const Status& s : errors_) TQF_RETURN_IF_ERROR(s);
    return Status::OK();
  }

 private:
  size_t RunChunks() {
    active_.fetch_add(1, std::memory_order_relaxed);
    for (size_t decoded = 0;; ++decoded) {
      const size_t c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks_) {
        active_.fetch_sub(1, std::memory_order_relaxed);
        return decoded;
      }
      const size_t first = c * kChunkBlocks;
      const size_t count = std::min(kChunkBlocks, refs_.size() - first);
      // Read into this thread's buffer, not through the mapping: faulting
      // in ~15K pages of compressed bytes per layer and releasing them
      // again cost more kernel time than copying them (see the header).
      thread_local std::vector<uint8_t> scratch;
      errors_[c] = reader_->DecodeBlocksTransient(&refs_[first], count, &scratch);
      bool last = false;
      {
        // The lock publishes the chunk's bytes and status to Wait().
        std::lock_guard<std::mutex> lock(mu_);
        last = ++done_ == chunks_;
      }
      if (last) {
        // The pages chunks shared with a neighbour, which a URL's
        // ReleaseBlocks kept, go too (a local file's were never mapped);
        // then the waiters learn it is done.
        for (size_t i = 0; i < refs_.size(); ++i) {
          if (i == 0 || refs_[i].tensor != refs_[i - 1].tensor) reader_->DontNeed(refs_[i].tensor);
        }
        std::lock_guard<std::mutex> lock(mu_);
        released_ = true;
        cv_.notify_all();
      }
    }
  }

  const int layer_;
  uint8_t* const buffer_;
  const std::chrono::steady_clock::time_point start_;
  const Reader* reader_;
  const std::vector<BlockRef> refs_;
  const size_t chunks_;
  std::vector<Status> errors_;  // per chunk, written by the thread that decoded it
  std::atomic<size_t> next_{0};
  std::atomic<int> active_{0};  // threads inside RunChunks
  std::mutex mu_;
  std::condition_variable cv_;
  size_t done_ = 0;        // chunks decoded (mu_)
  bool released_ = false;  // all decoded and their pages released (mu_)
};

namespace {

// The blocks of tensors indices[0..n) of `reader`, tensor i's into outs[i],
// as one list: a tensor's odd last block pairs with the next one's first.
std::vector<BlockRef> BlockList(const Reader& reader, const size_t* indices, uint8_t* const* outs,
                                size_t n) {
  std::vector<BlockRef> refs;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& t = reader.tensors()[indices[i]];
    for (size_t b = 0; b < t.block_count; ++b) {  // none for an empty tensor
      refs.push_back({indices[i], b, outs[i] + static_cast<uint64_t>(b) * t.block_size});
    }
  }
  return refs;
}

}  // namespace

// Decoded-layer buffers: those in use by DecodedLayers plus those pooled
// for reuse. `resident` counts both. Its own lock, because a layer's
// deleter may run with or without the provider's lock held.
class LayerProvider::Memory {
 public:
  explicit Memory(bool pool) : pool_enabled_(pool) {}
  ~Memory() {
    for (auto& b : pool_) ::munmap(b.first, b.second);
  }

  uint64_t resident() {
    std::lock_guard<std::mutex> lock(mu_);
    return resident_;
  }
  uint64_t peak() {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }
  bool pooled() const { return pool_enabled_; }
  uint64_t maps() {
    std::lock_guard<std::mutex> lock(mu_);
    return maps_;
  }
  bool HasPooled(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& b : pool_) {
      if (b.second == bytes) return true;
    }
    return false;
  }
  // A pooled buffer of `bytes`, else a fresh mapping (after unmapping the
  // pooled buffers of other sizes); nullptr if the mapping fails.
  uint8_t* Take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < pool_.size(); ++i) {
      if (pool_[i].second == bytes) {
        uint8_t* p = pool_[i].first;
        pool_.erase(pool_.begin() + static_cast<long>(i));
        return p;
      }
    }
    for (auto& b : pool_) {
      ::munmap(b.first, b.second);
      resident_ -= b.second;
    }
    pool_.clear();
    uint8_t* p = MapDecodeBuffer(bytes, /*huge=*/true);
    if (p == nullptr) return nullptr;
    maps_++;
    resident_ += bytes;
    peak_ = std::max(peak_, resident_);
    return p;
  }
  void Give(uint8_t* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (pool_enabled_) {
      pool_.emplace_back(p, bytes);
    } else {
      ::munmap(p, bytes);
      resident_ -= bytes;
    }
  }
  // Unmaps every pooled buffer (to make room for a new size).
  void DropPool() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& b : pool_) {
      ::munmap(b.first, b.second);
      resident_ -= b.second;
    }
    pool_.clear();
  }

 private:
  std::mutex mu_;
  const bool pool_enabled_;
  uint64_t resident_ = 0;
  uint64_t peak_ = 0;
  uint64_t maps_ = 0;
  std::vector<std::pair<uint8_t*, size_t>> pool_;
};

DecodedTensorLayout LayoutOf(const TensorInfo& t) {
  DecodedTensorLayout l;
  l.params_offset = (t.raw_size + kAlign - 1) / kAlign * kAlign;
  l.bytes = l.params_offset + (t.num_params * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  return l;
}

Status DecodeTensorWithParams(const Reader& reader, size_t index, uint8_t* out, int threads) {
  const TensorInfo& t = reader.tensors()[index];
  TQF_RETURN_IF_ERROR(reader.DecodeTensor(index, out, t.raw_size, threads));
  return reader.CopyParams(index, reinterpret_cast<float*>(out + LayoutOf(t).params_offset),
                           t.num_params);
}

Status DecodeTensorsReleasing(const Reader& reader, const size_t* indices, uint8_t* const* outs,
                              size_t n, int threads) {
  for (size_t i = 0; i < n; ++i) {
    if (indices[i] >= reader.tensors().size()) {
      return Status::InvalidArgument("tensor index " + std::to_string(indices[i]) +
                                     " out of range");
    }
  }
  DecodeJob job(&reader, BlockList(reader, indices, outs, n));
  job.Work(threads);
  return job.Wait();
}

LayerProvider::LayerProvider(const Reader* reader, std::vector<std::vector<size_t>> layers,
                             const LayerProviderOptions& options)
    : reader_(reader),
      layers_(std::move(layers)),
      options_(options),
      memory_(std::make_shared<Memory>(options.mem_budget >= 0 || options.mem_budget_layers >= 0)),
      entries_(layers_.size()) {
  for (const std::vector<size_t>& tensors : layers_) {
    std::vector<size_t> offsets, params;
    size_t off = 0;
    for (size_t idx : tensors) {
      const TensorInfo& t = reader_->tensors()[idx];
      const DecodedTensorLayout l = LayoutOf(t);
      offsets.push_back(off);
      params.push_back(t.num_params ? off + l.params_offset : SIZE_MAX);
      off += l.bytes;
    }
    offsets_.push_back(std::move(offsets));
    params_.push_back(std::move(params));
    layer_bytes_.push_back((std::max<size_t>(off, 1) + kPage - 1) / kPage * kPage);
  }
  const size_t largest =
      layer_bytes_.empty() ? 0 : *std::max_element(layer_bytes_.begin(), layer_bytes_.end());
  // Buffers of one size, so that a freed buffer serves any layer: layers of
  // mixed schemes differ by their scales (a --bits file: up to ~12% at
  // blocks of 32), and a buffer pool that wanted exact sizes unmapped and
  // re-faulted one for nearly every layer of a budgeted run.
  // Without a budget nothing is pooled, and each layer keeps its buffer
  // (faulted in whole): exact sizes there.
  for (size_t bytes : layer_bytes_) {
    buffer_bytes_.push_back(memory_->pooled() && largest <= bytes + bytes / 4 ? largest : bytes);
  }
  if (options_.mem_budget_layers >= 0) {
    options_.mem_budget = static_cast<int64_t>(largest) * options_.mem_budget_layers;
  }
  if (options_.prefetch) worker_ = std::thread([this] { WorkerLoop(); });
}

LayerProvider::~LayerProvider() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    // A queued job nobody completed still owns its buffer.
    for (const auto& job : queue_) {
      if (entries_[job->layer()].job == job)
        memory_->Give(job->buffer(), buffer_bytes_[job->layer()]);
    }
    queue_.clear();
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Status LayerProvider::Bind(const Reader& reader, const std::vector<std::vector<size_t>>& layers) {
  if (&reader != reader_ || layers != layers_) {
    return Status::InvalidArgument(
        "LayerProvider::Bind: not the reader and layers it was made with");
  }
  return Status::OK();
}

uint8_t* LayerProvider::TakeBuffer(int layer) { return memory_->Take(buffer_bytes_[layer]); }

std::shared_ptr<DecodeJob> LayerProvider::StartJob(int layer, uint8_t* buffer, bool prefetch) {
  const std::vector<size_t>& tensors = layers_[layer];
  std::vector<uint8_t*> outs;
  for (size_t i = 0; i < tensors.size(); ++i) outs.push_back(buffer + offsets_[layer][i]);
  auto job = std::make_shared<DecodeJob>(
      reader_, BlockList(*reader_, tensors.data(), outs.data(), tensors.size()), layer, buffer);
  Entry& e = entries_[layer];
  e.state = State::kDecoding;
  e.job = job;
  e.error = Status::OK();
  e.from_prefetch = prefetch;
  e.used = false;
  return job;
}

Result<std::shared_ptr<const DecodedLayer>> LayerProvider::BuildLayer(const DecodeJob& job) {
  const int layer = job.layer();
  std::shared_ptr<Memory> memory = memory_;
  // From here the buffer belongs to the layer: an error below returns it
  // to the pool with it.
  std::shared_ptr<const DecodedLayer> decoded(
      new DecodedLayer(layer, job.buffer(), buffer_bytes_[layer], offsets_[layer], params_[layer]),
      [memory](DecodedLayer* d) {
        memory->Give(d->base(), d->bytes());
        delete d;
      });
  const std::vector<size_t>& tensors = layers_[layer];
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = reader_->tensors()[tensors[i]];
    if (t.num_params == 0) continue;
    TQF_RETURN_IF_ERROR(reader_->CopyParams(
        tensors[i], reinterpret_cast<float*>(job.buffer() + params_[layer][i]), t.num_params));
  }
  return decoded;
}

Status LayerProvider::Complete(std::unique_lock<std::mutex>* lock,
                               const std::shared_ptr<DecodeJob>& job) {
  const int layer = job->layer();
  lock->unlock();
  Status s = job->Wait();
  lock->lock();
  Entry& e = entries_[layer];
  if (e.job != job) return Status::OK();  // another thread completes it
  e.job.reset();                          // this one does
  lock->unlock();
  Result<std::shared_ptr<const DecodedLayer>> decoded = s;
  if (s.ok()) {
    decoded = BuildLayer(*job);
    if (decoded.ok() && options_.mem_budget < 0 && options_.hold_nibbles &&
        NibbleHoldingEnabled()) {
      decoded = HoldNibbles(*std::move(decoded));
    }
  } else {
    memory_->Give(job->buffer(), buffer_bytes_[layer]);
  }
  const double secs = Seconds(job->start());
  lock->lock();
  if (!decoded.ok()) {
    e.state = State::kAbsent;
    e.error = decoded.status().WithContext("layer " + std::to_string(layer));
    cv_.notify_all();
    return e.error;
  }
  stats_.decodes++;
  stats_.decoded_bytes += layer_bytes_[layer];
  stats_.decode_seconds += secs;
  MarkReady(layer, *std::move(decoded));
  cv_.notify_all();
  return Status::OK();
}

std::shared_ptr<const DecodedLayer> LayerProvider::HoldNibbles(
    std::shared_ptr<const DecodedLayer> decoded) {
  const int layer = decoded->index();
  const int threads = options_.decode_threads;
  const NibbleLayerPlan plan = PlanNibbleLayer(*reader_, layers_[layer], *decoded, threads,
                                               options_.nibble_groups && NibbleGroupsEnabled());
  if (plan.nibble_tensors == 0) return decoded;
  uint8_t* buffer = memory_->Take(plan.bytes);
  if (buffer == nullptr) return decoded;
  WriteNibbleLayer(plan, *reader_, layers_[layer], *decoded, buffer, threads);
  std::shared_ptr<Memory> memory = memory_;
  return std::shared_ptr<const DecodedLayer>(
      new DecodedLayer(layer, buffer, plan.bytes, plan.offsets, plan.params, plan.luts,
                       plan.layouts),
      [memory](DecodedLayer* d) {
        memory->Give(d->base(), d->bytes());
        delete d;
      });
}

void LayerProvider::MarkReady(int layer, std::shared_ptr<const DecodedLayer> decoded) {
  Entry& e = entries_[layer];
  e.layer = std::move(decoded);
  e.state = State::kReady;
}

bool LayerProvider::MakeRoom(int layer) {
  if (options_.mem_budget < 0) return true;
  const uint64_t budget = static_cast<uint64_t>(options_.mem_budget);
  const size_t need = buffer_bytes_[layer];
  auto fits = [&] { return memory_->HasPooled(need) || memory_->resident() + need <= budget; };
  // Victim: the unpinned cached layer whose next use is farthest away.
  // A forward pass visits layers in order, cyclically from `layer`, so that
  // is the layer with the largest forward distance from `layer` (Belady's
  // choice). Plain least-recently-used would evict exactly the layer
  // needed next and, under any budget below the model, never hit.
  const size_t n = layers_.size();
  while (!fits()) {
    size_t victim = n, farthest = 0;
    for (size_t i = 0; i < n; ++i) {
      const Entry& c = entries_[i];
      if (c.state != State::kReady || c.layer.use_count() > 1) continue;  // absent or in use
      const size_t distance = (i + n - static_cast<size_t>(layer)) % n;
      if (victim == n || distance > farthest) victim = i, farthest = distance;
    }
    if (victim == n) break;
    Entry& e = entries_[victim];
    e.layer.reset();  // its buffer goes back to the pool
    e.state = State::kAbsent;
    stats_.evictions++;
  }
  return fits();
}

Result<std::shared_ptr<const DecodedLayer>> LayerProvider::Acquire(int layer) {
  if (layer < 0 || static_cast<size_t>(layer) >= layers_.size()) {
    return Status::InvalidArgument("layer " + std::to_string(layer) + " out of range");
  }
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  stats_.acquires++;
  Entry& e = entries_[layer];
  bool waited = false, missed = false;
  for (;;) {
    if (e.state == State::kReady) break;
    if (e.state == State::kDecoding) {
      // Under way (prefetched, or another caller's): help decode its
      // remaining chunks rather than wait idle, then wait for the rest.
      waited = true;
      std::shared_ptr<DecodeJob> job = e.job;
      if (job == nullptr) {  // decoded; its completer is building the layer
        cv_.wait(lock);
        continue;
      }
      lock.unlock();
      const size_t helped = job->Work(options_.decode_threads);
      lock.lock();
      stats_.helped_chunks += helped;
      TQF_RETURN_IF_ERROR(Complete(&lock, job));
      continue;
    }
    // Absent: never decoded, evicted, or its decode failed. A failure this
    // call waited for is reported as it is; an older one is retried.
    if (waited && !e.error.ok()) return e.error;
    missed = true;
    if (!MakeRoom(layer)) memory_->DropPool();  // the layer in use may exceed the budget
    uint8_t* buffer = TakeBuffer(layer);
    if (buffer == nullptr) {
      return Status::ResourceExhausted("layer " + std::to_string(layer) + ": cannot map " +
                                       std::to_string(buffer_bytes_[layer]) +
                                       " bytes for its decoded weights");
    }
    std::shared_ptr<DecodeJob> job = StartJob(layer, buffer, /*prefetch=*/false);
    waited = true;
    lock.unlock();
    job->Work(options_.decode_threads);
    lock.lock();
    TQF_RETURN_IF_ERROR(Complete(&lock, job));
  }
  if (missed) {
    stats_.misses++;
  } else if (e.from_prefetch && !e.used) {
    stats_.prefetch_hits++;
  } else {
    stats_.hits++;
  }
  e.used = true;
  stats_.wait_seconds += Seconds(start);
  return e.layer;
}

void LayerProvider::Prefetch(int layer) {
  if (layer < 0 || static_cast<size_t>(layer) >= layers_.size()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = entries_[layer];
    if (e.state != State::kAbsent) return;
  }
  // Read-ahead of the compressed bytes into the page cache costs no
  // process memory, so it is asked for even when the decode cannot start.
  for (size_t idx : layers_[layer]) reader_->WillNeed(idx);
  if (!options_.prefetch) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = entries_[layer];
    if (e.state != State::kAbsent) return;
    if (!MakeRoom(layer)) {
      stats_.prefetch_skipped++;
      return;
    }
    // The buffer is taken now, under the lock, so that the budget MakeRoom
    // checked is the budget used.
    uint8_t* buffer = TakeBuffer(layer);
    if (buffer == nullptr) return;  // no memory now: Acquire will try again
    queue_.push_back(StartJob(layer, buffer, /*prefetch=*/true));
    stats_.prefetches++;
  }
  cv_.notify_all();
}

void LayerProvider::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::shared_ptr<DecodeJob> job = queue_.front();
    queue_.pop_front();
    if (entries_[job->layer()].job != job) continue;  // a waiter decoded and completed it
    lock.unlock();
    // All decode threads: decoding, not the computation beside it, is what
    // a budgeted run waits for. A failure is kept for the Acquire that waits
    // for this layer (or retried by a later one).
    job->Work(options_.decode_threads);
    lock.lock();
    static_cast<void>(Complete(&lock, job));
  }
}

LayerProviderStats LayerProvider::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  LayerProviderStats s = stats_;
  s.held_bytes = memory_->resident();
  s.peak_held_bytes = memory_->peak();
  s.buffer_maps = memory_->maps();
  return s;
}

std::vector<std::vector<size_t>> FindLayerMatrices(const Reader& reader) {
  static const char* const kNames[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                       "ffn_gate", "ffn_up", "ffn_down"};
  std::vector<std::vector<size_t>> layers;
  for (size_t l = 0;; ++l) {
    std::vector<size_t> tensors;
    for (const char* n : kNames) {
      Result<size_t> i = reader.FindTensor("blk." + std::to_string(l) + "." + n + ".weight");
      if (i.ok()) tensors.push_back(*i);
    }
    if (tensors.empty()) return layers;
    layers.push_back(std::move(tensors));
  }
}

}  // namespace tqf::rt
