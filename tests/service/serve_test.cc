// Tests of the storage service through its client library: a `tqf serve`
// process (the real binary) and SharedModel leases in this process. Leased
// bytes equal the Reader's own decode; the cache evicts least recently
// used layers but never a leased one; the objects are 0600 (0660 with
// --group) and refused to other users; status counts hits and misses.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "serve_test_util.h"
#include "tqf/reader.h"

namespace tqf::serve {
namespace {

using testing::Processes;
using testing::ServiceName;

std::vector<uint8_t> Decode(const Reader& reader, size_t idx) {
  std::vector<uint8_t> out(reader.tensors()[idx].raw_size);
  EXPECT_TRUE(reader.DecodeTensor(idx, out.data(), out.size(), 1).ok());
  return out;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::StoriesModel();
    ASSERT_FALSE(path_.empty());
    Result<std::unique_ptr<Reader>> r = Reader::Open(path_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reader_ = std::move(r).value();
  }
  // Starts `tqf serve` on the model with `extra` flags; waits until ready.
  pid_t Serve(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"serve", path_, "--name", name_.get(), "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = procs_.StartTqf(args);
    EXPECT_TRUE(testing::WaitForService(&procs_, pid, name_.get())) << procs_.Stderr(pid);
    return pid;
  }
  std::shared_ptr<SharedModel> Attach(double timeout = 30) {
    SharedModelOptions o;
    o.timeout_seconds = timeout;
    Result<std::shared_ptr<SharedModel>> m = SharedModel::Attach(name_.get(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : nullptr;
  }
  // The reader tensor indices of layer l's matrices.
  std::vector<size_t> LayerTensors(int l) {
    std::vector<size_t> out;
    const std::string prefix = "blk." + std::to_string(l) + ".";
    for (size_t i = 0; i < reader_->tensors().size(); ++i) {
      const TensorInfo& t = reader_->tensors()[i];
      if (t.name.compare(0, prefix.size(), prefix) == 0 && t.shape.size() >= 2) out.push_back(i);
    }
    return out;
  }

  std::string path_;
  std::unique_ptr<Reader> reader_;
  Processes procs_;
  ServiceName name_;
};

TEST_F(ServeTest, LeasedLayersAndHeldTensorsEqualLocalDecode) {
  Serve();
  std::shared_ptr<SharedModel> m = Attach();
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->CheckModel(*reader_).ok());
  ASSERT_EQ(m->num_layers(), reader_->model().hparams.n_layers);
  for (int l = 0; l < static_cast<int>(m->num_layers()); ++l) {
    Result<LayerLease> lease = m->Lease(l);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    for (size_t idx : LayerTensors(l)) {
      const uint8_t* p = lease->tensor(idx);
      ASSERT_NE(p, nullptr) << reader_->tensors()[idx].name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
      const std::vector<uint8_t> want = Decode(*reader_, idx);
      EXPECT_EQ(std::memcmp(p, want.data(), want.size()), 0) << reader_->tensors()[idx].name;
    }
  }
  Result<size_t> embd = reader_->FindTensor("token_embd.weight");
  ASSERT_TRUE(embd.ok());
  const uint8_t* held = m->HeldTensor(*reader_, *embd);
  ASSERT_NE(held, nullptr);
  const std::vector<uint8_t> want = Decode(*reader_, *embd);
  EXPECT_EQ(std::memcmp(held, want.data(), want.size()), 0);

  // Second round: all hits. The status counts them.
  for (int l = 0; l < static_cast<int>(m->num_layers()); ++l) ASSERT_TRUE(m->Lease(l).ok());
  Result<ServeStatus> st = ReadServeStatus(name_.get());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const uint64_t n = m->num_layers();
  EXPECT_EQ(st->layers_resident, n);
  EXPECT_EQ(st->misses, n);
  EXPECT_EQ(st->hits, n);
  EXPECT_EQ(st->decodes, n);
  ASSERT_EQ(st->clients.size(), 1u);
  EXPECT_EQ(st->clients[0].pid, getpid());
  EXPECT_EQ(st->clients[0].leases, 0u);
  EXPECT_EQ(st->bytes_used, st->held_bytes + n * st->slot_bytes);
}

// The mapping of the decoded layers in a client is shared and read-only.
TEST_F(ServeTest, LeasedBytesAreMappedReadOnly) {
  Serve();
  std::shared_ptr<SharedModel> m = Attach();
  ASSERT_NE(m, nullptr);
  Result<LayerLease> lease = m->Lease(0);
  ASSERT_TRUE(lease.ok());
  const uintptr_t p = reinterpret_cast<uintptr_t>(lease->data());
  std::istringstream maps(testing::ReadFile("/proc/self/maps"));
  std::string line, found;
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0;
    char perms[8] = {0};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) == 3 && p >= lo && p < hi)
      found = line;
  }
  ASSERT_FALSE(found.empty());
  EXPECT_NE(found.find(" r--s "), std::string::npos) << found;
  EXPECT_NE(found.find(serve::DataName(name_.get())), std::string::npos) << found;
}

TEST_F(ServeTest, CacheEvictsLeastRecentlyUsedButNeverALeasedLayer) {
  Serve({"--cache", "1"});  // one slot
  std::shared_ptr<SharedModel> m = Attach(3);
  ASSERT_NE(m, nullptr);
  {
    Result<LayerLease> held = m->Lease(0);
    ASSERT_TRUE(held.ok());
    // Every slot is leased: another layer waits, and times out, rather than
    // evicting layer 0.
    Result<LayerLease> other = m->Lease(1);
    EXPECT_TRUE(other.status().IsIOError()) << other.status().ToString();
    EXPECT_NE(other.status().message().find("timed out"), std::string::npos);
    const std::vector<uint8_t> want = Decode(*reader_, LayerTensors(0)[0]);
    EXPECT_EQ(std::memcmp(held->tensor(LayerTensors(0)[0]), want.data(), want.size()), 0);
  }
  // Released: now layers take turns in the one slot.
  for (int round = 0; round < 2; ++round) {
    for (int l = 0; l < static_cast<int>(m->num_layers()); ++l) {
      Result<LayerLease> lease = m->Lease(l);
      ASSERT_TRUE(lease.ok()) << lease.status().ToString();
      const size_t idx = LayerTensors(l).back();
      const std::vector<uint8_t> want = Decode(*reader_, idx);
      EXPECT_EQ(std::memcmp(lease->tensor(idx), want.data(), want.size()), 0);
    }
  }
  Result<ServeStatus> st = ReadServeStatus(name_.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->num_slots, 1u);
  EXPECT_EQ(st->layers_resident, 1u);
  EXPECT_GE(st->evictions, 2 * m->num_layers() - 1);
}

TEST_F(ServeTest, ObjectsAreOwnerOnlyByDefault) {
  Serve();
  for (const std::string& obj : {serve::ControlName(name_.get()), serve::DataName(name_.get())}) {
    struct stat st;
    ASSERT_EQ(::stat(serve::ShmPath(obj).c_str(), &st), 0) << obj;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << obj;
    EXPECT_EQ(st.st_uid, geteuid());
  }
}

TEST_F(ServeTest, GroupFlagSharesWithTheGroup) {
  Serve({"--group"});
  // Clients write the control object (leases, requests) but only read the
  // decoded weights: the group may not write those (issue 11, defect 1).
  struct stat st;
  const std::string control = serve::ShmPath(serve::ControlName(name_.get()));
  ASSERT_EQ(::stat(control.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  const std::string data = serve::ShmPath(serve::DataName(name_.get()));
  ASSERT_EQ(::stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(ServeTest, AnotherUserIsRefusedClearly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  Serve();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = procs_.Fork([&] {
    close(fds[0]);
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
    Result<std::shared_ptr<SharedModel>> m = SharedModel::Attach(name_.get());
    const std::string msg = m.ok() ? "attached" : m.status().ToString();
    (void)!write(fds[1], msg.data(), msg.size());
    _exit(0);
  });
  close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  EXPECT_EQ(procs_.Wait(child, 30), 0);
  EXPECT_NE(msg.find("belongs to uid 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not shared with uid 65534"), std::string::npos) << msg;
}

TEST_F(ServeTest, UnknownServiceIsNotFound) {
  Result<std::shared_ptr<SharedModel>> m = SharedModel::Attach(name_.get());
  EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
  EXPECT_TRUE(SharedModel::Attach("bad/name").status().IsInvalidArgument());
}

TEST_F(ServeTest, StatusCommandReportsLayersClientsHitsAndMisses) {
  Serve();
  std::shared_ptr<SharedModel> m = Attach();
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->Lease(0).ok());
  Result<LayerLease> kept = m->Lease(0);
  ASSERT_TRUE(kept.ok());
  const pid_t st = procs_.StartTqf({"serve", "--status", name_.get()});
  ASSERT_EQ(procs_.Wait(st, 30), 0) << procs_.Stderr(st);
  const std::string out = procs_.Stdout(st);
  EXPECT_NE(out.find("1 of " + std::to_string(m->num_layers()) + " resident (1 leased)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("2 acquires: 1 hits, 1 misses"), std::string::npos) << out;
  EXPECT_NE(out.find("1 attached"), std::string::npos) << out;
  EXPECT_NE(out.find("pid " + std::to_string(getpid())), std::string::npos) << out;
}

}  // namespace
}  // namespace tqf::serve
