// The service's slot and request bookkeeping (see serve_scheduler.h).
#include "serve_scheduler.h"

#include <cstring>

namespace tqf::serve {
namespace {

uint32_t Code(LayerState s) { return static_cast<uint32_t>(s); }

}  // namespace

Scheduler::Scheduler(ControlHeader* h, const Geometry& g)
    : h_(h),
      g_(g),
      state_(g.num_layers, LayerState::kAbsent),
      slot_(g.num_layers, -1),
      slot_layer_(g.num_slots, -1) {}

void Scheduler::Republish() {
  LayerEntry* layers = Layers(h_, g_);
  for (uint32_t l = 0; l < g_.num_layers; ++l) {
    LayerEntry& e = layers[l];
    const LayerState mine = state_[l];
    const uint32_t posted = e.state;
    // A request stays posted on a layer we do not hold; anything else a
    // client wrote over what we published is put back.
    if ((mine == LayerState::kAbsent || mine == LayerState::kFailed) &&
        posted == Code(LayerState::kRequested)) {
      e.slot = -1;
      continue;
    }
    e.state = Code(mine);
    e.slot = slot_[l];
    e.bytes = g_.layer_bytes[l];
    e.first_tensor = g_.layer_first[l];
    e.num_tensors = g_.layer_count[l];
  }
  SlotEntry* slots = Slots(h_, g_);
  for (uint32_t s = 0; s < g_.num_slots; ++s) slots[s].layer = slot_layer_[s];
}

int Scheduler::PickRequest() const {
  const LayerEntry* layers = Layers(h_, g_);
  int demand = -1, prefetch = -1;
  uint64_t demand_at = 0, prefetch_at = 0;
  for (uint32_t l = 0; l < g_.num_layers; ++l) {
    if (state_[l] == LayerState::kDecoding || state_[l] == LayerState::kReady) continue;
    const LayerEntry& e = layers[l];
    if (e.state != Code(LayerState::kRequested)) continue;
    const uint64_t at = e.requested_at;
    const bool wanted = e.demand != 0;
    int& best = wanted ? demand : prefetch;
    uint64_t& best_at = wanted ? demand_at : prefetch_at;
    if (best < 0 || at < best_at) {
      best = static_cast<int>(l);
      best_at = at;
    }
  }
  return demand >= 0 ? demand : prefetch;
}

bool Scheduler::Evictable(int layer) const {
  if (state_[layer] != LayerState::kReady || Layers(h_, g_)[layer].pins != 0) return false;
  const ClientEntry* clients = Clients(h_, g_);
  for (uint32_t c = 0; c < g_.max_clients; ++c) {
    if (clients[c].who.pid != 0 && clients[c].waiting_on == layer) return false;
  }
  return true;
}

int Scheduler::FindSlot() {
  const LayerEntry* layers = Layers(h_, g_);
  int victim = -1;
  uint64_t victim_used = 0;
  for (uint32_t s = 0; s < g_.num_slots; ++s) {
    const int l = slot_layer_[s];
    if (l < 0) return static_cast<int>(s);
    if (!Evictable(l)) continue;
    const uint64_t used = layers[l].last_used;
    if (victim < 0 || used < victim_used) {
      victim = static_cast<int>(s);
      victim_used = used;
    }
  }
  if (victim < 0) return -1;
  const int evicted = slot_layer_[victim];
  state_[evicted] = LayerState::kAbsent;
  slot_[evicted] = -1;
  slot_layer_[victim] = -1;
  h_->counters.evictions++;
  Republish();
  return victim;
}

void Scheduler::StartDecode(int layer, int slot) {
  state_[layer] = LayerState::kDecoding;
  slot_[layer] = slot;
  slot_layer_[slot] = layer;
  if (!Layers(h_, g_)[layer].demand) h_->counters.prefetches++;
  Republish();
}

void Scheduler::FinishDecode(int layer, int slot, const Status& status) {
  LayerEntry& e = Layers(h_, g_)[layer];
  if (status.ok()) {
    state_[layer] = LayerState::kReady;
    e.last_used = ++h_->clock;
  } else {
    state_[layer] = LayerState::kFailed;
    slot_[layer] = -1;
    slot_layer_[slot] = -1;
    std::memset(e.error, 0, sizeof(e.error));
    std::strncpy(e.error, status.ToString().c_str(), kErrorMax - 1);
  }
  Republish();
}

std::vector<std::string> Scheduler::ReclaimDeadClients() {
  std::vector<std::string> log;
  const uint32_t n = g_.num_layers;
  uint32_t* pins = Pins(h_, g_);
  ClientEntry* clients = Clients(h_, g_);
  for (uint32_t c = 0; c < g_.max_clients; ++c) {
    ClientEntry& client = clients[c];
    const ProcessId who = client.who;
    if (who.pid == 0 || IsAlive(who)) continue;
    uint64_t dropped = 0;
    for (uint32_t l = 0; l < n; ++l) {
      dropped += pins[uint64_t{c} * n + l];
      pins[uint64_t{c} * n + l] = 0;
    }
    log.push_back("client pid " + std::to_string(who.pid) + " died; reclaimed its " +
                  std::to_string(dropped) + " lease(s)");
    std::memset(static_cast<void*>(&client), 0, sizeof(client));
    client.waiting_on = -1;
    h_->counters.reclaimed_clients++;
    h_->counters.reclaimed_pins += dropped;
  }
  // Recount each layer's leases from the live clients' tables, which also
  // repairs a count a client was killed in the middle of updating (or one
  // it wrote wrong: the per-client counts are what the service trusts).
  LayerEntry* layers = Layers(h_, g_);
  for (uint32_t l = 0; l < n; ++l) {
    uint64_t total = 0;
    for (uint32_t c = 0; c < g_.max_clients; ++c) total += pins[uint64_t{c} * n + l];
    layers[l].pins = total > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(total);
  }
  return log;
}

bool Scheduler::Consistent() const {
  for (uint32_t s = 0; s < g_.num_slots; ++s) {
    const int l = slot_layer_[s];
    if (l >= 0 && (static_cast<uint32_t>(l) >= g_.num_layers || slot_[l] != static_cast<int>(s)))
      return false;
  }
  for (uint32_t l = 0; l < g_.num_layers; ++l) {
    const bool holds = state_[l] == LayerState::kDecoding || state_[l] == LayerState::kReady;
    if (holds != (slot_[l] >= 0)) return false;
    if (holds && slot_layer_[slot_[l]] != static_cast<int>(l)) return false;
  }
  return true;
}

}  // namespace tqf::serve
