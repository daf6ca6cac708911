// A hostile client of the storage service (issue 11, defect 1): any process
// that may attach can write the control segment. The service must never
// read its geometry back from there, must check every index a client
// writes, and a client must check every value it reads; a process holding
// the lock must not block anyone forever. Each test writes the segment
// directly, as such a client would, then checks that the service still
// lives and that an honest client still gets exactly the right bytes.
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <fstream>

#include "serve_test_util.h"
#include "tqf/reader.h"
#include "tqf/rt/layer_provider.h"

namespace tqf::serve {
namespace {

namespace bip = boost::interprocess;
using testing::Processes;
using testing::ServiceName;

class HostileSegment : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::StoriesModel();
    ASSERT_FALSE(path_.empty());
    Result<std::unique_ptr<Reader>> r = Reader::Open(path_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reader_ = std::move(r).value();
  }
  void Serve(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"serve", path_, "--name", name_.get(), "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = procs_.StartTqf(args);
    ASSERT_TRUE(testing::WaitForService(&procs_, server_, name_.get())) << procs_.Stderr(server_);
    bip::shared_memory_object shm(bip::open_only, ControlName(name_.get()).c_str(),
                                  bip::read_write);
    bip::mapped_region region(shm, bip::read_write);
    control_.swap(region);
    h_ = static_cast<ControlHeader*>(control_.get_address());
  }
  std::shared_ptr<SharedModel> Attach(double lock_timeout = 10) {
    SharedModelOptions o;
    o.timeout_seconds = 20;
    o.lock_timeout_seconds = lock_timeout;
    Result<std::shared_ptr<SharedModel>> m = SharedModel::Attach(name_.get(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : nullptr;
  }
  // Decoded bytes and params equal (the padding between them is not data).
  static void ExpectSameTensor(const TensorInfo& t, const uint8_t* got, const uint8_t* want) {
    EXPECT_EQ(std::memcmp(got, want, t.raw_size), 0) << t.name;
    const size_t p = rt::LayoutOf(t).params_offset;
    EXPECT_EQ(std::memcmp(got + p, want + p, t.num_params * sizeof(float)), 0) << t.name;
  }
  // Layer `l` leased through `m` holds exactly the locally decoded tensors.
  void ExpectLayerCorrect(SharedModel* m, int l) {
    Result<LayerLease> lease = m->Lease(l);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    const std::string prefix = "blk." + std::to_string(l) + ".";
    for (size_t i = 0; i < reader_->tensors().size(); ++i) {
      const TensorInfo& t = reader_->tensors()[i];
      if (t.name.rfind(prefix, 0) != 0 || t.shape.size() < 2) continue;
      std::vector<uint8_t> want(rt::LayoutOf(t).bytes);
      ASSERT_TRUE(rt::DecodeTensorWithParams(*reader_, i, want.data(), 1).ok());
      const uint8_t* got = lease->tensor(i);
      ASSERT_NE(got, nullptr) << t.name;
      ExpectSameTensor(t, got, want.data());
    }
  }
  void ExpectEmbeddingCorrect(SharedModel* m) {
    Result<size_t> embd = reader_->FindTensor("token_embd.weight");
    ASSERT_TRUE(embd.ok());
    const TensorInfo& t = reader_->tensors()[*embd];
    std::vector<uint8_t> want(rt::LayoutOf(t).bytes);
    ASSERT_TRUE(rt::DecodeTensorWithParams(*reader_, *embd, want.data(), 1).ok());
    const uint8_t* held = m->HeldTensor(*reader_, *embd);
    ASSERT_NE(held, nullptr);
    ExpectSameTensor(t, held, want.data());
  }
  // Posts a demand for layer `l` straight into the layer table.
  void PostRequest(uint32_t l, uint64_t layers_off) {
    auto* e = reinterpret_cast<LayerEntry*>(reinterpret_cast<char*>(h_) + layers_off) + l;
    e->state = static_cast<uint32_t>(LayerState::kRequested);
    e->demand = 1;
    e->requested_at = 1;
    Notify(&h_->server_event);
  }
  void ExpectServiceAlive() {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // a few service loops
    EXPECT_TRUE(procs_.Running(server_)) << "service died: " << procs_.Stderr(server_);
  }

  std::string path_;
  std::unique_ptr<Reader> reader_;
  Processes procs_;
  ServiceName name_;
  pid_t server_ = -1;
  bip::mapped_region control_;
  ControlHeader* h_ = nullptr;
};

// num_layers = 2^20 or layers_off = 2^40 made the service read far outside
// its segment (SIGSEGV) with no client needed.
TEST_F(HostileSegment, ForgedCountsAndOffsetsDoNotReachTheService) {
  Serve();
  std::shared_ptr<SharedModel> honest = Attach();
  ASSERT_NE(honest, nullptr);
  const uint64_t layers_off = h_->layers_off;
  h_->num_layers = 1u << 20;
  h_->layers_off = 1ull << 40;
  h_->tensors_off = 1ull << 40;
  h_->num_slots = 1u << 20;
  Notify(&h_->server_event);
  ExpectServiceAlive();
  // An honest client attached before keeps its own geometry and works.
  for (int l = 0; l < static_cast<int>(honest->num_layers()); ++l) {
    ExpectLayerCorrect(honest.get(), l);
  }
  // A new client refuses the forged segment with a clear error.
  Result<std::shared_ptr<SharedModel>> late = SharedModel::Attach(name_.get());
  EXPECT_TRUE(late.status().IsCorruption()) << late.status().ToString();
  (void)layers_off;
}

// slots_offset = 2^40 (or a row offset + 2^36) plus a request written into
// the layer table made the service write decoded bytes at a chosen address;
// slots_offset = 0 made it decode a layer over the shared embedding.
TEST_F(HostileSegment, ForgedSlotGeometryDoesNotRedirectDecodes) {
  Serve({"--cache", "1"});  // one slot: every lease of another layer decodes again
  std::shared_ptr<SharedModel> honest = Attach();
  ASSERT_NE(honest, nullptr);
  const uint64_t layers_off = h_->layers_off, tensors_off = h_->tensors_off;
  for (uint64_t forged : {1ull << 40, 0ull}) {
    h_->slots_offset = forged;
    h_->slot_bytes = 1ull << 36;
    auto* rows = reinterpret_cast<TensorEntry*>(reinterpret_cast<char*>(h_) + tensors_off);
    for (uint32_t r = 0; r < 4; ++r) rows[r].offset += 1ull << 36;
    for (uint32_t l = 0; l < honest->num_layers(); ++l) PostRequest(l, layers_off);
    ExpectServiceAlive();
    for (int l = 0; l < static_cast<int>(honest->num_layers()); ++l) {
      ExpectLayerCorrect(honest.get(), l);
    }
    ExpectEmbeddingCorrect(honest.get());
  }
}

// A layer's published slot or size rewritten by another client: an honest
// client checks them before use (a clear error, or the service has already
// put them back), never reads outside the data segment.
TEST_F(HostileSegment, ForgedLayerEntryIsCheckedByClients) {
  Serve();
  std::shared_ptr<SharedModel> honest = Attach();
  ASSERT_NE(honest, nullptr);
  ExpectLayerCorrect(honest.get(), 0);
  auto* e = reinterpret_cast<LayerEntry*>(reinterpret_cast<char*>(h_) + h_->layers_off);
  for (int round = 0; round < 20; ++round) {
    e->slot = round % 2 ? 1 << 30 : -5;
    e->bytes = 1ull << 50;
    Result<LayerLease> lease = honest->Lease(0);
    if (lease.ok()) {
      ExpectLayerCorrect(honest.get(), 0);
    } else {
      EXPECT_TRUE(lease.status().IsCorruption()) << lease.status().ToString();
    }
  }
  ExpectServiceAlive();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the service republishes
  ExpectLayerCorrect(honest.get(), 0);
}

// A process holding the robust mutex (here: stopped) blocked the service and
// every client without limit.
TEST_F(HostileSegment, ALockHolderBlocksNobodyForever) {
  Serve();
  std::shared_ptr<SharedModel> honest = Attach(/*lock_timeout=*/1.0);
  ASSERT_NE(honest, nullptr);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ControlHeader* h = h_;
  const pid_t holder = procs_.Fork([&] {
    close(fds[0]);
    pthread_mutex_lock(&h->mu);
    (void)!write(fds[1], "x", 1);
    for (;;) pause();
  });
  close(fds[1]);
  char c = 0;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  close(fds[0]);
  const auto start = std::chrono::steady_clock::now();
  Result<LayerLease> lease = honest->Lease(1);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(lease.status().IsIOError()) << lease.status().ToString();
  EXPECT_NE(lease.status().message().find("pid " + std::to_string(holder)), std::string::npos)
      << lease.status().ToString();
  EXPECT_LT(waited, 5.0);
  EXPECT_TRUE(procs_.Running(server_));
  // The holder dies: the robust mutex recovers, everything works again.
  procs_.Kill(holder, SIGKILL);
  procs_.Wait(holder, 10);
  ExpectLayerCorrect(honest.get(), 1);
}

// Truncating the model file under a running service (defect 2) killed the
// service and its clients with SIGBUS and left the shared objects behind.
// Now the decode fails cleanly: the client gets an error, the service stops
// with exit 1 and removes its objects.
TEST_F(HostileSegment, ModelTruncatedUnderTheServiceStopsItCleanly) {
  const std::string copy = procs_.dir() + "/copy.tqf";
  {
    std::ifstream in(path_, std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    out << in.rdbuf();
  }
  path_ = copy;
  Serve({"--cache", "1"});  // one slot: leasing another layer decodes from the file
  std::shared_ptr<SharedModel> m = Attach();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->Lease(0).ok());
  ASSERT_EQ(::truncate(copy.c_str(), 4096), 0);
  Result<LayerLease> lease = m->Lease(1);
  EXPECT_FALSE(lease.ok());
  EXPECT_EQ(procs_.Wait(server_, 20), 1) << procs_.Stderr(server_);
  EXPECT_NE(procs_.Stderr(server_).find("changed while in use"), std::string::npos)
      << procs_.Stderr(server_);
  for (const std::string& obj : {ControlName(name_.get()), DataName(name_.get())}) {
    EXPECT_NE(::access(ShmPath(obj).c_str(), F_OK), 0) << obj << " left behind";
  }
}

}  // namespace
}  // namespace tqf::serve
