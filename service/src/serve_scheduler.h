// The storage service's bookkeeping over its control segment: which layer
// is in which slot, which request to serve next, which layer to evict, whose
// leases to reclaim.
//
// Trust: the service's private record (kept here) is the truth; the segment
// is where clients post requests and leases, and where the service publishes
// what it holds. Clients can write anything there, so every value read from
// the segment is used only after a range check against the service's own
// Geometry, and Republish() rewrites what the service published from its
// record. A client writing garbage can at worst make the service decode or
// keep the wrong layers -- never read or write outside its objects, never
// put two layers in one slot.
//
// Thread-safety: the segment's mutex must be held for every call; one thread
// (the service's) uses a Scheduler.
#ifndef TQF_SERVICE_SERVE_SCHEDULER_H_
#define TQF_SERVICE_SERVE_SCHEDULER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "serve_segment.h"
#include "tqf/status.h"

namespace tqf::serve {

class Scheduler {
 public:
  // `h` and `g` must outlive the Scheduler; `g` is the service's own copy.
  Scheduler(ControlHeader* h, const Geometry& g);

  // Rewrites every layer's state, slot and bytes and the slot table from
  // the private record, keeping a client's request (kRequested) on a layer
  // the service does not hold.
  void Republish();
  // The oldest request a client waits for, else the oldest prefetch, among
  // layers the service neither holds nor decodes; -1 if none.
  int PickRequest() const;
  // A free slot, else the slot of the least recently used layer that no
  // client leases or waits for (evicted, counted in the segment); -1.
  int FindSlot();
  // Marks `layer` decoding into `slot` (from FindSlot) and publishes it.
  void StartDecode(int layer, int slot);
  // Publishes the decode's outcome: ready, or failed with `status`.
  void FinishDecode(int layer, int slot, const Status& status);
  // Drops the leases of clients whose process died and recounts every
  // layer's leases; returns a line per reclaimed client, for the log.
  std::vector<std::string> ReclaimDeadClients();

  // The private record, for tests and the fuzz target.
  LayerState state(int layer) const { return state_[layer]; }
  int slot_of(int layer) const { return slot_[layer]; }
  int layer_in(int slot) const { return slot_layer_[slot]; }
  // True if the record is consistent: every slot holds at most one layer,
  // that layer holds that slot, and only decoding or ready layers hold one.
  bool Consistent() const;

 private:
  bool Evictable(int layer) const;

  ControlHeader* h_;
  const Geometry& g_;
  std::vector<LayerState> state_;  // per layer: kAbsent, kDecoding, kReady or kFailed
  std::vector<int> slot_;          // per layer, -1 unless decoding or ready
  std::vector<int> slot_layer_;    // per slot, -1 if free
};

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SERVE_SCHEDULER_H_
