// SharedModel: a client of a storage service (`tqf serve`, ServeService).
// It attaches to a service by name and hands out the service's decoded
// layers as read-only pointers into shared memory -- nothing is decoded or
// copied in the client. A Model runs on it by taking it as its layer source
// (ModelOptions::layer_source); any other program may use Lease() directly.
//
// Leases: Lease(layer) returns once the layer is resident, pinning it: the
// service never evicts or overwrites a layer under lease. The lease ends
// when the LayerLease is released or destroyed (or, for a DecodedLayer from
// Acquire(), when its last shared_ptr goes). A process that dies holding
// leases does not block anyone: the service reclaims them (it checks the
// pid and start time of every attached client).
//
// Failures are Statuses, never hangs: every wait is bounded by
// SharedModelOptions::timeout_seconds and re-checks, every 50 ms, that the
// service still lives and serves. Errors:
//   kNotFound          no service of that name;
//   kIOError           a service owned by another user (and not shared with
//                      our group), a service that stopped or died, a wait
//                      that timed out, no free client slot, shared-memory
//                      failures;
//   kChecksumMismatch  the model file the caller opened differs from the
//                      one the service serves (CheckModel, Bind), or the
//                      service saw its file change on disk;
//   kCorruption        a malformed segment, or a layer whose decode failed
//                      in the service (with the service's message).
// Boost exceptions never escape.
//
// Ownership and lifetime: Attach() returns a shared_ptr; leases and
// DecodedLayers keep the mapping alive, so they may outlive the
// SharedModel. The client slot is freed when the last of them goes.
// Thread-safety: all methods may be called from any thread.
#ifndef TQF_SERVICE_SHARED_MODEL_H_
#define TQF_SERVICE_SHARED_MODEL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tqf/reader.h"
#include "tqf/result.h"
#include "tqf/rt/layer_provider.h"

namespace tqf::serve {

class SegmentLock;  // internal (serve_segment.h)

struct SharedModelOptions {
  double timeout_seconds = 300;  // longest wait for one layer
  // Longest wait for the service's lock: a process holding it (stopped,
  // hostile) makes calls fail with kIOError naming its pid after this.
  double lock_timeout_seconds = 10;
};

// A pinned, resident layer of a service. Move-only.
class LayerLease {
 public:
  LayerLease() = default;
  ~LayerLease() { Release(); }
  LayerLease(LayerLease&& other) noexcept { *this = std::move(other); }
  LayerLease& operator=(LayerLease&& other) noexcept;
  LayerLease(const LayerLease&) = delete;
  LayerLease& operator=(const LayerLease&) = delete;

  void Release();  // ends the lease (idempotent)
  bool valid() const { return conn_ != nullptr; }
  int layer() const { return layer_; }
  // The layer's decoded bytes (read-only shared mapping; 4096-aligned), as
  // the service lays them out: its tensors in tensor-table order, each
  // 64-byte aligned. Valid until Release().
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Decoded bytes of the Reader tensor `tensor_index` if it belongs to this
  // layer, else nullptr.
  const uint8_t* tensor(size_t tensor_index) const;

  struct Connection;  // internal (shared_model_internal.h)

 private:
  friend class SharedModel;
  std::shared_ptr<Connection> conn_;
  int layer_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A snapshot of a service, for `tqf serve --status`.
struct ServeStatus {
  struct Client {
    int pid = 0;
    bool alive = false;
    uint64_t leases = 0, acquires = 0, hits = 0, misses = 0;
  };
  std::string name, model_path, state;  // state: running, stopped, model changed, starting
  int server_pid = 0;
  bool server_alive = false;
  uint32_t num_layers = 0, layers_resident = 0, layers_leased = 0, num_slots = 0;
  uint64_t slot_bytes = 0, held_bytes = 0, cache_bytes = 0;
  uint64_t bytes_used = 0;  // held tensors + resident layers
  uint64_t acquires = 0, hits = 0, misses = 0, decodes = 0, evictions = 0, prefetches = 0;
  uint64_t reclaimed_clients = 0, reclaimed_leases = 0;
  double decode_seconds = 0;
  std::vector<Client> clients;
};

class SharedModel : public rt::LayerSource {
 public:
  static Result<std::shared_ptr<SharedModel>> Attach(const std::string& name,
                                                     const SharedModelOptions& options = {});
  ~SharedModel() override;
  SharedModel(const SharedModel&) = delete;
  SharedModel& operator=(const SharedModel&) = delete;

  const std::string& name() const;
  // Absolute path of the model file the service serves.
  const std::string& model_path() const;
  size_t num_layers() const;
  // Decoded bytes of layer `layer` (its slot size: all slots are equal).
  size_t layer_bytes(int layer) const override;
  // OK if `reader` is the file the service serves (same size and header
  // checksum, which covers every tensor's checksum); kChecksumMismatch.
  Status CheckModel(const Reader& reader) const;

  // Pins layer `layer`, asking the service to decode it if needed and
  // waiting (bounded) until it is resident.
  Result<LayerLease> Lease(int layer);
  // Asks the service to decode `layer` if it is not resident; never waits.
  void Prefetch(int layer) override;
  // A tensor of `reader` the service holds outside layers (token
  // embedding, output head), laid out as rt::LayoutOf says (decoded bytes,
  // then params), valid while this SharedModel lives; nullptr if the
  // service does not hold it, or its table says otherwise than `reader`.
  const uint8_t* HeldTensor(const Reader& reader, size_t tensor_index) const override;
  // Bytes of the held tensors the service maps into this process.
  size_t held_bytes() const;

  // For Model: checks `reader` (CheckModel) and that layer l of the model
  // is made of the tensors layers[l] (Reader indices, in the model's
  // order), which Acquire() then hands out in that order.
  Status Bind(const Reader& reader, const std::vector<std::vector<size_t>>& layers) override;
  // Lease() wrapped as a DecodedLayer (tensor(i) = i-th tensor of the
  // bound layer); the lease ends when the last shared_ptr goes.
  Result<std::shared_ptr<const rt::DecodedLayer>> Acquire(int layer) override;
  rt::LayerProviderStats stats() const override;

 private:
  explicit SharedModel(std::shared_ptr<LayerLease::Connection> conn);
  Result<LayerLease> LeaseLocked(int layer, std::chrono::steady_clock::time_point start,
                                 bool* missed);
  Result<LayerLease> Take(int layer, bool missed, serve::SegmentLock* lock);
  std::shared_ptr<LayerLease::Connection> conn_;
  double timeout_seconds_ = 300;
  // Bound layers' tensor and params offsets in a slot, model order
  // (params SIZE_MAX: none).
  std::vector<std::vector<size_t>> offsets_, params_;
  mutable std::mutex mu_;
  rt::LayerProviderStats stats_;
};

// Reads the state of service `name` without attaching to it.
Result<ServeStatus> ReadServeStatus(const std::string& name);

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SHARED_MODEL_H_
