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
  if (h->num_layers == 0 || h->num_layers > kMaxCount || h->num_tensors > kMaxCount ||
      h->max_clients == 0 || h->max_clients > 4096 || h->num_slots == 0 ||
      h->num_slots > h->num_layers) {
    return Status::Corruption(
        "control segment: implausible counts (layers " + std::to_string(h->num_layers) +
        ", tensors " + std::to_string(h->num_tensors) + ", clients " +
        std::to_string(h->max_clients) + ", slots " + std::to_string(h->num_slots) + ")");
  }
  const ControlLayout l =
      ComputeLayout(h->num_layers, h->num_tensors, h->max_clients, h->num_slots);
  if (l.layers_off != h->layers_off || l.tensors_off != h->tensors_off ||
      l.clients_off != h->clients_off || l.pins_off != h->pins_off ||
      l.slot_table_off != h->slot_table_off || l.total != h->control_bytes || l.total > mapped) {
    return Status::Corruption(
        "control segment: table offsets disagree with its counts or exceed "
        "its " +
        std::to_string(mapped) + " bytes");
  }
  if (h->model_path[kPathMax - 1] != '\0') {
    return Status::Corruption("control segment: model path is not terminated");
  }
  return Status::OK();
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

SegmentLock::SegmentLock(ControlHeader* h) : h_(h) {
  const int rc = pthread_mutex_lock(&h_->mu);
  if (rc == EOWNERDEAD) {
    // Its owner died inside a critical section. Every section leaves the
    // tables consistent at each store that matters (pins are reconciled by
    // the service's reclaim), so mark it usable again.
    pthread_mutex_consistent(&h_->mu);
    locked_ = true;
  } else {
    locked_ = rc == 0;
  }
}

SegmentLock::~SegmentLock() {
  if (locked_) pthread_mutex_unlock(&h_->mu);
}

void SegmentLock::Wait(uint32_t* event, double seconds) {
  if (!locked_) return;
  const uint32_t seen = __atomic_load_n(event, __ATOMIC_ACQUIRE);
  pthread_mutex_unlock(&h_->mu);
  const long long ns = static_cast<long long>(seconds * 1e9);
  timespec rel;
  rel.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  rel.tv_nsec = static_cast<long>(ns % 1000000000LL);
  // Returns at once if the event moved since `seen` (EAGAIN): no lost wake-up.
  syscall(SYS_futex, event, FUTEX_WAIT, seen, &rel, nullptr, 0);
  const int rc = pthread_mutex_lock(&h_->mu);
  if (rc == EOWNERDEAD) pthread_mutex_consistent(&h_->mu);
  locked_ = rc == 0 || rc == EOWNERDEAD;
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

Status CheckAccess(const std::string& service, const std::string& object) {
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
  if ((st.st_mode & 0060) == 0060 && InGroup(st.st_gid)) return Status::OK();
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return Status::IOError("service '" + service + "' belongs to uid " + std::to_string(st.st_uid) +
                         " (" + path + " mode " + mode + ", gid " + std::to_string(st.st_gid) +
                         ") and is not shared with uid " + std::to_string(geteuid()) +
                         "; its owner can share it with a group by starting it with --group");
}

}  // namespace tqf::serve
