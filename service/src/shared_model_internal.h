// Internal to SharedModel (shared_model.cc, shared_model_status.cc): a
// client's mappings of a service and its client slot.
//
// Ownership: shared by the SharedModel and every lease it handed out; the
// last owner detaches (drops this client's leases, frees its slot) and
// unmaps. Thread-safety: the tables are guarded by the segment's mutex;
// `leased_bytes` is atomic; the rest is immutable after OpenService().
#ifndef TQF_SERVICE_SHARED_MODEL_INTERNAL_H_
#define TQF_SERVICE_SHARED_MODEL_INTERNAL_H_

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <string>
#include <unordered_map>

#include "serve_segment.h"
#include "tqf/service/shared_model.h"

namespace tqf::serve {

struct LayerLease::Connection {
  ~Connection();  // detaches if attached

  // Maps the control segment read-write (to take its mutex), reads and
  // checks its geometry (kept in `geometry`, never read from the segment
  // again) and the service's liveness. Does not register a client.
  Status OpenControl(const std::string& service);
  // Attach's next steps: map the data object read-only (checked against
  // the geometry) and take a client row.
  Status MapData();
  Status Register();
  // OK while the service runs and its process lives (`full`: also checks
  // its start time, a /proc read); otherwise why not. mu held.
  Status ServiceUsable(bool full) const;
  void Unpin(int layer);

  std::string name;
  std::string model_path;
  boost::interprocess::shared_memory_object control_shm, data_shm;
  boost::interprocess::mapped_region control_region, data_region;
  serve::ControlHeader* header = nullptr;
  const uint8_t* data = nullptr;  // read-only mapping of the data segment
  int client = -1;                // our row of the client table; -1: not attached
  double lock_timeout = 10;       // SharedModelOptions::lock_timeout_seconds
  serve::Geometry geometry;       // read once at attach, validated
  std::unordered_map<size_t, const serve::TensorEntry*> rows;  // tensor index -> geometry row
  std::atomic<uint64_t> leased_bytes{0};
  std::atomic<uint64_t> peak_leased_bytes{0};
};

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SHARED_MODEL_INTERNAL_H_
