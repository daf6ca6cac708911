// ServeService::Run: the request loop (pick a requested layer, find it a
// slot, decode it with the lock released, publish it), reclaiming the
// leases of dead clients and watching the model file. See serve_service.h.
#include <sys/stat.h>

#include <cstring>

#include "serve_service_internal.h"

namespace tqf::serve {

using serve::LayerEntry;
using serve::LayerState;

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

int ServeService::Impl::PickRequest() {
  // The oldest request a client waits for; else the oldest prefetch.
  int demand = -1, prefetch = -1;
  const LayerEntry* layers = serve::Layers(header);
  for (uint32_t l = 0; l < header->num_layers; ++l) {
    const LayerEntry& e = layers[l];
    if (e.state != static_cast<uint32_t>(LayerState::kRequested)) continue;
    int& best = e.demand ? demand : prefetch;
    if (best < 0 || e.requested_at < layers[best].requested_at) best = static_cast<int>(l);
  }
  return demand >= 0 ? demand : prefetch;
}

bool ServeService::Impl::Evictable(int layer) {
  const LayerEntry& e = serve::Layers(header)[layer];
  if (e.state != static_cast<uint32_t>(LayerState::kReady) || e.pins != 0) return false;
  for (uint32_t c = 0; c < header->max_clients; ++c) {
    const serve::ClientEntry& client = serve::Clients(header)[c];
    if (client.who.pid != 0 && client.waiting_on == layer) return false;
  }
  return true;
}

int ServeService::Impl::FindSlot() {
  serve::SlotEntry* slots = serve::Slots(header);
  int victim = -1;
  for (uint32_t s = 0; s < header->num_slots; ++s) {
    const int l = slots[s].layer;
    if (l < 0) return static_cast<int>(s);
    if (!Evictable(l)) continue;
    if (victim < 0 ||
        serve::Layers(header)[l].last_used < serve::Layers(header)[slots[victim].layer].last_used) {
      victim = static_cast<int>(s);
    }
  }
  if (victim < 0) return -1;
  LayerEntry& e = serve::Layers(header)[slots[victim].layer];
  e.state = static_cast<uint32_t>(LayerState::kAbsent);
  e.slot = -1;
  slots[victim].layer = -1;
  header->counters.evictions++;
  return victim;
}

void ServeService::Impl::ReclaimDeadClients() {
  last_reclaim = std::chrono::steady_clock::now();
  const uint32_t n = header->num_layers;
  uint32_t* pins = serve::Pins(header);
  for (uint32_t c = 0; c < header->max_clients; ++c) {
    serve::ClientEntry& client = serve::Clients(header)[c];
    if (client.who.pid == 0 || serve::IsAlive(client.who)) continue;
    uint64_t dropped = 0;
    for (uint32_t l = 0; l < n; ++l) {
      dropped += pins[uint64_t{c} * n + l];
      pins[uint64_t{c} * n + l] = 0;
    }
    Log("client pid " + std::to_string(client.who.pid) + " died; reclaimed its " +
        std::to_string(dropped) + " lease(s)");
    std::memset(static_cast<void*>(&client), 0, sizeof(client));
    client.waiting_on = -1;
    header->counters.reclaimed_clients++;
    header->counters.reclaimed_pins += dropped;
  }
  // Recount each layer's leases from the live clients' tables, which also
  // repairs a count a client was killed in the middle of updating.
  for (uint32_t l = 0; l < n; ++l) {
    uint32_t total = 0;
    for (uint32_t c = 0; c < header->max_clients; ++c) total += pins[uint64_t{c} * n + l];
    serve::Layers(header)[l].pins = total;
  }
}

Status ServeService::Impl::DecodeLayer(int layer, int slot) {
  uint8_t* base = data + header->slots_offset + static_cast<uint64_t>(slot) * header->slot_bytes;
  const LayerEntry& e = serve::Layers(header)[layer];  // its tensor rows never change
  for (uint32_t r = e.first_tensor; r < e.first_tensor + e.num_tensors; ++r) {
    const serve::TensorEntry& t = serve::Tensors(header)[r];
    Status s =
        reader->DecodeTensor(t.tensor_index, base + t.offset, t.size, options.decode_threads);
    reader->DontNeed(t.tensor_index);
    if (!s.ok()) return s.WithContext("layer " + std::to_string(layer));
  }
  return Status::OK();
}

void ServeService::Impl::CheckModelFile() {
  last_file_check = std::chrono::steady_clock::now();
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
  if (header->state == static_cast<uint32_t>(serve::ServiceState::kModelChanged)) return;
  header->state = static_cast<uint32_t>(serve::ServiceState::kModelChanged);
  serve::Notify(&header->client_event);
  Log("model file " + path + " changed on disk (" + why +
      "); no longer serving it: restart `tqf serve`");
}

Status ServeService::Run(const std::atomic<bool>& stop) {
  Impl& s = *impl_;
  serve::ControlHeader* h = s.header;
  while (!stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now - s.last_file_check >= kFileCheckEvery) s.CheckModelFile();
    int layer = -1, slot = -1;
    {
      serve::SegmentLock lock(h);
      if (!lock.ok())
        return Status::IOError("service '" + s.name + "': shared mutex unrecoverable");
      if (now - s.last_reclaim >= kReclaimEvery) s.ReclaimDeadClients();
      if (h->state != static_cast<uint32_t>(serve::ServiceState::kRunning) ||
          (layer = s.PickRequest()) < 0) {
        lock.Wait(&h->server_event, kIdleWait);
        continue;
      }
      slot = s.FindSlot();
      if (slot < 0) {
        s.ReclaimDeadClients();
        slot = s.FindSlot();
      }
      if (slot < 0) {
        lock.Wait(&h->server_event, kSlotWait);  // every slot leased: wait for a release
        continue;
      }
      LayerEntry& e = serve::Layers(h)[layer];
      if (!e.demand) h->counters.prefetches++;
      e.state = static_cast<uint32_t>(LayerState::kDecoding);
      e.slot = slot;
      serve::Slots(h)[slot].layer = layer;
    }
    const auto start = std::chrono::steady_clock::now();
    Status status = s.DecodeLayer(layer, slot);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    serve::SegmentLock lock(h);
    LayerEntry& e = serve::Layers(h)[layer];
    h->counters.decodes++;
    h->counters.decode_ns += static_cast<uint64_t>(ns);
    if (status.ok()) {
      e.state = static_cast<uint32_t>(LayerState::kReady);
      e.last_used = ++h->clock;
    } else {
      e.state = static_cast<uint32_t>(LayerState::kFailed);
      e.slot = -1;
      serve::Slots(h)[slot].layer = -1;
      std::strncpy(e.error, status.ToString().c_str(), serve::kErrorMax - 1);
      s.Log(status.ToString());
    }
    serve::Notify(&h->client_event);
  }
  return Status::OK();
}

}  // namespace tqf::serve
