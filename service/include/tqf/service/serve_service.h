// ServeService: the storage service behind `tqf serve`. It maps one .tqf,
// publishes it under a service name in two Boost.Interprocess shared-memory
// objects (see serve_segment.h for their layout) and decodes transformer
// layers into shared slots when clients (SharedModel) ask for them, so any
// number of processes run the model from one decoded copy.
//
// What is served:
//   - layer tensors: every tensor named "blk.L.*" of two or more
//     dimensions (the matrices; norms are 1-D and clients decode those
//     small tensors themselves), decoded on request into one of
//     `num_slots` slots, each tensor 64-byte aligned in its slot;
//   - held tensors: every other tensor of two or more dimensions (token
//     embedding, output head), decoded once at start and kept for the
//     service's life, outside the cache budget.
// Cache: ServeOptions::cache_bytes bounds the slots (at least one slot,
// at most one per layer; < 0 = one per layer, nothing is ever evicted).
// When a slot is needed, the least recently used resident layer that no
// client holds or waits for is evicted; a layer under lease is never
// evicted, and a request that finds every slot leased waits for a release.
//
// Robustness: leases of clients that died (pid gone or reused) are
// reclaimed at least every 250 ms and whenever a slot is needed; the model
// file is re-checked every second and, if its contents changed, the service
// stops serving (state kModelChanged) so clients get a clear error. The
// objects are created 0600 (0660 with `group`), owned by this process
// (exclusive flock on the control object) and removed by the destructor. A
// previous service that died without cleaning up is detected (its flock is
// gone) and its objects are removed by Start(); a live one makes Start()
// fail with kIOError naming its pid.
//
// Errors: Start() returns reader errors for a bad file, kInvalidArgument
// for a bad name or a model without layer tensors, kIOError for
// shared-memory failures and for a name already served. Boost exceptions
// never escape.
// Thread-safety: one thread calls Run(); `stop` may be set from any thread
// or a signal handler.
#ifndef TQF_SERVICE_SERVE_SERVICE_H_
#define TQF_SERVICE_SERVE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tqf/result.h"
#include "tqf/status.h"

namespace tqf::serve {

struct ServeOptions {
  std::string name;           // service name; empty: serve::DefaultServiceName(path)
  int64_t cache_bytes = -1;   // bytes of layer slots; < 0: one slot per layer
  bool group = false;         // objects 0660 (owner's group may attach) instead of 0600
  uint32_t max_clients = 64;  // concurrent attached clients
  int decode_threads = 0;     // threads per layer decode (0: all cores)
  // Progress and events ("removed stale ...", "client 123 died ..."); optional.
  std::function<void(const std::string&)> log;
};

class ServeService {
 public:
  // Opens `model_path`, creates the service objects and decodes the held
  // tensors. The service is visible to clients when this returns.
  static Result<std::unique_ptr<ServeService>> Start(const std::string& model_path,
                                                     const ServeOptions& options);
  // Marks the service stopped (waking waiting clients, who then fail with a
  // clear error) and removes its shared-memory objects.
  ~ServeService();
  ServeService(const ServeService&) = delete;
  ServeService& operator=(const ServeService&) = delete;

  // Serves requests until `stop` becomes true (checked at least every
  // 100 ms, and between layer decodes). kIOError if the shared mutex
  // becomes unrecoverable.
  Status Run(const std::atomic<bool>& stop);

  const std::string& name() const;
  uint64_t slot_bytes() const;
  uint32_t num_slots() const;
  uint64_t held_bytes() const;

 private:
  struct Impl;
  explicit ServeService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SERVE_SERVICE_H_
