// LayerProvider: on-demand layer decoding with a cache that evicts the
// layer needed farthest ahead, a byte budget, a buffer pool and one
// background prefetch thread. See
// layer_provider.h.
#include "tqf/rt/layer_provider.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>

namespace tqf::rt {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kPage = 4096;
constexpr size_t kBlocksPerGroup = 64;  // DecodeTensorsReleasing's group (even: pairs)

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
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
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    resident_ += bytes;
    peak_ = std::max(peak_, resident_);
    return static_cast<uint8_t*>(p);
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
  std::vector<BlockRef> refs;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& t = reader.tensors()[indices[i]];
    if (t.block_count == 0 || t.block_size == 0) {
      TQF_RETURN_IF_ERROR(reader.DecodeTensor(indices[i], outs[i], t.raw_size, threads));
      continue;
    }
    for (size_t b = 0; b < t.block_count; ++b) {
      refs.push_back({indices[i], b, outs[i] + static_cast<uint64_t>(b) * t.block_size});
    }
  }
  // One list across tensors: a tensor's odd last block pairs with the next
  // tensor's first (rans-alias decodes pairs interleaved).
  for (size_t g = 0; g < refs.size(); g += kBlocksPerGroup) {
    const size_t count = std::min(kBlocksPerGroup, refs.size() - g);
    TQF_RETURN_IF_ERROR(reader.DecodeBlocks(refs.data() + g, count, threads));
    for (size_t i = g; i < g + count; ++i) {
      if (i == g || refs[i].tensor != refs[i - 1].tensor) reader.DontNeed(refs[i].tensor);
    }
  }
  return Status::OK();
}

LayerProvider::LayerProvider(const Reader* reader, std::vector<std::vector<size_t>> layers,
                             const LayerProviderOptions& options)
    : reader_(reader),
      layers_(std::move(layers)),
      options_(options),
      memory_(std::make_shared<Memory>(options.mem_budget >= 0)),
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
  if (options_.prefetch) worker_ = std::thread([this] { WorkerLoop(); });
}

LayerProvider::~LayerProvider() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (const auto& q : queue_) memory_->Give(q.second, layer_bytes_[q.first]);
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

uint8_t* LayerProvider::TakeBuffer(int layer) { return memory_->Take(layer_bytes_[layer]); }

Result<std::shared_ptr<const DecodedLayer>> LayerProvider::Decode(int layer, uint8_t* buffer,
                                                                  int threads) {
  const auto start = std::chrono::steady_clock::now();
  const size_t bytes = layer_bytes_[layer];
  std::shared_ptr<Memory> memory = memory_;
  std::shared_ptr<const DecodedLayer> decoded(
      new DecodedLayer(layer, buffer, bytes, offsets_[layer], params_[layer]),
      [memory](DecodedLayer* d) {
        memory->Give(d->base(), d->bytes());
        delete d;
      });
  const std::vector<size_t>& tensors = layers_[layer];
  std::vector<uint8_t*> outs;
  for (size_t i = 0; i < tensors.size(); ++i) outs.push_back(buffer + offsets_[layer][i]);
  Status s = DecodeTensorsReleasing(*reader_, tensors.data(), outs.data(), tensors.size(), threads);
  for (size_t i = 0; i < tensors.size() && s.ok(); ++i) {
    const TensorInfo& t = reader_->tensors()[tensors[i]];
    if (t.num_params == 0) continue;
    s = reader_->CopyParams(tensors[i], reinterpret_cast<float*>(buffer + params_[layer][i]),
                            t.num_params);
  }
  if (!s.ok()) return s.WithContext("layer " + std::to_string(layer));
  const double secs = Seconds(start);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.decodes++;
  stats_.decoded_bytes += bytes;
  stats_.decode_seconds += secs;
  return decoded;
}

void LayerProvider::MarkReady(int layer, std::shared_ptr<const DecodedLayer> decoded) {
  Entry& e = entries_[layer];
  e.layer = std::move(decoded);
  e.state = State::kReady;
}

bool LayerProvider::MakeRoom(int layer) {
  if (options_.mem_budget < 0) return true;
  const uint64_t budget = static_cast<uint64_t>(options_.mem_budget);
  const size_t need = layer_bytes_[layer];
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
  while (e.state == State::kDecoding) cv_.wait(lock);
  if (e.state == State::kReady) {
    if (e.from_prefetch && !e.used) {
      stats_.prefetch_hits++;
    } else {
      stats_.hits++;
    }
    e.used = true;
    stats_.wait_seconds += Seconds(start);
    return e.layer;
  }
  // Absent (never decoded, evicted, or its background decode failed):
  // decode here. The layer in use may exceed the budget on its own.
  stats_.misses++;
  if (!MakeRoom(layer)) memory_->DropPool();
  uint8_t* buffer = TakeBuffer(layer);
  if (buffer == nullptr) {
    return Status::ResourceExhausted("layer " + std::to_string(layer) + ": cannot map " +
                                     std::to_string(layer_bytes_[layer]) +
                                     " bytes for its decoded weights");
  }
  e.state = State::kDecoding;
  e.from_prefetch = false;
  lock.unlock();
  Result<std::shared_ptr<const DecodedLayer>> decoded =
      Decode(layer, buffer, options_.decode_threads);
  lock.lock();
  if (!decoded.ok()) {
    e.state = State::kAbsent;
    cv_.notify_all();
    return decoded.status();
  }
  MarkReady(layer, *decoded);
  e.used = true;
  stats_.wait_seconds += Seconds(start);
  cv_.notify_all();
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
    e.state = State::kDecoding;
    e.from_prefetch = true;
    e.used = false;
    queue_.emplace_back(layer, buffer);
    stats_.prefetches++;
  }
  cv_.notify_all();
}

void LayerProvider::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const auto [layer, buffer] = queue_.front();
    queue_.pop_front();
    lock.unlock();
    // All decode threads: decoding, not the computation beside it, is what
    // a budgeted run waits for.
    Result<std::shared_ptr<const DecodedLayer>> decoded =
        Decode(layer, buffer, options_.decode_threads);
    lock.lock();
    Entry& e = entries_[layer];
    if (decoded.ok()) {
      MarkReady(layer, *decoded);
    } else {
      e.state = State::kAbsent;  // Acquire will decode it and report the error
    }
    cv_.notify_all();
  }
}

LayerProviderStats LayerProvider::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  LayerProviderStats s = stats_;
  s.held_bytes = memory_->resident();
  s.peak_held_bytes = memory_->peak();
  return s;
}

}  // namespace tqf::rt
