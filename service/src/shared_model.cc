// SharedModel: attaching to a service, leases, binding to a Model. See
// shared_model.h; the status snapshot is in shared_model_status.cc.
#include "tqf/service/shared_model.h"

#include <signal.h>
#include <sys/stat.h>

#include <boost/interprocess/exceptions.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "shared_model_internal.h"

namespace tqf::serve {

using rt::DecodedLayer;
using rt::LayerProviderStats;

namespace bip = boost::interprocess;
using serve::LayerEntry;
using serve::LayerState;

namespace {

constexpr double kWaitSlice = 0.05;  // seconds between liveness checks while waiting

uint32_t Code(LayerState s) { return static_cast<uint32_t>(s); }

}  // namespace

Status LayerLease::Connection::OpenControl(const std::string& service) {
  name = service;
  TQF_RETURN_IF_ERROR(serve::CheckServiceName(service));
  const std::string control = serve::ControlName(service);
  TQF_RETURN_IF_ERROR(serve::CheckAccess(service, control));
  try {
    bip::shared_memory_object shm(bip::open_only, control.c_str(), bip::read_write);
    control_shm.swap(shm);
    struct stat st;
    if (::fstat(control_shm.get_mapping_handle().handle, &st) != 0) {
      return Status::IOError(serve::ShmPath(control) + ": " + std::strerror(errno));
    }
    if (static_cast<size_t>(st.st_size) < sizeof(serve::ControlHeader)) {
      return Status::IOError("service '" + service + "' is starting, or died while starting (" +
                             serve::ShmPath(control) + " is still empty)");
    }
    bip::mapped_region region(control_shm, bip::read_write);
    control_region.swap(region);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) {
      return Status::NotFound("no service named '" + service +
                              "'; start one with `tqf serve FILE --name " + service + "`");
    }
    return Status::IOError("service '" + service + "': opening " + serve::ShmPath(control) + ": " +
                           e.what());
  }
  header = static_cast<serve::ControlHeader*>(control_region.get_address());
  if (__atomic_load_n(&header->magic, __ATOMIC_ACQUIRE) != serve::kMagic &&
      !serve::IsAlive(header->server)) {
    return Status::IOError("service '" + service +
                           "' died while starting; the next `tqf serve` for "
                           "this name removes what it left");
  }
  TQF_RETURN_IF_ERROR(serve::ReadGeometry(header, control_region.get_size(), &geometry)
                          .WithContext("service '" + service + "'"));
  char path[serve::kPathMax];
  std::memcpy(path, header->model_path, sizeof(path));
  path[serve::kPathMax - 1] = '\0';
  model_path = path;
  serve::SegmentLock lock(header, lock_timeout);
  if (!lock.ok()) return Status::IOError("service '" + service + "': " + lock.Why());
  return ServiceUsable(true);
}

Status LayerLease::Connection::ServiceUsable(bool full) const {
  const auto state = static_cast<serve::ServiceState>(header->state);
  const bool alive =
      full ? serve::IsAlive(header->server) : (kill(header->server.pid, 0) == 0 || errno == EPERM);
  if (state == serve::ServiceState::kRunning && alive) return Status::OK();
  const std::string who = "service '" + name + "' (pid " + std::to_string(header->server.pid) + ")";
  if (state == serve::ServiceState::kStopped) return Status::IOError(who + " has stopped");
  if (state == serve::ServiceState::kModelChanged) {
    return Status::ChecksumMismatch(who + ": its model file " + model_path +
                                    " changed on disk; restart the service");
  }
  if (!alive) {
    return Status::IOError(who +
                           " is not running: it died without cleaning up (the next "
                           "`tqf serve` for this name removes its stale objects)");
  }
  return Status::IOError(who + " is not serving yet");
}

void LayerLease::Connection::Unpin(int layer) {
  serve::SegmentLock lock(header, lock_timeout);
  if (!lock.ok() || client < 0) return;
  const serve::Geometry& g = geometry;
  uint32_t& mine = serve::Pins(header, g)[static_cast<uint64_t>(client) * g.num_layers + layer];
  LayerEntry& e = serve::Layers(header, g)[layer];
  if (mine > 0) {
    --mine;
    if (e.pins > 0) --e.pins;
  }
  if (e.pins == 0) serve::Notify(&header->server_event);  // the service may wait for a slot
}

LayerLease::Connection::~Connection() {
  if (header == nullptr || client < 0) return;
  serve::SegmentLock lock(header, lock_timeout);
  if (!lock.ok()) return;
  const serve::Geometry& g = geometry;
  const uint32_t n = g.num_layers;
  uint32_t* pins = serve::Pins(header, g) + static_cast<uint64_t>(client) * n;
  for (uint32_t l = 0; l < n; ++l) {
    LayerEntry& e = serve::Layers(header, g)[l];
    e.pins -= std::min(e.pins, pins[l]);
    pins[l] = 0;
  }
  serve::ClientEntry& me = serve::Clients(header, g)[client];
  std::memset(static_cast<void*>(&me), 0, sizeof(me));
  me.waiting_on = -1;
  serve::Notify(&header->server_event);
}

LayerLease& LayerLease::operator=(LayerLease&& other) noexcept {
  if (this != &other) {
    Release();
    conn_ = std::move(other.conn_);
    layer_ = other.layer_;
    data_ = other.data_;
    size_ = other.size_;
    other.conn_ = nullptr;
    other.data_ = nullptr;
  }
  return *this;
}

void LayerLease::Release() {
  if (conn_ == nullptr) return;
  conn_->Unpin(layer_);
  conn_->leased_bytes.fetch_sub(size_);
  conn_.reset();
  data_ = nullptr;
}

const uint8_t* LayerLease::tensor(size_t tensor_index) const {
  if (conn_ == nullptr) return nullptr;
  auto it = conn_->rows.find(tensor_index);
  if (it == conn_->rows.end() || it->second->layer != layer_) return nullptr;
  return data_ + it->second->offset;
}

Result<std::shared_ptr<SharedModel>> SharedModel::Attach(const std::string& name,
                                                         const SharedModelOptions& options) {
  auto conn = std::make_shared<LayerLease::Connection>();
  conn->lock_timeout = options.lock_timeout_seconds;
  TQF_RETURN_IF_ERROR(conn->OpenControl(name));
  TQF_RETURN_IF_ERROR(conn->MapData());
  TQF_RETURN_IF_ERROR(conn->Register());
  std::shared_ptr<SharedModel> model(new SharedModel(std::move(conn)));
  model->timeout_seconds_ = options.timeout_seconds;
  return model;
}

// Maps the data object read-only; it must be as large as the geometry says
// (read at attach: the segment's own numbers are not looked at again).
Status LayerLease::Connection::MapData() {
  const std::string data_name = serve::DataName(name);
  TQF_RETURN_IF_ERROR(serve::CheckAccess(name, data_name, /*need_write=*/false));
  try {
    bip::shared_memory_object shm(bip::open_only, data_name.c_str(), bip::read_only);
    data_shm.swap(shm);
    bip::mapped_region region(data_shm, bip::read_only);
    data_region.swap(region);
  } catch (const bip::interprocess_exception& e) {
    return Status::IOError("service '" + name + "': opening " + serve::ShmPath(data_name) + ": " +
                           e.what());
  }
  if (data_region.get_size() < geometry.data_bytes) {
    return Status::Corruption("service '" + name + "': data segment of " +
                              std::to_string(data_region.get_size()) + " bytes, its tables say " +
                              std::to_string(geometry.data_bytes));
  }
  data = static_cast<const uint8_t*>(data_region.get_address());
  // Index the (validated) tensor table; a tensor listed twice is refused.
  for (uint32_t r = 0; r < geometry.num_tensors; ++r) {
    if (!rows.emplace(geometry.rows[r].tensor_index, &geometry.rows[r]).second) {
      return Status::Corruption("service '" + name + "': tensor table row " + std::to_string(r) +
                                " repeats tensor " + std::to_string(geometry.rows[r].tensor_index));
    }
  }
  return Status::OK();
}

// Takes a free row of the client table.
Status LayerLease::Connection::Register() {
  serve::SegmentLock lock(header, lock_timeout);
  if (!lock.ok()) return Status::IOError("service '" + name + "': " + lock.Why());
  serve::ClientEntry* clients = serve::Clients(header, geometry);
  for (uint32_t c = 0; c < geometry.max_clients && client < 0; ++c) {
    serve::ClientEntry& e = clients[c];
    if (e.who.pid != 0) continue;
    std::memset(static_cast<void*>(&e), 0, sizeof(e));
    e.who = serve::Self();
    e.waiting_on = -1;
    client = static_cast<int>(c);
  }
  if (client < 0) {
    return Status::IOError("service '" + name + "' already has its maximum of " +
                           std::to_string(geometry.max_clients) + " clients attached");
  }
  return Status::OK();
}

SharedModel::SharedModel(std::shared_ptr<LayerLease::Connection> conn) : conn_(std::move(conn)) {}
SharedModel::~SharedModel() = default;

const std::string& SharedModel::name() const { return conn_->name; }
const std::string& SharedModel::model_path() const { return conn_->model_path; }
size_t SharedModel::num_layers() const { return conn_->geometry.num_layers; }
size_t SharedModel::layer_bytes(int layer) const { return conn_->geometry.slot_bytes; }
size_t SharedModel::held_bytes() const { return conn_->geometry.held_bytes; }

Status SharedModel::CheckModel(const Reader& reader) const {
  const serve::Fingerprint fp = serve::FingerprintOf(reader);
  const serve::ControlHeader* h = conn_->header;
  if (fp.file_size == h->file_size && fp.header_checksum == h->header_checksum) return Status::OK();
  char mine[40], theirs[40];
  std::snprintf(mine, sizeof(mine), "%016llx", static_cast<unsigned long long>(fp.header_checksum));
  std::snprintf(theirs, sizeof(theirs), "%016llx",
                static_cast<unsigned long long>(h->header_checksum));
  return Status::ChecksumMismatch(
      "the model file differs from the one service '" + name() + "' serves (" + model_path() +
      " when the service loaded it: " + std::to_string(h->file_size) + " bytes, header checksum " +
      theirs + "; now: " + std::to_string(fp.file_size) + " bytes, header checksum " + mine +
      "); restart the service after changing its model");
}

Result<LayerLease> SharedModel::Lease(int layer) {
  const uint32_t n = conn_->geometry.num_layers;
  if (layer < 0 || static_cast<uint32_t>(layer) >= n) {
    return Status::InvalidArgument("layer " + std::to_string(layer) + " out of range (service '" +
                                   name() + "' has " + std::to_string(n) + ")");
  }
  const auto start = std::chrono::steady_clock::now();
  bool missed = false;
  Result<LayerLease> lease = LeaseLocked(layer, start, &missed);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard<std::mutex> guard(mu_);
  stats_.acquires++;
  (missed ? stats_.misses : stats_.hits)++;
  stats_.wait_seconds += waited;
  return lease;
}

Result<LayerLease> SharedModel::LeaseLocked(int layer, std::chrono::steady_clock::time_point start,
                                            bool* missed) {
  serve::ControlHeader* h = conn_->header;
  const serve::Geometry& g = conn_->geometry;
  const auto deadline = start + std::chrono::duration<double>(timeout_seconds_);
  serve::SegmentLock lock(h, conn_->lock_timeout);
  serve::ClientEntry& me = serve::Clients(h, g)[conn_->client];
  for (;;) {
    if (!lock.ok()) return Status::IOError("service '" + name() + "': " + lock.Why());
    Status usable = conn_->ServiceUsable(*missed);
    if (!usable.ok()) {
      me.waiting_on = -1;
      return usable;
    }
    LayerEntry& e = serve::Layers(h, g)[layer];
    const uint32_t state = e.state;
    if (state == Code(LayerState::kReady)) return Take(layer, *missed, &lock);
    if (state == Code(LayerState::kFailed)) {
      me.waiting_on = -1;
      char error[serve::kErrorMax];
      std::memcpy(error, e.error, sizeof(error));
      error[serve::kErrorMax - 1] = '\0';
      return Status::Corruption("service '" + name() + "': " + error);
    }
    if (state == Code(LayerState::kAbsent) ||
        (state == Code(LayerState::kRequested) && !e.demand)) {
      e.state = Code(LayerState::kRequested);
      e.demand = 1;
      e.requested_at = ++h->clock;
      serve::Notify(&h->server_event);
    }
    *missed = true;
    me.waiting_on = layer;
    if (std::chrono::steady_clock::now() >= deadline) {
      me.waiting_on = -1;
      return Status::IOError("timed out after " + std::to_string(timeout_seconds_) +
                             " s waiting for layer " + std::to_string(layer) + " from service '" +
                             name() + "' (pid " + std::to_string(h->server.pid) + ")");
    }
    lock.Wait(&h->client_event, kWaitSlice);
  }
}

// Pins a ready layer (lock held). Its slot and size are read from the
// segment, so they are checked against our own geometry before use.
Result<LayerLease> SharedModel::Take(int layer, bool missed, serve::SegmentLock* lock) {
  serve::ControlHeader* h = conn_->header;
  const serve::Geometry& g = conn_->geometry;
  LayerEntry& e = serve::Layers(h, g)[layer];
  serve::ClientEntry& me = serve::Clients(h, g)[conn_->client];
  const int32_t slot = e.slot;
  const uint64_t bytes = e.bytes;
  if (slot < 0 || static_cast<uint32_t>(slot) >= g.num_slots || bytes != g.layer_bytes[layer]) {
    me.waiting_on = -1;
    return Status::Corruption("service '" + name() + "': layer " + std::to_string(layer) +
                              " published in slot " + std::to_string(slot) + " of " +
                              std::to_string(g.num_slots) + " with " + std::to_string(bytes) +
                              " bytes (expected " + std::to_string(g.layer_bytes[layer]) + ")");
  }
  serve::Pins(h, g)[static_cast<uint64_t>(conn_->client) * g.num_layers + layer]++;
  e.pins++;
  e.last_used = ++h->clock;
  me.waiting_on = -1;
  me.acquires++;
  h->counters.acquires++;
  (missed ? me.misses : me.hits)++;
  (missed ? h->counters.misses : h->counters.hits)++;
  LayerLease lease;
  lease.conn_ = conn_;
  lease.layer_ = layer;
  lease.data_ = conn_->data + g.slots_offset + static_cast<uint64_t>(slot) * g.slot_bytes;
  lease.size_ = bytes;
  const uint64_t now = conn_->leased_bytes.fetch_add(bytes) + bytes;
  uint64_t peak = conn_->peak_leased_bytes.load();
  while (now > peak && !conn_->peak_leased_bytes.compare_exchange_weak(peak, now)) {
  }
  return lease;
}

void SharedModel::Prefetch(int layer) {
  serve::ControlHeader* h = conn_->header;
  const serve::Geometry& g = conn_->geometry;
  if (layer < 0 || static_cast<uint32_t>(layer) >= g.num_layers) return;
  serve::SegmentLock lock(h, conn_->lock_timeout);
  if (!lock.ok()) return;
  LayerEntry& e = serve::Layers(h, g)[layer];
  if (e.state != Code(LayerState::kAbsent)) return;
  if (h->state != static_cast<uint32_t>(serve::ServiceState::kRunning)) return;
  e.state = Code(LayerState::kRequested);
  e.demand = 0;
  e.requested_at = ++h->clock;
  serve::Notify(&h->server_event);
  std::lock_guard<std::mutex> guard(mu_);
  stats_.prefetches++;
}

const uint8_t* SharedModel::HeldTensor(const Reader& reader, size_t tensor_index) const {
  auto it = conn_->rows.find(tensor_index);
  if (it == conn_->rows.end() || it->second->layer >= 0) return nullptr;
  if (tensor_index >= reader.tensors().size()) return nullptr;
  const TensorInfo& t = reader.tensors()[tensor_index];
  const uint64_t held = conn_->geometry.held_bytes, off = it->second->offset;
  // Its row was checked at attach; its params must fit too.
  if (it->second->size != t.raw_size || off > held || rt::LayoutOf(t).bytes > held - off) {
    return nullptr;
  }
  return conn_->data + off;
}

Status SharedModel::Bind(const Reader& reader, const std::vector<std::vector<size_t>>& layers) {
  TQF_RETURN_IF_ERROR(CheckModel(reader));
  if (layers.size() != num_layers()) {
    return Status::InvalidArgument("the model has " + std::to_string(layers.size()) +
                                   " layers, service '" + name() + "' serves " +
                                   std::to_string(num_layers()));
  }
  std::vector<std::vector<size_t>> offsets(layers.size()), params(layers.size());
  const uint64_t slot_bytes = conn_->geometry.slot_bytes;
  for (size_t l = 0; l < layers.size(); ++l) {
    for (size_t idx : layers[l]) {
      auto it = conn_->rows.find(idx);
      // The tensor and its params (rt::LayoutOf) must lie inside a slot.
      const rt::DecodedTensorLayout layout = idx < reader.tensors().size()
                                                 ? rt::LayoutOf(reader.tensors()[idx])
                                                 : rt::DecodedTensorLayout();
      if (idx >= reader.tensors().size() || it == conn_->rows.end() ||
          it->second->layer != static_cast<int32_t>(l) ||
          it->second->size != reader.tensors()[idx].raw_size || it->second->offset > slot_bytes ||
          layout.bytes > slot_bytes - it->second->offset) {
        return Status::NotSupported("service '" + name() + "' does not serve tensor " +
                                    std::to_string(idx) + " as part of layer " + std::to_string(l));
      }
      offsets[l].push_back(it->second->offset);
      params[l].push_back(
          reader.tensors()[idx].num_params ? it->second->offset + layout.params_offset : SIZE_MAX);
    }
  }
  std::lock_guard<std::mutex> guard(mu_);
  offsets_ = std::move(offsets);
  params_ = std::move(params);
  return Status::OK();
}

Result<std::shared_ptr<const DecodedLayer>> SharedModel::Acquire(int layer) {
  std::vector<size_t> offsets, params;
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (offsets_.empty()) return Status::InvalidArgument("SharedModel::Acquire before Bind");
    if (layer < 0 || static_cast<size_t>(layer) >= offsets_.size()) {
      return Status::InvalidArgument("layer " + std::to_string(layer) + " out of range");
    }
    offsets = offsets_[layer];
    params = params_[layer];
  }
  TQF_ASSIGN_OR_RETURN(LayerLease lease, Lease(layer));
  auto held = std::make_shared<LayerLease>(std::move(lease));
  // DecodedLayer holds a mutable pointer, but the model only reads it (and
  // the mapping is read-only: a stray write would fault, not corrupt).
  auto* decoded = new DecodedLayer(layer, const_cast<uint8_t*>(held->data()), held->size(),
                                   std::move(offsets), std::move(params));
  return std::shared_ptr<const DecodedLayer>(decoded, [held](const DecodedLayer* d) {
    delete d;
    held->Release();
  });
}

LayerProviderStats SharedModel::stats() const {
  std::lock_guard<std::mutex> guard(mu_);
  LayerProviderStats s = stats_;
  s.held_bytes = conn_->leased_bytes.load();
  s.peak_held_bytes = conn_->peak_leased_bytes.load();
  return s;
}

}  // namespace tqf::serve
