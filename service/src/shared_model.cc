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
  TQF_RETURN_IF_ERROR(serve::ValidateHeader(header, control_region.get_size())
                          .WithContext("service '" + service + "'"));
  model_path = header->model_path;
  serve::SegmentLock lock(header);
  if (!lock.ok()) return Status::IOError("service '" + service + "': shared mutex unrecoverable");
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
  serve::SegmentLock lock(header);
  if (!lock.ok() || client < 0) return;
  uint32_t& mine = serve::Pins(header)[static_cast<uint64_t>(client) * header->num_layers + layer];
  LayerEntry& e = serve::Layers(header)[layer];
  if (mine > 0) {
    --mine;
    if (e.pins > 0) --e.pins;
  }
  if (e.pins == 0) serve::Notify(&header->server_event);  // the service may wait for a slot
}

LayerLease::Connection::~Connection() {
  if (header == nullptr || client < 0) return;
  serve::SegmentLock lock(header);
  if (!lock.ok()) return;
  const uint32_t n = header->num_layers;
  uint32_t* pins = serve::Pins(header) + static_cast<uint64_t>(client) * n;
  for (uint32_t l = 0; l < n; ++l) {
    LayerEntry& e = serve::Layers(header)[l];
    e.pins -= std::min(e.pins, pins[l]);
    pins[l] = 0;
  }
  serve::ClientEntry& me = serve::Clients(header)[client];
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
  TQF_RETURN_IF_ERROR(conn->OpenControl(name));
  serve::ControlHeader* h = conn->header;
  const std::string data_name = serve::DataName(name);
  TQF_RETURN_IF_ERROR(serve::CheckAccess(name, data_name));
  try {
    bip::shared_memory_object shm(bip::open_only, data_name.c_str(), bip::read_only);
    conn->data_shm.swap(shm);
    bip::mapped_region region(conn->data_shm, bip::read_only);
    conn->data_region.swap(region);
  } catch (const bip::interprocess_exception& e) {
    return Status::IOError("service '" + name + "': opening " + serve::ShmPath(data_name) + ": " +
                           e.what());
  }
  if (conn->data_region.get_size() < h->data_bytes ||
      h->slots_offset + uint64_t{h->num_slots} * h->slot_bytes > h->data_bytes) {
    return Status::Corruption("service '" + name + "': data segment smaller than its tables say");
  }
  conn->data = static_cast<const uint8_t*>(conn->data_region.get_address());
  // Index the tensor table, checking every row lies inside its region.
  const serve::TensorEntry* rows = serve::Tensors(h);
  for (uint32_t r = 0; r < h->num_tensors; ++r) {
    const serve::TensorEntry& t = rows[r];
    const uint64_t limit = t.layer < 0 ? h->held_bytes : h->slot_bytes;
    if (t.layer >= static_cast<int32_t>(h->num_layers) || t.offset > limit ||
        t.size > limit - t.offset || !conn->rows.emplace(t.tensor_index, &t).second) {
      return Status::Corruption("service '" + name + "': tensor table row " + std::to_string(r) +
                                " is out of bounds or repeated");
    }
  }
  serve::SegmentLock lock(h);
  if (!lock.ok()) return Status::IOError("service '" + name + "': shared mutex unrecoverable");
  for (uint32_t c = 0; c < h->max_clients && conn->client < 0; ++c) {
    serve::ClientEntry& e = serve::Clients(h)[c];
    if (e.who.pid != 0) continue;
    std::memset(static_cast<void*>(&e), 0, sizeof(e));
    e.who = serve::Self();
    e.waiting_on = -1;
    conn->client = static_cast<int>(c);
  }
  if (conn->client < 0) {
    return Status::IOError("service '" + name + "' already has its maximum of " +
                           std::to_string(h->max_clients) + " clients attached");
  }
  std::shared_ptr<SharedModel> model(new SharedModel(std::move(conn)));
  model->timeout_seconds_ = options.timeout_seconds;
  return model;
}

SharedModel::SharedModel(std::shared_ptr<LayerLease::Connection> conn) : conn_(std::move(conn)) {}
SharedModel::~SharedModel() = default;

const std::string& SharedModel::name() const { return conn_->name; }
const std::string& SharedModel::model_path() const { return conn_->model_path; }
size_t SharedModel::num_layers() const { return conn_->header->num_layers; }
size_t SharedModel::layer_bytes(int layer) const { return conn_->header->slot_bytes; }
size_t SharedModel::held_bytes() const { return conn_->header->held_bytes; }

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
  serve::ControlHeader* h = conn_->header;
  if (layer < 0 || static_cast<uint32_t>(layer) >= h->num_layers) {
    return Status::InvalidArgument("layer " + std::to_string(layer) + " out of range (service '" +
                                   name() + "' has " + std::to_string(h->num_layers) + ")");
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
  const auto deadline = start + std::chrono::duration<double>(timeout_seconds_);
  serve::SegmentLock lock(h);
  serve::ClientEntry& me = serve::Clients(h)[conn_->client];
  for (;;) {
    if (!lock.ok()) return Status::IOError("service '" + name() + "': shared mutex unrecoverable");
    Status usable = conn_->ServiceUsable(*missed);
    if (!usable.ok()) {
      me.waiting_on = -1;
      return usable;
    }
    LayerEntry& e = serve::Layers(h)[layer];
    if (e.state == Code(LayerState::kReady)) {
      if (e.slot < 0 || static_cast<uint32_t>(e.slot) >= h->num_slots || e.bytes > h->slot_bytes) {
        return Status::Corruption("service '" + name() + "': layer " + std::to_string(layer) +
                                  " has slot " + std::to_string(e.slot) + " of " +
                                  std::to_string(h->num_slots));
      }
      serve::Pins(h)[static_cast<uint64_t>(conn_->client) * h->num_layers + layer]++;
      e.pins++;
      e.last_used = ++h->clock;
      me.waiting_on = -1;
      me.acquires++;
      h->counters.acquires++;
      (*missed ? me.misses : me.hits)++;
      (*missed ? h->counters.misses : h->counters.hits)++;
      LayerLease lease;
      lease.conn_ = conn_;
      lease.layer_ = layer;
      lease.data_ = conn_->data + h->slots_offset + static_cast<uint64_t>(e.slot) * h->slot_bytes;
      lease.size_ = e.bytes;
      const uint64_t now = conn_->leased_bytes.fetch_add(e.bytes) + e.bytes;
      uint64_t peak = conn_->peak_leased_bytes.load();
      while (now > peak && !conn_->peak_leased_bytes.compare_exchange_weak(peak, now)) {
      }
      return lease;
    }
    if (e.state == Code(LayerState::kFailed)) {
      me.waiting_on = -1;
      e.error[serve::kErrorMax - 1] = '\0';
      return Status::Corruption("service '" + name() + "': " + e.error);
    }
    if (e.state == Code(LayerState::kAbsent) ||
        (e.state == Code(LayerState::kRequested) && !e.demand)) {
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

void SharedModel::Prefetch(int layer) {
  serve::ControlHeader* h = conn_->header;
  if (layer < 0 || static_cast<uint32_t>(layer) >= h->num_layers) return;
  serve::SegmentLock lock(h);
  LayerEntry& e = serve::Layers(h)[layer];
  if (!lock.ok() || e.state != Code(LayerState::kAbsent)) return;
  if (h->state != static_cast<uint32_t>(serve::ServiceState::kRunning)) return;
  e.state = Code(LayerState::kRequested);
  e.demand = 0;
  e.requested_at = ++h->clock;
  serve::Notify(&h->server_event);
  std::lock_guard<std::mutex> guard(mu_);
  stats_.prefetches++;
}

const uint8_t* SharedModel::HeldTensor(size_t tensor_index) const {
  auto it = conn_->rows.find(tensor_index);
  if (it == conn_->rows.end() || it->second->layer >= 0) return nullptr;
  return conn_->data + it->second->offset;
}

Status SharedModel::Bind(const Reader& reader, const std::vector<std::vector<size_t>>& layers) {
  TQF_RETURN_IF_ERROR(CheckModel(reader));
  if (layers.size() != num_layers()) {
    return Status::InvalidArgument("the model has " + std::to_string(layers.size()) +
                                   " layers, service '" + name() + "' serves " +
                                   std::to_string(num_layers()));
  }
  std::vector<std::vector<size_t>> offsets(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    for (size_t idx : layers[l]) {
      auto it = conn_->rows.find(idx);
      if (idx >= reader.tensors().size() || it == conn_->rows.end() ||
          it->second->layer != static_cast<int32_t>(l) ||
          it->second->size != reader.tensors()[idx].raw_size) {
        return Status::NotSupported("service '" + name() + "' does not serve tensor " +
                                    std::to_string(idx) + " as part of layer " + std::to_string(l));
      }
      offsets[l].push_back(it->second->offset);
    }
  }
  std::lock_guard<std::mutex> guard(mu_);
  offsets_ = std::move(offsets);
  return Status::OK();
}

Result<std::shared_ptr<const DecodedLayer>> SharedModel::Acquire(int layer) {
  std::vector<size_t> offsets;
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (offsets_.empty()) return Status::InvalidArgument("SharedModel::Acquire before Bind");
    if (layer < 0 || static_cast<size_t>(layer) >= offsets_.size()) {
      return Status::InvalidArgument("layer " + std::to_string(layer) + " out of range");
    }
    offsets = offsets_[layer];
  }
  TQF_ASSIGN_OR_RETURN(LayerLease lease, Lease(layer));
  auto held = std::make_shared<LayerLease>(std::move(lease));
  // DecodedLayer holds a mutable pointer, but the model only reads it (and
  // the mapping is read-only: a stray write would fault, not corrupt).
  auto* decoded =
      new DecodedLayer(layer, const_cast<uint8_t*>(held->data()), held->size(), std::move(offsets));
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
