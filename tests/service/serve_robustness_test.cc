// Robustness of the storage service: a client SIGKILLed while holding a
// lease does not block the others; a SIGKILLed service leaves objects the
// next service cleans, and its clients get a clear error instead of a
// hang; a second service for one name is refused; a model file changed on
// disk is refused by clients and by the running service.
#include <cstdio>

#include "serve_test_util.h"
#include "tqf/reader.h"

namespace tqf::serve {
namespace {

using testing::Processes;
using testing::ServiceName;

class ServeRobustness : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::StoriesModel();
    ASSERT_FALSE(path_.empty());
  }
  pid_t Serve(const std::string& path, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"serve", path, "--name", name_.get(), "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = procs_.StartTqf(args);
    EXPECT_TRUE(testing::WaitForService(&procs_, pid, name_.get())) << procs_.Stderr(pid);
    return pid;
  }
  std::shared_ptr<SharedModel> Attach(double timeout) {
    SharedModelOptions o;
    o.timeout_seconds = timeout;
    Result<std::shared_ptr<SharedModel>> m = SharedModel::Attach(name_.get(), o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : nullptr;
  }

  std::string path_;
  Processes procs_;
  ServiceName name_;
};

TEST_F(ServeRobustness, ClientKilledHoldingALeaseDoesNotBlockOthers) {
  Serve(path_, {"--cache", "1"});  // one slot: the dead client's lease blocks every other layer
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string name = name_.get();
  const pid_t child = procs_.Fork([&] {
    close(fds[0]);
    Result<std::shared_ptr<SharedModel>> m = SharedModel::Attach(name);
    if (!m.ok()) _exit(2);
    Result<LayerLease> lease = (*m)->Lease(0);
    if (!lease.ok()) _exit(3);
    (void)!write(fds[1], "x", 1);
    for (;;) pause();  // holds the lease until killed
  });
  close(fds[1]);
  char c = 0;
  ASSERT_EQ(read(fds[0], &c, 1), 1) << "child could not lease layer 0";
  close(fds[0]);
  Result<ServeStatus> before = ReadServeStatus(name);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->layers_leased, 1u);

  procs_.Kill(child, SIGKILL);
  EXPECT_EQ(procs_.Wait(child, 10), 128 + SIGKILL);
  std::shared_ptr<SharedModel> m = Attach(20);
  ASSERT_NE(m, nullptr);
  const auto start = std::chrono::steady_clock::now();
  for (int l = static_cast<int>(m->num_layers()) - 1; l >= 0; --l) {
    Result<LayerLease> lease = m->Lease(l);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  Result<ServeStatus> after = ReadServeStatus(name);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->reclaimed_clients, 1u);
  EXPECT_EQ(after->reclaimed_leases, 1u);
  ASSERT_EQ(after->clients.size(), 1u);
  EXPECT_EQ(after->clients[0].pid, getpid());
}

TEST_F(ServeRobustness, ClientsOfADeadServiceGetAClearError) {
  const pid_t server = Serve(path_);
  std::shared_ptr<SharedModel> m = Attach(60);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->Lease(0).ok());
  procs_.Kill(server, SIGKILL);
  ASSERT_EQ(procs_.Wait(server, 10), 128 + SIGKILL);
  const auto start = std::chrono::steady_clock::now();
  Result<LayerLease> lease = m->Lease(1);  // not resident: would wait for the dead service
  EXPECT_TRUE(lease.status().IsIOError()) << lease.status().ToString();
  EXPECT_NE(lease.status().message().find("is not running"), std::string::npos)
      << lease.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // A new client is refused at attach, with the same explanation.
  Result<std::shared_ptr<SharedModel>> late = SharedModel::Attach(name_.get());
  EXPECT_TRUE(late.status().IsIOError()) << late.status().ToString();
  EXPECT_NE(late.status().message().find("died"), std::string::npos) << late.status().ToString();
}

TEST_F(ServeRobustness, StaleObjectsOfAKilledServiceAreCleanedByTheNext) {
  const pid_t first = Serve(path_);
  procs_.Kill(first, SIGKILL);
  ASSERT_EQ(procs_.Wait(first, 10), 128 + SIGKILL);
  struct stat st;
  ASSERT_EQ(::stat(serve::ShmPath(serve::ControlName(name_.get())).c_str(), &st), 0)
      << "a killed service leaves its objects behind";
  const pid_t second = Serve(path_);
  EXPECT_NE(procs_.Stderr(second).find("removed the stale objects"), std::string::npos)
      << procs_.Stderr(second);
  std::shared_ptr<SharedModel> m = Attach(30);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->Lease(0).ok());
  // A clean stop removes everything.
  procs_.Kill(second, SIGTERM);
  EXPECT_EQ(procs_.Wait(second, 10), 0);
  EXPECT_NE(::stat(serve::ShmPath(serve::ControlName(name_.get())).c_str(), &st), 0);
  EXPECT_NE(::stat(serve::ShmPath(serve::DataName(name_.get())).c_str(), &st), 0);
  // ... and its clients are told so.
  Result<LayerLease> lease = m->Lease(1);
  EXPECT_NE(lease.status().message().find("has stopped"), std::string::npos)
      << lease.status().ToString();
}

TEST_F(ServeRobustness, SecondServiceForOneNameIsRefused) {
  const pid_t first = Serve(path_);
  const pid_t second = procs_.StartTqf({"serve", path_, "--name", name_.get()});
  EXPECT_EQ(procs_.Wait(second, 30), 1);
  EXPECT_NE(procs_.Stderr(second).find("is already running (pid " + std::to_string(first)),
            std::string::npos)
      << procs_.Stderr(second);
  EXPECT_TRUE(procs_.Running(first));
  std::shared_ptr<SharedModel> m = Attach(30);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->Lease(0).ok());
}

TEST_F(ServeRobustness, ChangedModelFileIsRefused) {
  // Serve a copy, then replace the copy with another packing of the model.
  const std::string copy = procs_.dir() + "/model.tqf";
  ASSERT_EQ(std::system(("cp '" + path_ + "' '" + copy + "'").c_str()), 0);
  Serve(copy);
  std::shared_ptr<SharedModel> m = Attach(30);
  ASSERT_NE(m, nullptr);
  ASSERT_TRUE(m->Lease(0).ok());
  const std::string other = rt::PackedStories("gguf", "raw", "raw");
  ASSERT_FALSE(other.empty());
  ASSERT_EQ(
      std::system(("cp '" + other + "' '" + copy + ".new' && mv '" + copy + ".new' '" + copy + "'")
                      .c_str()),
      0);
  Result<std::unique_ptr<Reader>> now = Reader::Open(copy);
  ASSERT_TRUE(now.ok());
  Status check = m->CheckModel(**now);
  EXPECT_TRUE(check.IsChecksumMismatch()) << check.ToString();
  EXPECT_NE(check.message().find("header checksum"), std::string::npos) << check.ToString();
  // The service notices within its 1 s file check and stops serving.
  Status lease_status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    lease_status = m->Lease(1).status();
    if (!lease_status.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(lease_status.IsChecksumMismatch()) << lease_status.ToString();
  Result<ServeStatus> st = ReadServeStatus(name_.get());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_NE(st->state.find("model file changed"), std::string::npos) << st->state;
}

}  // namespace
}  // namespace tqf::serve
