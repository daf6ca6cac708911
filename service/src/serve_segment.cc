// Shared-memory layout helpers of the storage service; see serve_segment.h.
#include "serve_segment.h"

#include <grp.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tqf::serve {
namespace {

uint64_t Align(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Field 22 (starttime) of /proc/PID/stat; 0 if unreadable.
uint64_t StartTime(int32_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may hold spaces or ')': skip to the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  int field = 2;
  for (++p; *p != '\0' && field < 22; ++p) {
    if (*p == ' ') ++field;
  }
  return std::strtoull(p, nullptr, 10);
}

bool InGroup(gid_t gid) {
  if (getegid() == gid) return true;
  const int n = getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  const int m = getgroups(n, groups.data());
  for (int i = 0; i < m; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

}  // namespace

ControlLayout ComputeLayout(uint32_t num_layers, uint32_t num_tensors, uint32_t max_clients,
                            uint32_t num_slots) {
  ControlLayout l;
  l.layers_off = Align(sizeof(ControlHeader), 64);
  l.tensors_off = Align(l.layers_off + uint64_t{num_layers} * sizeof(LayerEntry), 64);
  l.clients_off = Align(l.tensors_off + uint64_t{num_tensors} * sizeof(TensorEntry), 64);
  l.pins_off = Align(l.clients_off + uint64_t{max_clients} * sizeof(ClientEntry), 64);
  l.slot_table_off = Align(l.pins_off + uint64_t{max_clients} * num_layers * sizeof(uint32_t), 64);
  l.total = Align(l.slot_table_off + uint64_t{num_slots} * sizeof(SlotEntry), kPage);
  return l;
}

Status ValidateHeader(const ControlHeader* h, size_t mapped) {
  if (mapped < sizeof(ControlHeader)) {
    return Status::Corruption("control segment of " + std::to_string(mapped) +
                              " bytes is smaller than its header (" +
                              std::to_string(sizeof(ControlHeader)) + ")");
  }
  if (h->magic != kMagic) {
    return Status::Corruption(
        "control segment has no service magic (the service is still "
        "starting, or died while starting)");
  }
  if (h->version != kVersion) {
    return Status::NotSupported("service segment version " + std::to_string(h->version) +
                                ", this build speaks version " + std::to_string(kVersion));
  }
  const uint32_t kMaxCount = 1u << 20;
  // Read each field once: another process may change them as we check.
  const uint32_t layers = h->num_layers, tensors = h->num_tensors, clients = h->max_clients,
                 slots = h->num_slots;
  if (layers == 0 || layers > kMaxCount || tensors > kMaxCount || clients == 0 || clients > 4096 ||
      slots == 0 || slots > layers) {
    return Status::Corruption("control segment: implausible counts (layers " +
                              std::to_string(layers) + ", tensors " + std::to_string(tensors) +
                              ", clients " + std::to_string(clients) + ", slots " +
                              std::to_string(slots) + ")");
  }
  const ControlLayout l = ComputeLayout(layers, tensors, clients, slots);
  if (l.layers_off != h->layers_off || l.tensors_off != h->tensors_off ||
      l.clients_off != h->clients_off || l.pins_off != h->pins_off ||
      l.slot_table_off != h->slot_table_off || l.total != h->control_bytes || l.total > mapped) {
    return Status::Corruption(
        "control segment: table offsets disagree with its counts or exceed its " +
        std::to_string(mapped) + " bytes");
  }
  if (h->model_path[kPathMax - 1] != '\0') {
    return Status::Corruption("control segment: model path is not terminated");
  }
  return Status::OK();
}

namespace {

// The sizes: slots lie after the held tensors, inside the data object, with
// no arithmetic wrapping.
Status ReadSizes(const ControlHeader* h, Geometry* g) {
  g->slot_bytes = h->slot_bytes;
  g->slots_offset = h->slots_offset;
  g->held_bytes = h->held_bytes;
  g->data_bytes = h->data_bytes;
  uint64_t slots_end = 0;
  if (g->slot_bytes == 0 || g->slot_bytes % kPage != 0 || g->slots_offset != g->held_bytes ||
      g->held_bytes % kPage != 0 ||
      __builtin_mul_overflow(uint64_t{g->num_slots}, g->slot_bytes, &slots_end) ||
      __builtin_add_overflow(slots_end, g->slots_offset, &slots_end) ||
      slots_end != g->data_bytes) {
    return Status::Corruption(
        "control segment: data layout inconsistent (slot bytes " + std::to_string(g->slot_bytes) +
        ", slots at " + std::to_string(g->slots_offset) + ", held bytes " +
        std::to_string(g->held_bytes) + ", data bytes " + std::to_string(g->data_bytes) + ")");
  }
  return Status::OK();
}

// The tensor table and each layer's rows.
Status ReadTables(ControlHeader* h, Geometry* g) {
  const TensorEntry* rows = Tensors(h, *g);
  g->rows.assign(rows, rows + g->num_tensors);  // one copy, then checked
  for (uint32_t r = 0; r < g->num_tensors; ++r) {
    const TensorEntry& t = g->rows[r];
    const uint64_t limit = t.layer < 0 ? g->held_bytes : g->slot_bytes;
    if (t.layer < -1 || t.layer >= static_cast<int32_t>(g->num_layers) || t.offset > limit ||
        t.size > limit - t.offset) {
      return Status::Corruption("control segment: tensor row " + std::to_string(r) + " (layer " +
                                std::to_string(t.layer) + ", offset " + std::to_string(t.offset) +
                                ", size " + std::to_string(t.size) + ") is outside its region");
    }
  }
  const LayerEntry* layers = Layers(h, *g);
  g->layer_first.resize(g->num_layers);
  g->layer_count.resize(g->num_layers);
  g->layer_bytes.resize(g->num_layers);
  for (uint32_t l = 0; l < g->num_layers; ++l) {
    const uint32_t first = layers[l].first_tensor, count = layers[l].num_tensors;
    const uint64_t bytes = layers[l].bytes;
    if (first > g->num_tensors || count > g->num_tensors - first || bytes > g->slot_bytes) {
      return Status::Corruption("control segment: layer " + std::to_string(l) + " rows " +
                                std::to_string(first) + "+" + std::to_string(count) + " or bytes " +
                                std::to_string(bytes) + " out of range");
    }
    for (uint32_t r = first; r < first + count; ++r) {
      if (g->rows[r].layer != static_cast<int32_t>(l)) {
        return Status::Corruption("control segment: tensor row " + std::to_string(r) +
                                  " is listed for layer " + std::to_string(l) +
                                  " but belongs to layer " + std::to_string(g->rows[r].layer));
      }
    }
    g->layer_first[l] = first;
    g->layer_count[l] = count;
    g->layer_bytes[l] = bytes;
  }
  return Status::OK();
}

}  // namespace

Status ReadGeometry(const ControlHeader* h, size_t mapped, Geometry* g) {
  TQF_RETURN_IF_ERROR(ValidateHeader(h, mapped));
  g->num_layers = h->num_layers;
  g->num_tensors = h->num_tensors;
  g->max_clients = h->max_clients;
  g->num_slots = h->num_slots;
  g->layout = ComputeLayout(g->num_layers, g->num_tensors, g->max_clients, g->num_slots);
  // The counts were checked against the offsets above, but a writer may
  // have changed them since: recheck the copy against the mapping.
  if (g->num_layers == 0 || g->num_slots == 0 || g->num_slots > g->num_layers ||
      g->max_clients == 0 || g->max_clients > 4096 || g->num_layers > (1u << 20) ||
      g->num_tensors > (1u << 20) || g->layout.total > mapped) {
    return Status::Corruption("control segment changed while being read");
  }
  TQF_RETURN_IF_ERROR(ReadSizes(h, g));
  return ReadTables(const_cast<ControlHeader*>(h), g);
}

Status InitSync(ControlHeader* h) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  int rc = pthread_mutex_init(&h->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  if (rc != 0) return Status::IOError(std::string("pthread_mutex_init: ") + std::strerror(rc));
  return Status::OK();
}

SegmentLock::SegmentLock(ControlHeader* h, double deadline_seconds)
    : h_(h), deadline_(deadline_seconds) {
  Lock();
}

void SegmentLock::Lock() {
  timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  const long long ns = static_cast<long long>(deadline_ * 1e9) + until.tv_nsec;
  until.tv_sec += static_cast<time_t>(ns / 1000000000LL);
  until.tv_nsec = static_cast<long>(ns % 1000000000LL);
  const int rc = pthread_mutex_timedlock(&h_->mu, &until);
  if (rc == EOWNERDEAD) {
    // Its owner died inside a critical section. Every section leaves the
    // tables consistent at each store that matters (pins are reconciled by
    // the service's reclaim), so mark it usable again.
    pthread_mutex_consistent(&h_->mu);
    locked_ = true;
  } else {
    locked_ = rc == 0;
    timed_out_ = rc == ETIMEDOUT;
  }
}

SegmentLock::~SegmentLock() {
  if (locked_) pthread_mutex_unlock(&h_->mu);
}

void SegmentLock::Wait(uint32_t* event, double seconds) {
  if (!locked_) return;
  const uint32_t seen = __atomic_load_n(event, __ATOMIC_ACQUIRE);
  pthread_mutex_unlock(&h_->mu);
  locked_ = false;
  const long long ns = static_cast<long long>(seconds * 1e9);
  timespec rel;
  rel.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  rel.tv_nsec = static_cast<long>(ns % 1000000000LL);
  // Returns at once if the event moved since `seen` (EAGAIN): no lost wake-up.
  syscall(SYS_futex, event, FUTEX_WAIT, seen, &rel, nullptr, 0);
  Lock();
}

void SegmentLock::Unlock() {
  if (locked_) pthread_mutex_unlock(&h_->mu);
  locked_ = false;
}

void SegmentLock::Relock() {
  if (!locked_) Lock();
}

std::string SegmentLock::Why() const {
  if (!timed_out_) return "the shared mutex is unrecoverable";
  // glibc keeps the holder's thread id in the mutex (robust mutexes need
  // it); its process is the thread group it belongs to.
  const int tid = __atomic_load_n(&h_->mu.__data.__owner, __ATOMIC_RELAXED) & 0x3fffffff;
  int pid = tid;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/status", tid);
  if (FILE* f = std::fopen(path, "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::sscanf(line, "Tgid: %d", &pid) == 1) break;
    }
    std::fclose(f);
  }
  return "the service lock has been held by pid " + std::to_string(pid) + " for more than " +
         std::to_string(static_cast<int>(deadline_)) + " s";
}

void Notify(uint32_t* event) {
  __atomic_add_fetch(event, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, event, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

std::string ControlName(const std::string& service) { return "tqf-" + service; }
std::string DataName(const std::string& service) { return "tqf-" + service + ".data"; }
std::string ShmPath(const std::string& object) { return "/dev/shm/" + object; }

Status CheckServiceName(const std::string& service) {
  bool ok = !service.empty() && service.size() <= 100 && service[0] != '.' && service[0] != '-';
  for (char c : service) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return Status::InvalidArgument(
        "service name '" + service +
        "': use 1 to 100 of A-Z a-z 0-9 . _ -, not starting with . or -");
  }
  return Status::OK();
}

std::string DefaultServiceName(const std::string& model_path) {
  std::string base = model_path.substr(model_path.find_last_of('/') + 1);
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".tqf") == 0)
    base.resize(base.size() - 4);
  std::string name;
  for (char c : base) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    name += keep ? c : '_';
  }
  while (!name.empty() && (name[0] == '.' || name[0] == '-')) name.erase(0, 1);
  if (name.size() > 80) name.resize(80);
  if (name.empty()) name = "model";
  return name + "-" + std::to_string(geteuid());
}

ProcessId Self() {
  ProcessId p{};
  p.pid = static_cast<int32_t>(getpid());
  p.start_time = StartTime(p.pid);
  return p;
}

bool IsAlive(const ProcessId& p) {
  if (p.pid <= 0) return false;
  if (kill(p.pid, 0) != 0 && errno != EPERM) return false;
  // A zombie is dead for our purposes: it will never touch the segment again.
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", p.pid);
  FILE* f = std::fopen(path, "r");
  if (f != nullptr) {
    char buf[512];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char* r = std::strrchr(buf, ')');
    if (r != nullptr && r[1] == ' ' && (r[2] == 'Z' || r[2] == 'X')) return false;
  }
  const uint64_t now = StartTime(p.pid);
  return p.start_time == 0 || now == 0 || now == p.start_time;
}

Fingerprint FingerprintOf(const Reader& reader) {
  Fingerprint fp;
  fp.file_size = reader.size();
  if (reader.size() >= 64)
    std::memcpy(&fp.header_checksum, reader.data() + reader.size() - 64 + 16, 8);
  return fp;
}

Status CheckAccess(const std::string& service, const std::string& object, bool need_write) {
  struct stat st;
  const std::string path = ShmPath(object);
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status::NotFound("no service named '" + service + "' (no " + path +
                              "); start one with `tqf serve FILE --name " + service + "`");
    }
    return Status::IOError(path + ": " + std::strerror(errno));
  }
  if (st.st_uid == geteuid()) return Status::OK();
  const mode_t group_bits = need_write ? 0060 : 0040;
  if ((st.st_mode & group_bits) == group_bits && InGroup(st.st_gid)) return Status::OK();
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return Status::IOError("service '" + service + "' belongs to uid " + std::to_string(st.st_uid) +
                         " (" + path + " mode " + mode + ", gid " + std::to_string(st.st_gid) +
                         ") and is not shared with uid " + std::to_string(geteuid()) +
                         "; its owner can share it with a group by starting it with --group");
}

}  // namespace tqf::serve
