// Invariant: a hostile control segment of the storage service reaches
// neither side. (1) A client's ReadGeometry on any bytes either refuses them
// or returns a geometry whose every table and tensor row lies inside the
// segment and the data object. (2) The service's Scheduler, over its own
// valid geometry, with the tables rewritten by arbitrary bytes between
// every step (as a client could), only ever picks layers and slots in
// range and keeps its private record consistent (no two layers in a slot).
//
// Input: [mode u8][...]
//   mode even: the rest is a control segment image for ReadGeometry;
//   mode odd:  [layers u8][slots u8][clients u8][steps u8] then table
//              bytes, consumed as the hostile writes between steps.
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_helpers.h"
#include "serve_scheduler.h"
#include "serve_segment.h"

namespace {

using tqf::serve::ControlHeader;
using tqf::serve::Geometry;

void FuzzClientSide(tqf::fuzz::Producer* in) {
  std::vector<uint8_t> bytes = in->Take(in->left());
  bytes.resize(std::max(bytes.size(), sizeof(ControlHeader)));
  tqf::fuzz::AlignedCopy seg(bytes.data(), bytes.size());
  auto* h = reinterpret_cast<ControlHeader*>(const_cast<uint8_t*>(seg.data()));
  Geometry g;
  if (!tqf::serve::ReadGeometry(h, seg.size(), &g).ok()) return;
  FUZZ_ASSERT(g.layout.total <= seg.size());
  FUZZ_ASSERT(g.num_slots >= 1 && g.num_slots <= g.num_layers);
  FUZZ_ASSERT(g.slots_offset + uint64_t{g.num_slots} * g.slot_bytes == g.data_bytes);
  for (const tqf::serve::TensorEntry& t : g.rows) {
    const uint64_t limit = t.layer < 0 ? g.held_bytes : g.slot_bytes;
    FUZZ_ASSERT(t.offset <= limit && t.size <= limit - t.offset);
  }
  for (uint32_t l = 0; l < g.num_layers; ++l) {
    FUZZ_ASSERT(g.layer_first[l] + uint64_t{g.layer_count[l]} <= g.num_tensors);
    FUZZ_ASSERT(g.layer_bytes[l] <= g.slot_bytes);
  }
}

// A valid geometry: `layers` layers of one tensor each, `slots` slots.
Geometry MakeGeometry(uint32_t layers, uint32_t slots, uint32_t clients) {
  Geometry g;
  g.num_layers = layers;
  g.num_slots = slots;
  g.max_clients = clients;
  g.slot_bytes = tqf::serve::kPage;
  g.held_bytes = g.slots_offset = 0;
  g.data_bytes = uint64_t{slots} * g.slot_bytes;
  for (uint32_t l = 0; l < layers; ++l) {
    g.rows.push_back({l, static_cast<int32_t>(l), 0, 64});
    g.layer_first.push_back(l);
    g.layer_count.push_back(1);
    g.layer_bytes.push_back(64);
  }
  g.num_tensors = layers;
  g.layout = tqf::serve::ComputeLayout(layers, layers, clients, slots);
  return g;
}

void FuzzServiceSide(tqf::fuzz::Producer* in) {
  const uint32_t layers = 1 + in->U8() % 8;
  const uint32_t slots = 1 + in->U8() % layers;
  const uint32_t clients = 1 + in->U8() % 4;
  const uint32_t steps = in->U8() % 16;
  const Geometry g = MakeGeometry(layers, slots, clients);
  std::vector<uint64_t> words(g.layout.total / 8 + 1, 0);
  auto* h = reinterpret_cast<ControlHeader*>(words.data());
  auto* tables = reinterpret_cast<uint8_t*>(words.data()) + g.layout.layers_off;
  const size_t table_bytes = g.layout.total - g.layout.layers_off;
  tqf::serve::Scheduler sched(h, g);
  for (uint32_t step = 0; step < steps; ++step) {
    // The hostile client writes a stretch of the tables (and the counters).
    const size_t at = in->U32() % table_bytes;
    std::vector<uint8_t> w = in->Take(std::min<size_t>(in->U8(), table_bytes - at));
    if (!w.empty()) std::memcpy(tables + at, w.data(), w.size());
    sched.Republish();
    const int layer = sched.PickRequest();
    FUZZ_ASSERT(layer >= -1 && layer < static_cast<int>(layers));
    if (layer >= 0) {
      const int slot = sched.FindSlot();
      FUZZ_ASSERT(slot >= -1 && slot < static_cast<int>(slots));
      if (slot >= 0) {
        sched.StartDecode(layer, slot);
        sched.FinishDecode(layer, slot,
                           in->U8() & 1 ? tqf::Status::OK() : tqf::Status::IOError("x"));
      }
    }
    if (in->U8() % 4 == 0) (void)sched.ReclaimDeadClients();
    FUZZ_ASSERT(sched.Consistent());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::Producer in(data, size);
  if (in.U8() % 2 == 0) {
    FuzzClientSide(&in);
  } else {
    FuzzServiceSide(&in);
  }
  return 0;
}
