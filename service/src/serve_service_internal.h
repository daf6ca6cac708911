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
  Status MapObjects(const serve::ControlLayout& layout);
  void FillHeader(const serve::ControlLayout& layout, serve::ControlHeader* h) const;
  void FillTables(serve::ControlHeader* h) const;  // tensor, layer, slot and client tables
  Status DecodeHeldTensors(const serve::TensorEntry* rows);

  // Run() steps; mu held unless said otherwise.
  int PickRequest();  // a requested layer (clients waiting first), or -1
  int FindSlot();     // a free slot, evicting the LRU unleased layer; or -1
  bool Evictable(int layer);
  void ReclaimDeadClients();
  Status DecodeLayer(int layer, int slot);  // mu not held
  void CheckModelFile();                    // mu not held

  void Log(const std::string& msg) const;
  uint32_t num_tensor_rows() const {
    size_t n = held.size();
    for (const std::vector<size_t>& l : layers) n += l.size();
    return static_cast<uint32_t>(n);
  }

  ServeOptions options;
  std::string name, path;
  std::unique_ptr<Reader> reader;
  serve::Fingerprint fingerprint;
  struct stat file_stat {};
  std::vector<std::vector<size_t>> layers;  // reader tensor indices per layer
  std::vector<size_t> held;                 // reader tensor indices held
  uint64_t slot_bytes = 0, held_bytes = 0, data_bytes = 0;
  uint32_t num_slots = 0;

  boost::interprocess::shared_memory_object control_shm, data_shm;
  boost::interprocess::mapped_region control_region, data_region;
  serve::ControlHeader* header = nullptr;
  uint8_t* data = nullptr;
  bool owns_control = false, owns_data = false, published = false;
  std::chrono::steady_clock::time_point last_reclaim, last_file_check;
};

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SERVE_SERVICE_INTERNAL_H_
