// ServeService::Run: the request loop (pick a requested layer, find it a
// slot, decode it with the lock released, publish it), reclaiming the
// leases of dead clients and watching the model file. The bookkeeping is
// the Scheduler's (serve_scheduler.h); geometry comes from the service's
// own copy, never from the segment. See serve_service.h.
#include <sys/stat.h>

#include <cstring>

#include "serve_service_internal.h"
#include "tqf/rt/layer_provider.h"
#include "tqf/source.h"

namespace tqf::serve {

namespace {

constexpr double kIdleWait = 0.1;   // seconds between checks of `stop` when idle
constexpr double kSlotWait = 0.05;  // when every slot is leased
constexpr auto kReclaimEvery = std::chrono::milliseconds(250);
constexpr auto kFileCheckEvery = std::chrono::seconds(1);

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

void ServeService::Impl::ReclaimDeadClients() {
  last_reclaim = std::chrono::steady_clock::now();
  for (const std::string& line : scheduler->ReclaimDeadClients()) Log(line);
}

Status ServeService::Impl::DecodeLayer(int layer, int slot) {
  uint8_t* base = data + geometry.slots_offset + static_cast<uint64_t>(slot) * geometry.slot_bytes;
  const uint32_t first = geometry.layer_first[layer];
  for (uint32_t r = first; r < first + geometry.layer_count[layer]; ++r) {
    const serve::TensorEntry& t = geometry.rows[r];
    Status s = rt::DecodeTensorWithParams(*reader, t.tensor_index, base + t.offset,
                                          options.decode_threads);
    reader->DontNeed(t.tensor_index);
    if (!s.ok()) return s.WithContext("layer " + std::to_string(layer));
  }
  return Status::OK();
}

void ServeService::Impl::CheckModelFile() {
  last_file_check = std::chrono::steady_clock::now();
  // A URL has no stat; a remote file that changes is refused by the reader
  // at its next fetch (ETag / Last-Modified / size), which stops the service.
  if (IsRemoteUrl(path)) return;
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && SameFile(st, file_stat)) return;
  std::string why;
  if (!exists) {
    why = "it was removed";
  } else {
    file_stat = st;
    Result<std::unique_ptr<Reader>> now = Reader::Open(path);
    if (!now.ok()) {
      why = "it no longer opens: " + now.status().ToString();
    } else {
      const serve::Fingerprint fp = serve::FingerprintOf(**now);
      if (fp.file_size == fingerprint.file_size &&
          fp.header_checksum == fingerprint.header_checksum) {
        return;  // touched or rewritten with the same contents
      }
      why = "its size or header checksum changed";
    }
  }
  serve::SegmentLock lock(header);
  if (!lock.ok()) return;  // the loop reports a lock that cannot be had
  if (header->state == static_cast<uint32_t>(serve::ServiceState::kModelChanged)) return;
  header->state = static_cast<uint32_t>(serve::ServiceState::kModelChanged);
  serve::Notify(&header->client_event);
  Log("model file " + path + " changed on disk (" + why +
      "); no longer serving it: restart `tqf serve`");
}

Status ServeService::Impl::ServeOne(serve::SegmentLock* lock, bool reclaim) {
  serve::ControlHeader* h = header;
  if (reclaim) ReclaimDeadClients();
  scheduler->Republish();
  int layer = -1;
  if (h->state != static_cast<uint32_t>(serve::ServiceState::kRunning) ||
      (layer = scheduler->PickRequest()) < 0) {
    lock->Wait(&h->server_event, kIdleWait);
    return Status::OK();
  }
  int slot = scheduler->FindSlot();
  if (slot < 0) {
    ReclaimDeadClients();
    slot = scheduler->FindSlot();
  }
  if (slot < 0) {
    lock->Wait(&h->server_event, kSlotWait);  // every slot leased: wait for a release
    return Status::OK();
  }
  scheduler->StartDecode(layer, slot);
  lock->Unlock();  // clients lease other layers while this one decodes
  const auto start = std::chrono::steady_clock::now();
  Status status = DecodeLayer(layer, slot);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  lock->Relock();
  if (!lock->ok()) {
    // Could not take the lock back: publish nothing, stop (the caller
    // reports why).
    return Status::IOError("service '" + name + "': " + lock->Why());
  }
  h->counters.decodes++;
  h->counters.decode_ns += static_cast<uint64_t>(ns);
  scheduler->FinishDecode(layer, slot, status);
  if (!status.ok()) Log(status.ToString());
  serve::Notify(&h->client_event);
  // The model file changed under the mapping: nothing more can be decoded
  // from it; stop serving (clients get a clear error, objects are removed).
  if (status.IsIOError()) return status.WithContext("service '" + name + "'");
  return Status::OK();
}

Status ServeService::Run(const std::atomic<bool>& stop) {
  Impl& s = *impl_;
  while (!stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now - s.last_file_check >= kFileCheckEvery) s.CheckModelFile();
    serve::SegmentLock lock(s.header);
    if (!lock.ok()) {
      if (!lock.timed_out()) {
        return Status::IOError("service '" + s.name + "': shared mutex unrecoverable");
      }
      // A client holds the lock and does not let go: say who, keep trying
      // (a signal still stops the service cleanly).
      s.Log("waiting: " + lock.Why());
      continue;
    }
    TQF_RETURN_IF_ERROR(s.ServeOne(&lock, now - s.last_reclaim >= kReclaimEvery));
  }
  return Status::OK();
}

}  // namespace tqf::serve
