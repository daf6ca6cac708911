// ReadServeStatus: a snapshot of a service's tables, taken under its mutex
// without registering as a client. See shared_model.h.
#include "shared_model_internal.h"
#include "tqf/service/shared_model.h"

namespace tqf::serve {

namespace {

const char* StateName(uint32_t state) {
  switch (static_cast<serve::ServiceState>(state)) {
    case serve::ServiceState::kStarting: return "starting";
    case serve::ServiceState::kRunning: return "running";
    case serve::ServiceState::kStopped: return "stopped";
    case serve::ServiceState::kModelChanged: return "model file changed (not serving)";
  }
  return "unknown";
}

}  // namespace

Result<ServeStatus> ReadServeStatus(const std::string& name) {
  LayerLease::Connection conn;
  Status opened = conn.OpenControl(name);
  // A dead or stopped service is still worth describing; other errors are not.
  if (!opened.ok() && conn.header == nullptr) return opened;
  if (!opened.ok() && !opened.IsIOError() && !opened.IsChecksumMismatch()) return opened;
  serve::ControlHeader* h = conn.header;
  // OpenControl read the geometry (or failed before it, for a dead service
  // whose segment still describes it: read it now).
  serve::Geometry& g = conn.geometry;
  if (g.num_layers == 0) {
    TQF_RETURN_IF_ERROR(serve::ReadGeometry(h, conn.control_region.get_size(), &g));
  }
  serve::SegmentLock lock(h);
  if (!lock.ok()) return Status::IOError("service '" + name + "': " + lock.Why());
  ServeStatus st;
  st.name = name;
  st.model_path = conn.model_path;
  st.state = StateName(h->state);
  st.server_pid = h->server.pid;
  st.server_alive = serve::IsAlive(h->server);
  if (!st.server_alive && h->state == static_cast<uint32_t>(serve::ServiceState::kRunning)) {
    st.state = "dead (stale objects; the next `tqf serve` for this name removes them)";
  }
  st.num_layers = g.num_layers;
  st.num_slots = g.num_slots;
  st.slot_bytes = g.slot_bytes;
  st.held_bytes = g.held_bytes;
  st.cache_bytes = uint64_t{g.num_slots} * g.slot_bytes;
  st.bytes_used = g.held_bytes;
  for (uint32_t l = 0; l < g.num_layers; ++l) {
    const serve::LayerEntry& e = serve::Layers(h, g)[l];
    if (e.state == static_cast<uint32_t>(serve::LayerState::kReady)) {
      st.layers_resident++;
      st.bytes_used += g.slot_bytes;
      if (e.pins > 0) st.layers_leased++;
    }
  }
  const serve::Counters& c = h->counters;
  st.acquires = c.acquires;
  st.hits = c.hits;
  st.misses = c.misses;
  st.decodes = c.decodes;
  st.evictions = c.evictions;
  st.prefetches = c.prefetches;
  st.reclaimed_clients = c.reclaimed_clients;
  st.reclaimed_leases = c.reclaimed_pins;
  st.decode_seconds = static_cast<double>(c.decode_ns) * 1e-9;
  for (uint32_t i = 0; i < g.max_clients; ++i) {
    const serve::ClientEntry& e = serve::Clients(h, g)[i];
    if (e.who.pid == 0) continue;
    ServeStatus::Client client;
    client.pid = e.who.pid;
    client.alive = serve::IsAlive(e.who);
    for (uint32_t l = 0; l < g.num_layers; ++l) {
      client.leases += serve::Pins(h, g)[uint64_t{i} * g.num_layers + l];
    }
    client.acquires = e.acquires;
    client.hits = e.hits;
    client.misses = e.misses;
    st.clients.push_back(client);
  }
  return st;
}

}  // namespace tqf::serve
