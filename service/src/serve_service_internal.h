// Internal to ServeService (serve_service.cc, serve_loop.cc): its state.
// Owned by the ServeService; used by the one thread that runs it.
#ifndef TQF_SERVICE_SERVE_SERVICE_INTERNAL_H_
#define TQF_SERVICE_SERVE_SERVICE_INTERNAL_H_

#include <sys/stat.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "serve_scheduler.h"
#include "serve_segment.h"
#include "tqf/reader.h"
#include "tqf/service/serve_service.h"

namespace tqf::serve {

struct ServeService::Impl {
  ~Impl();  // marks the service stopped, removes the objects it created

  // Start() steps.
  Status Plan();           // which tensors are served, slot and data sizes
  Status CleanStale();     // an existing control object: refuse or remove
  Status CreateControl();  // create + flock the control object
  Status Publish();        // size, map and fill both objects; decode held tensors

  // Publish() steps.
  void BuildGeometry();  // the tables and sizes, kept private (serve::Geometry)
  Status MapObjects();
  void FillHeader(serve::ControlHeader* h) const;
  void FillTables(serve::ControlHeader* h) const;  // tensor, layer, slot and client tables
  Status DecodeHeldTensors();

  // Run() steps.
  // Serves one request if there is one (lock held on entry, may be
  // released for the decode). Returns an error to stop the service.
  Status ServeOne(serve::SegmentLock* lock, bool reclaim);
  Status DecodeLayer(int layer, int slot);  // mu not held
  void CheckModelFile();                    // mu not held
  void ReclaimDeadClients();                // mu held

  void Log(const std::string& msg) const;

  ServeOptions options;
  std::string name, path;
  std::unique_ptr<Reader> reader;
  serve::Fingerprint fingerprint;
  struct stat file_stat {};
  std::vector<std::vector<size_t>> layers;  // reader tensor indices per layer
  std::vector<size_t> held;                 // reader tensor indices held
  uint64_t slot_bytes = 0, held_bytes = 0, data_bytes = 0;
  uint32_t num_slots = 0;
  // The service's own geometry (never read back from the segment) and its
  // record of slots and layers.
  serve::Geometry geometry;
  std::unique_ptr<serve::Scheduler> scheduler;

  boost::interprocess::shared_memory_object control_shm, data_shm;
  boost::interprocess::mapped_region control_region, data_region;
  serve::ControlHeader* header = nullptr;
  uint8_t* data = nullptr;
  bool owns_control = false, owns_data = false, published = false;
  std::chrono::steady_clock::time_point last_reclaim, last_file_check;
};

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SERVE_SERVICE_INTERNAL_H_
