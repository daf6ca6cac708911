// End to end: `tqf serve` and concurrent `tqf run --attach` processes
// generate exactly what standalone `tqf run` generates with the same seeds,
// with every layer held and with a cache smaller than the model, and
// while another client is SIGKILLed in the middle of its run.
#include "serve_test_util.h"

namespace tqf::serve {
namespace {

using testing::Processes;
using testing::ServiceName;

constexpr int kClients = 4;
const char kPrompt[] = "Once upon a time";

std::vector<std::string> RunArgs(const std::string& model_or_attach, int seed, int tokens) {
  std::vector<std::string> args = {"run"};
  if (model_or_attach.rfind("--attach=", 0) == 0) {
    args.push_back("--attach");
    args.push_back(model_or_attach.substr(9));
  } else {
    args.push_back(model_or_attach);
  }
  for (const std::string& a :
       {std::string("-p"), std::string(kPrompt), std::string("-n"), std::to_string(tokens),
        std::string("--seed"), std::to_string(seed), std::string("--temp"), std::string("0.9"),
        std::string("--threads"), std::string("1")}) {
    args.push_back(a);
  }
  return args;
}

class ServeClients : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::StoriesModel();
    ASSERT_FALSE(path_.empty());
    // Standalone outputs, one seed per client.
    for (int i = 0; i < kClients; ++i) {
      const pid_t pid = procs_.StartTqf(RunArgs(path_, 100 + i, 48));
      ASSERT_EQ(procs_.Wait(pid, 120), 0) << procs_.Stderr(pid);
      want_.push_back(procs_.Stdout(pid));
      ASSERT_GT(want_.back().size(), sizeof(kPrompt)) << want_.back();
    }
    ASSERT_NE(want_[0], want_[1]) << "seeds should give different stories";
  }
  void Serve(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"serve", path_, "--name", name_.get(), "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = procs_.StartTqf(args);
    ASSERT_TRUE(testing::WaitForService(&procs_, server_, name_.get())) << procs_.Stderr(server_);
  }
  // Starts kClients attached runs at once and checks each output.
  void RunClientsAndCompare() {
    std::vector<pid_t> pids;
    for (int i = 0; i < kClients; ++i) {
      pids.push_back(procs_.StartTqf(RunArgs("--attach=" + name_.get(), 100 + i, 48)));
    }
    for (int i = 0; i < kClients; ++i) {
      ASSERT_EQ(procs_.Wait(pids[i], 120), 0) << procs_.Stderr(pids[i]);
      EXPECT_EQ(procs_.Stdout(pids[i]), want_[i]) << "client " << i;
    }
  }

  std::string path_;
  Processes procs_;
  ServiceName name_;
  pid_t server_ = -1;
  std::vector<std::string> want_;
};

TEST_F(ServeClients, FourClientsMatchStandaloneWithEveryLayerHeld) {
  Serve({});
  RunClientsAndCompare();
  Result<ServeStatus> st = ReadServeStatus(name_.get());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->decodes, st->num_layers) << "each layer decoded once for all clients";
  EXPECT_EQ(st->layers_resident, st->num_layers);
  EXPECT_EQ(st->clients.size(), 0u) << "clients detach when they exit";
  EXPECT_GT(st->hits, st->misses);
}

TEST_F(ServeClients, FourClientsMatchStandaloneWithASmallCache) {
  Serve({"--cache", "100K"});  // 2 of stories260K's 5 layers (48 KiB each)
  RunClientsAndCompare();
  Result<ServeStatus> st = ReadServeStatus(name_.get());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->num_slots, 2u);
  EXPECT_GT(st->evictions, 0u);
  EXPECT_LE(st->layers_resident, 2u);
}

TEST_F(ServeClients, ClientKilledMidRunDoesNotDisturbTheOthers) {
  Serve({"--cache", "1"});  // one slot: whatever the victim leases blocks everyone
  const pid_t victim = procs_.StartTqf(RunArgs("--attach=" + name_.get(), 7, 1500));
  // Let it generate for a while, then kill it wherever it is.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (procs_.Stdout(victim).size() < sizeof(kPrompt) + 20 &&
         std::chrono::steady_clock::now() < deadline && procs_.Running(victim)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  procs_.Kill(victim, SIGKILL);
  ASSERT_EQ(procs_.Wait(victim, 10), 128 + SIGKILL) << "the victim finished before it was killed";
  RunClientsAndCompare();
  Result<ServeStatus> st = ReadServeStatus(name_.get());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->reclaimed_clients, 1u);
  EXPECT_EQ(st->clients.size(), 0u);
}

}  // namespace
}  // namespace tqf::serve
