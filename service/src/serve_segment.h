// Internal to the storage service (`tqf serve`) and its clients
// (SharedModel): the layout of the two shared-memory objects of a service
// and the small helpers both sides use. Not a public API.
//
// A service named NAME owns two POSIX shared-memory objects (Boost
// shared_memory_object, i.e. /dev/shm/...):
//   tqf-NAME       the control segment: a ControlHeader followed by the
//                  layer, tensor, client, pin and slot tables. Clients map
//                  it read-write (they take its mutex and record leases).
//   tqf-NAME.data  the decoded weights: the held tensors (embedding,
//                  output head) then `num_slots` layer slots of
//                  `slot_bytes` each. Only the service writes it; clients
//                  map it read-only.
// Both are created 0600 (0660 with --group) and removed when the service
// stops. Offsets in the tables are relative to the start of their segment,
// never pointers, so each process may map them anywhere.
//
// Synchronization: one process-shared *robust* pthread mutex (`mu`) guards
// every mutable field of the control segment; a process that dies holding
// it makes the next locker recover it (EOWNERDEAD) instead of hanging.
// Waiting uses two event counters, `server_event` (clients -> service: a
// request or a release) and `client_event` (service -> clients: a layer
// changed state): a notifier bumps the counter and FUTEX_WAKEs its waiters;
// a waiter reads the counter under `mu`, unlocks, and FUTEX_WAITs while it
// is unchanged, for at most a short slice. A waiter leaves no state behind,
// so one killed while waiting disturbs nobody -- unlike process-shared
// pthread condition variables, whose broadcaster (glibc) may block forever
// on a waiter that died. Each waiter re-checks the liveness of the other
// side between slices. Boost's interprocess_mutex/condition are not used
// for the same reason: in Boost 1.74 they are neither robust nor safe
// against a dead waiter.
//
// Liveness: the service holds an exclusive flock() on the control segment
// for its whole life. A new service that can take that lock knows the
// previous one is dead and removes its objects. Clients compare the pid
// and start time (from /proc/PID/stat) recorded in the header, which also
// defeats pid reuse.
#ifndef TQF_SERVICE_SERVE_SEGMENT_H_
#define TQF_SERVICE_SERVE_SEGMENT_H_

#include <pthread.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tqf/reader.h"
#include "tqf/result.h"
#include "tqf/status.h"

namespace tqf::serve {

inline constexpr uint64_t kMagic = 0x31'56'52'45'53'46'51'54ull;  // "TQFSERV1", little-endian
inline constexpr uint32_t kVersion = 2;  // 2: each tensor's params follow it (rt::LayoutOf)
inline constexpr size_t kPathMax = 4096;
inline constexpr size_t kErrorMax = 240;
inline constexpr size_t kTensorAlign = 64;
inline constexpr size_t kPage = 4096;

enum class LayerState : uint32_t {
  kAbsent = 0,     // not resident
  kRequested = 1,  // a client asked for it; the service has not started
  kDecoding = 2,   // the service is decoding it into `slot`
  kReady = 3,      // resident in `slot`
  kFailed = 4,     // its decode failed; `error` says why (clients report it)
};

enum class ServiceState : uint32_t {
  kStarting = 0,
  kRunning = 1,
  kStopped = 2,       // the service shut down cleanly
  kModelChanged = 3,  // the model file changed on disk; nothing is served
};

// A process, robust to pid reuse: start_time is field 22 of /proc/PID/stat.
struct ProcessId {
  int32_t pid;
  uint32_t reserved;
  uint64_t start_time;
};

// Service-wide counters (under `mu`).
struct Counters {
  uint64_t acquires;
  uint64_t hits;    // the layer was resident when asked for
  uint64_t misses;  // the client had to wait for a decode
  uint64_t decodes;
  uint64_t decode_ns;
  uint64_t evictions;
  uint64_t prefetches;         // decodes started by a prefetch request
  uint64_t reclaimed_clients;  // dead clients whose leases were dropped
  uint64_t reclaimed_pins;
};

struct ControlHeader {
  uint64_t magic;  // kMagic, stored last when the service is ready
  uint32_t version;
  uint32_t state;  // ServiceState
  uint64_t control_bytes;
  pthread_mutex_t mu;
  uint32_t server_event;  // futex word: bumped on a request or a release
  uint32_t client_event;  // futex word: bumped when a layer changes state
  ProcessId server;
  uint32_t owner_uid;
  uint32_t max_clients;
  char model_path[kPathMax];  // absolute, NUL-terminated
  uint64_t file_size;         // fingerprint of the model: file size and
  uint64_t header_checksum;   // the footer's header checksum (covers every tensor's raw checksum)
  uint32_t num_layers;
  uint32_t num_tensors;  // rows in the tensor table (layer and held tensors)
  uint32_t num_slots;
  uint32_t reserved;
  uint64_t slot_bytes;    // bytes of one layer slot (page multiple)
  uint64_t slots_offset;  // in the data segment
  uint64_t held_bytes;    // held tensors at the start of the data segment
  uint64_t data_bytes;    // size of the data segment
  uint64_t layers_off, tensors_off, clients_off, pins_off, slot_table_off;  // in this segment
  uint64_t clock;  // LRU clock, bumped on each acquire
  Counters counters;
};

struct LayerEntry {
  uint32_t state;                      // LayerState
  int32_t slot;                        // valid when kDecoding / kReady
  uint32_t pins;                       // leases held, all clients together
  uint32_t demand;                     // 1: a client waits for it; 0: a prefetch asked
  uint64_t bytes;                      // decoded bytes (<= slot_bytes)
  uint64_t last_used;                  // clock of its last lease (LRU)
  uint64_t requested_at;               // clock of its request (oldest served first)
  uint32_t first_tensor, num_tensors;  // its rows of the tensor table
  char error[kErrorMax];
};

struct TensorEntry {
  uint32_t tensor_index;  // in the Reader's tensor table
  int32_t layer;          // -1: a held tensor
  uint64_t offset;        // in the slot (layer tensors) or the data segment (held)
  uint64_t size;          // raw_size
};

struct ClientEntry {
  ProcessId who;       // pid 0: free
  int32_t waiting_on;  // layer it waits for (never evicted meanwhile), or -1
  uint32_t reserved;
  uint64_t acquires, hits, misses;
};

struct SlotEntry {
  int32_t layer;  // -1: free
  uint32_t reserved;
};

// Byte offsets of the tables for given counts, and the total size.
struct ControlLayout {
  uint64_t layers_off, tensors_off, clients_off, pins_off, slot_table_off, total;
};
ControlLayout ComputeLayout(uint32_t num_layers, uint32_t num_tensors, uint32_t max_clients,
                            uint32_t num_slots);

// The geometry of a service's two objects: counts, sizes, table offsets and
// the tensor table. The service builds it and keeps its own copy; a client
// reads it once, validated, at attach (ReadGeometry) and keeps its copy.
// Nothing reads geometry back from the shared segment afterwards: clients
// can write the control segment, so a value read from it is checked where it
// is used and never trusted again.
struct Geometry {
  uint32_t num_layers = 0, num_tensors = 0, max_clients = 0, num_slots = 0;
  uint64_t slot_bytes = 0, slots_offset = 0, held_bytes = 0, data_bytes = 0;
  ControlLayout layout{};
  std::vector<TensorEntry> rows;  // the tensor table: held tensors, then each layer's
  std::vector<uint32_t> layer_first, layer_count, layer_bytes;  // per layer
};

// Reads the geometry of the control segment `h` (`mapped` bytes): magic,
// version, counts, table offsets and every tensor row inside its region;
// each layer's rows contiguous and in layer order. kCorruption /
// kNotSupported, naming the value, otherwise.
Status ReadGeometry(const ControlHeader* h, size_t mapped, Geometry* g);

// Checks a mapped header of `mapped` bytes: magic, version, table offsets
// and counts all inside the mapping (ReadGeometry without the tables).
Status ValidateHeader(const ControlHeader* h, size_t mapped);

// Table accessors: offsets from the caller's own Geometry, never from the
// segment.
template <typename T>
inline T* At(ControlHeader* h, uint64_t off) {
  return reinterpret_cast<T*>(reinterpret_cast<char*>(h) + off);
}
inline LayerEntry* Layers(ControlHeader* h, const Geometry& g) {
  return At<LayerEntry>(h, g.layout.layers_off);
}
inline TensorEntry* Tensors(ControlHeader* h, const Geometry& g) {
  return At<TensorEntry>(h, g.layout.tensors_off);
}
inline ClientEntry* Clients(ControlHeader* h, const Geometry& g) {
  return At<ClientEntry>(h, g.layout.clients_off);
}
inline SlotEntry* Slots(ControlHeader* h, const Geometry& g) {
  return At<SlotEntry>(h, g.layout.slot_table_off);
}
// pins[client * num_layers + layer]: leases client `client` holds on `layer`.
inline uint32_t* Pins(ControlHeader* h, const Geometry& g) {
  return At<uint32_t>(h, g.layout.pins_off);
}

// Initializes `mu` (process-shared, robust). Only the creating service
// calls it.
Status InitSync(ControlHeader* h);

// Holds `h->mu`, recovering it if its previous owner died. A process that
// holds it and does not let go (stopped, hostile) cannot block anyone
// forever: each attempt to take it gives up after `deadline_seconds`, and
// ok() is then false with timed_out() set; Holder() names who holds it.
// ok() is also false if the mutex is unrecoverable.
class SegmentLock {
 public:
  static constexpr double kDefaultDeadline = 10.0;
  explicit SegmentLock(ControlHeader* h, double deadline_seconds = kDefaultDeadline);
  ~SegmentLock();
  SegmentLock(const SegmentLock&) = delete;
  SegmentLock& operator=(const SegmentLock&) = delete;
  bool ok() const { return locked_; }
  bool timed_out() const { return timed_out_; }
  // Unlocks, waits until `event` (one of h's counters) changes or
  // `seconds` pass (or spuriously), and locks again (within the deadline).
  void Wait(uint32_t* event, double seconds);
  // Releases the lock (to work without it), and takes it again (within the
  // deadline; ok() says whether it got it).
  void Unlock();
  void Relock();
  // Why the lock is not held, for messages: "held by pid P for more than N s"
  // or "unrecoverable".
  std::string Why() const;

 private:
  void Lock();
  ControlHeader* h_;
  double deadline_;
  bool locked_ = false, timed_out_ = false;
};

// Bumps `event` and wakes every process waiting on it.
void Notify(uint32_t* event);

// Names: "tqf-NAME" and "tqf-NAME.data"; the file under /dev/shm.
std::string ControlName(const std::string& service);
std::string DataName(const std::string& service);
std::string ShmPath(const std::string& object);
// NAME must be 1..100 of [A-Za-z0-9._-], not starting with '.' or '-'.
Status CheckServiceName(const std::string& service);
// "<file basename without .tqf>-<uid>", sanitized to the allowed characters.
std::string DefaultServiceName(const std::string& model_path);

// This process, and whether `p` is still the process it was.
ProcessId Self();
bool IsAlive(const ProcessId& p);

// The model's fingerprint as the service records it.
struct Fingerprint {
  uint64_t file_size = 0;
  uint64_t header_checksum = 0;
};
Fingerprint FingerprintOf(const Reader& reader);

// Refuses (kIOError, with who owns it) a service object this user may not
// use: owned by another uid, unless it is group-shared with a group of
// ours -- read-write (0660) for the control object, readable (0640) for the
// data object, which clients only read.
Status CheckAccess(const std::string& service, const std::string& object, bool need_write = true);

}  // namespace tqf::serve

#endif  // TQF_SERVICE_SERVE_SEGMENT_H_
