// ServeService: creating, publishing and removing the service objects.
// The request loop is in serve_loop.cc. See serve_service.h.
#include "tqf/service/serve_service.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>

#include "serve_service_internal.h"
#include "tqf/rt/layer_provider.h"
#include "tqf/source.h"

namespace tqf::serve {

namespace bip = boost::interprocess;
using serve::ControlHeader;

namespace {

uint64_t Align(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// "blk.L." prefix -> L, or -1.
long LayerOf(const std::string& name) {
  if (name.compare(0, 4, "blk.") != 0) return -1;
  size_t i = 4;
  long layer = 0;
  while (i < name.size() && i < 12 && name[i] >= '0' && name[i] <= '9') {
    layer = layer * 10 + (name[i++] - '0');
  }
  return (i == 4 || i >= name.size() || name[i] != '.') ? -1 : layer;
}

}  // namespace

ServeService::Impl::~Impl() {
  if (header != nullptr && published) {
    // Stopped is published even if a client holds the lock (the store is
    // atomic): waiting clients see it at their next check.
    serve::SegmentLock lock(header, 2.0);
    __atomic_store_n(&header->state, static_cast<uint32_t>(serve::ServiceState::kStopped),
                     __ATOMIC_RELEASE);
    serve::Notify(&header->client_event);
  }
  // Unlink the names first, then unmap; clients keep their own mappings.
  if (owns_data) bip::shared_memory_object::remove(serve::DataName(name).c_str());
  if (owns_control) bip::shared_memory_object::remove(serve::ControlName(name).c_str());
}

void ServeService::Impl::Log(const std::string& msg) const {
  if (options.log) options.log(msg);
}

Status ServeService::Impl::Plan() {
  std::map<long, std::vector<size_t>> by_layer;
  for (size_t i = 0; i < reader->tensors().size(); ++i) {
    const TensorInfo& t = reader->tensors()[i];
    if (t.shape.size() < 2) continue;
    const long l = LayerOf(t.name);
    if (l < 0) {
      held.push_back(i);
    } else {
      by_layer[l].push_back(i);
    }
  }
  if (by_layer.empty()) {
    return Status::InvalidArgument("the model has no layer tensors (blk.N.*) to serve");
  }
  const uint64_t n = static_cast<uint64_t>(by_layer.rbegin()->first) + 1;
  const uint32_t hp_layers = reader->model().hparams.n_layers;
  if (by_layer.size() != n || (hp_layers != 0 && hp_layers != n) || n > (1u << 16)) {
    return Status::Corruption("layer tensors name " + std::to_string(by_layer.size()) +
                              " distinct layers up to blk." + std::to_string(n - 1) +
                              " but the hyperparameters say n_layers " + std::to_string(hp_layers));
  }
  layers.resize(n);
  uint64_t largest = 0;
  for (const auto& [l, tensors] : by_layer) {
    uint64_t bytes = 0;
    for (size_t idx : tensors) bytes += rt::LayoutOf(reader->tensors()[idx]).bytes;
    layers[static_cast<size_t>(l)] = tensors;
    largest = std::max(largest, bytes);
  }
  slot_bytes = Align(largest, serve::kPage);
  uint64_t held_total = 0;
  for (size_t idx : held) held_total += rt::LayoutOf(reader->tensors()[idx]).bytes;
  held_bytes = Align(held_total, serve::kPage);
  num_slots = static_cast<uint32_t>(n);
  if (options.cache_bytes >= 0) {
    const uint64_t fit = static_cast<uint64_t>(options.cache_bytes) / slot_bytes;
    if (fit == 0) {
      Log("--cache " + std::to_string(options.cache_bytes) + " is smaller than one layer (" +
          std::to_string(slot_bytes) + " bytes); keeping one layer slot");
    }
    num_slots = static_cast<uint32_t>(std::min<uint64_t>(std::max<uint64_t>(fit, 1), n));
  }
  data_bytes = held_bytes + uint64_t{num_slots} * slot_bytes;
  return Status::OK();
}

// An existing control object: refuse if its service lives, else remove it.
Status ServeService::Impl::CleanStale() {
  const std::string control = serve::ControlName(name);
  TQF_RETURN_IF_ERROR(serve::CheckAccess(name, control));
  const std::string path = serve::ShmPath(control);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::OK();  // gone meanwhile: retry the create
    return Status::IOError(path + ": " + std::strerror(errno));
  }
  ControlHeader h;
  std::memset(&h, 0, sizeof(h));
  const bool readable =
      ::pread(fd, &h, sizeof(h), 0) == static_cast<ssize_t>(sizeof(h)) && h.magic == serve::kMagic;
  const std::string pid = readable ? std::to_string(h.server.pid) : std::string("unknown");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    h.model_path[serve::kPathMax - 1] = '\0';
    return Status::IOError("service '" + name + "' is already running (pid " + pid +
                           (readable ? ", serving " + std::string(h.model_path) : std::string()) +
                           "); stop it first (SIGINT/SIGTERM) or choose another --name");
  }
  // No service holds the lock: its owner died. Remove both objects.
  bip::shared_memory_object::remove(serve::DataName(name).c_str());
  bip::shared_memory_object::remove(control.c_str());
  ::close(fd);
  Log("removed the stale objects of service '" + name + "' (its service, pid " + pid + ", died)");
  return Status::OK();
}

Status ServeService::Impl::CreateControl() {
  const std::string control = serve::ControlName(name);
  const bip::permissions perm(options.group ? 0660 : 0600);
  for (int attempt = 0; attempt < 4; ++attempt) {
    try {
      bip::shared_memory_object shm(bip::create_only, control.c_str(), bip::read_write, perm);
      control_shm.swap(shm);
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error) {
        return Status::IOError("creating shared memory " + serve::ShmPath(control) + ": " +
                               e.what());
      }
      TQF_RETURN_IF_ERROR(CleanStale());
      continue;
    }
    const int fd = control_shm.get_mapping_handle().handle;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      // Another `tqf serve` is cleaning this name at this very moment.
      return Status::IOError("another `tqf serve` is starting service '" + name + "' right now");
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_nlink == 0) continue;  // a racing cleaner removed it
    owns_control = true;
    return Status::OK();
  }
  return Status::IOError("could not create service '" + name + "': its objects kept reappearing");
}

Status ServeService::Impl::Publish() {
  BuildGeometry();
  TQF_RETURN_IF_ERROR(MapObjects());
  data = static_cast<uint8_t*>(data_region.get_address());
  ControlHeader* h = static_cast<ControlHeader*>(control_region.get_address());
  std::memset(static_cast<void*>(h), 0, geometry.layout.total);
  TQF_RETURN_IF_ERROR(serve::InitSync(h));
  FillHeader(h);
  header = h;
  FillTables(h);
  scheduler = std::make_unique<serve::Scheduler>(h, geometry);
  TQF_RETURN_IF_ERROR(DecodeHeldTensors());
  h->state = static_cast<uint32_t>(serve::ServiceState::kRunning);
  // Clients take the object for a service only once the magic is there.
  __atomic_store_n(&h->magic, serve::kMagic, __ATOMIC_RELEASE);
  published = true;
  return Status::OK();
}

// The tensor table (held tensors first, then each layer's, each tensor
// laid out as rt::LayoutOf says: decoded bytes, then its params) and the
// sizes, as the service will use them for its whole life.
void ServeService::Impl::BuildGeometry() {
  serve::Geometry& g = geometry;
  g.num_layers = static_cast<uint32_t>(layers.size());
  g.max_clients = options.max_clients;
  g.num_slots = num_slots;
  g.slot_bytes = slot_bytes;
  g.slots_offset = held_bytes;
  g.held_bytes = held_bytes;
  g.data_bytes = data_bytes;
  uint64_t off = 0;
  for (size_t idx : held) {
    const TensorInfo& t = reader->tensors()[idx];
    g.rows.push_back({static_cast<uint32_t>(idx), -1, off, t.raw_size});
    off += rt::LayoutOf(t).bytes;
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    g.layer_first.push_back(static_cast<uint32_t>(g.rows.size()));
    off = 0;
    for (size_t idx : layers[l]) {
      const TensorInfo& t = reader->tensors()[idx];
      g.rows.push_back({static_cast<uint32_t>(idx), static_cast<int32_t>(l), off, t.raw_size});
      off += rt::LayoutOf(t).bytes;
    }
    g.layer_count.push_back(static_cast<uint32_t>(g.rows.size()) - g.layer_first.back());
    g.layer_bytes.push_back(off);
  }
  g.num_tensors = static_cast<uint32_t>(g.rows.size());
  g.layout = serve::ComputeLayout(g.num_layers, g.num_tensors, g.max_clients, g.num_slots);
}

// Sizes and maps the control object, and creates, sizes and maps the data
// object (replacing a stale one).
Status ServeService::Impl::MapObjects() {
  const serve::ControlLayout& layout = geometry.layout;
  try {
    control_shm.truncate(static_cast<bip::offset_t>(layout.total));
    bip::mapped_region region(control_shm, bip::read_write);
    control_region.swap(region);
    bip::shared_memory_object::remove(serve::DataName(name).c_str());  // a stale one
    bip::shared_memory_object data(
        bip::create_only, serve::DataName(name).c_str(), bip::read_write,
        bip::permissions(options.group ? 0640 : 0600));  // clients only read it
    data_shm.swap(data);
    owns_data = true;
    data_shm.truncate(static_cast<bip::offset_t>(data_bytes));
    bip::mapped_region data_map(data_shm, bip::read_write);
    data_region.swap(data_map);
  } catch (const bip::interprocess_exception& e) {
    return Status::IOError("service '" + name + "': mapping " + std::to_string(layout.total) +
                           " + " + std::to_string(data_bytes) +
                           " bytes of shared memory: " + e.what());
  }
  return Status::OK();
}

void ServeService::Impl::FillHeader(ControlHeader* h) const {
  const serve::Geometry& g = geometry;
  h->version = serve::kVersion;
  h->state = static_cast<uint32_t>(serve::ServiceState::kStarting);
  h->control_bytes = g.layout.total;
  h->server = serve::Self();
  h->owner_uid = static_cast<uint32_t>(geteuid());
  h->max_clients = g.max_clients;
  // Published for clients and `tqf serve --status`: never a URL's password.
  const std::string shown = RedactUrl(path);
  std::memcpy(h->model_path, shown.data(), std::min(shown.size(), serve::kPathMax - 1));
  h->file_size = fingerprint.file_size;
  h->header_checksum = fingerprint.header_checksum;
  h->num_layers = g.num_layers;
  h->num_tensors = g.num_tensors;
  h->num_slots = g.num_slots;
  h->slot_bytes = g.slot_bytes;
  h->slots_offset = g.slots_offset;
  h->held_bytes = g.held_bytes;
  h->data_bytes = g.data_bytes;
  h->layers_off = g.layout.layers_off;
  h->tensors_off = g.layout.tensors_off;
  h->clients_off = g.layout.clients_off;
  h->pins_off = g.layout.pins_off;
  h->slot_table_off = g.layout.slot_table_off;
}

// The published copy of the geometry's tables; every slot empty and no
// client waiting.
void ServeService::Impl::FillTables(ControlHeader* h) const {
  const serve::Geometry& g = geometry;
  std::copy(g.rows.begin(), g.rows.end(), serve::Tensors(h, g));
  for (uint32_t l = 0; l < g.num_layers; ++l) {
    serve::LayerEntry& e = serve::Layers(h, g)[l];
    e.slot = -1;
    e.first_tensor = g.layer_first[l];
    e.num_tensors = g.layer_count[l];
    e.bytes = g.layer_bytes[l];
  }
  for (uint32_t s = 0; s < g.num_slots; ++s) serve::Slots(h, g)[s].layer = -1;
  for (uint32_t c = 0; c < g.max_clients; ++c) serve::Clients(h, g)[c].waiting_on = -1;
}

// Held tensors, decoded once into the data object with their params.
Status ServeService::Impl::DecodeHeldTensors() {
  for (uint32_t r = 0; r < held.size(); ++r) {
    const serve::TensorEntry& t = geometry.rows[r];
    Status s = rt::DecodeTensorWithParams(*reader, t.tensor_index, data + t.offset,
                                          options.decode_threads);
    reader->DontNeed(t.tensor_index);
    if (!s.ok()) return s.WithContext("service '" + name + "': held tensor");
  }
  return Status::OK();
}

Result<std::unique_ptr<ServeService>> ServeService::Start(const std::string& model_path,
                                                          const ServeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (impl->options.max_clients == 0 || impl->options.max_clients > 4096) {
    return Status::InvalidArgument("max_clients must be 1..4096");
  }
  char resolved[PATH_MAX];
  if (IsRemoteUrl(model_path)) {
    impl->path = model_path;  // read lazily over HTTP (tqf/source.h)
  } else if (::realpath(model_path.c_str(), resolved) == nullptr) {
    return Status::NotFound(model_path + ": " + std::strerror(errno));
  } else {
    impl->path = resolved;
  }
  if (impl->path.size() >= serve::kPathMax) return Status::InvalidArgument("model path too long");
  impl->name = options.name.empty() ? serve::DefaultServiceName(impl->path) : options.name;
  TQF_RETURN_IF_ERROR(serve::CheckServiceName(impl->name));
  TQF_ASSIGN_OR_RETURN(impl->reader, Reader::Open(impl->path));
  impl->fingerprint = serve::FingerprintOf(*impl->reader);
  struct stat st;
  if (::stat(impl->path.c_str(), &st) == 0) impl->file_stat = st;
  TQF_RETURN_IF_ERROR(impl->Plan());
  TQF_RETURN_IF_ERROR(impl->CreateControl());
  TQF_RETURN_IF_ERROR(impl->Publish());
  return std::unique_ptr<ServeService>(new ServeService(std::move(impl)));
}

ServeService::ServeService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServeService::~ServeService() = default;
const std::string& ServeService::name() const { return impl_->name; }
uint64_t ServeService::slot_bytes() const { return impl_->slot_bytes; }
uint32_t ServeService::num_slots() const { return impl_->num_slots; }
uint64_t ServeService::held_bytes() const { return impl_->held_bytes; }

}  // namespace tqf::serve
