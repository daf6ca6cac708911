// `tqf bench` as a user meets it: the markdown table and the JSON carry
// every field (model, size, bits/weight, threads, budget, kernels, test,
// t/s, peak RSS) for every (threads, budget) combination, and bad
// arguments or files exit 2 or 1 with one line. No timing is asserted.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_test_util.h"
#include "test_util.h"
#include "tqf/internal/json.h"

namespace tqf {
namespace {

using testing::CliResult;
using testing::Tqf;

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

class BenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packed_ = new std::string(testing::TempDir() + "/bench_stories.tqf");
    const CliResult r =
        Tqf({"pack", testing::SharedPath("models/stories260K/stories260K.gguf"), "-o", *packed_});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::remove(packed_->c_str());
    delete packed_;
  }
  static std::string* packed_;
};
std::string* BenchTest::packed_ = nullptr;

TEST_F(BenchTest, PrintsOneTableRowPerTestAndConfiguration) {
  const CliResult r = Tqf(
      {"bench", *packed_, "-p", "16", "-n", "8", "-r", "2", "-t", "1,2", "--mem-budget", "none,0"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("| model | size | params | bits/weight | threads | budget | kernels | "
                       "test | t/s |"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(Count(r.out, " | pp16 | "), 4u) << r.out;  // 2 thread counts x 2 budgets
  EXPECT_EQ(Count(r.out, " | tg8 | "), 4u) << r.out;
  EXPECT_EQ(Count(r.out, "bench_stories.tqf"), 8u) << r.out;
  EXPECT_EQ(Count(r.out, " ± "), 8u) << r.out;
  EXPECT_NE(r.out.find("| 2 | none |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| 1 | 0 B |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights read per token "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak RSS "), std::string::npos) << r.out;
}

// The wait policy main.cc chooses when the user sets none: active with a
// bounded spin on free cores, else passive (which one depends on the load
// at the moment, so either is accepted, but never a spin without "active");
// a policy the user gives is kept, and the JSON says which ran.
TEST_F(BenchTest, JsonSaysHowOpenMpThreadsWaited) {
  auto run = [&]() {
    const CliResult r =
        Tqf({"bench", *packed_, "-p", "0", "-n", "2", "-r", "1", "-t", "1", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    auto doc = json::Parse(r.out);
    EXPECT_TRUE(doc.ok()) << r.out;
    std::string policy, spin;
    if (doc.ok()) {
      const json::Value* p = doc->Find("omp_wait_policy");
      const json::Value* c = doc->Find("gomp_spincount");
      EXPECT_TRUE(p != nullptr && c != nullptr) << r.out;
      if (p != nullptr && p->is_string()) policy = p->as_string();
      if (c != nullptr && c->is_string()) spin = c->as_string();
    }
    return std::make_pair(policy, spin);
  };
  const char* saved = std::getenv("OMP_WAIT_POLICY");
  const std::string saved_value = saved ? saved : "";
  unsetenv("OMP_WAIT_POLICY");
  unsetenv("GOMP_SPINCOUNT");
  const auto chosen = run();
  EXPECT_TRUE(chosen.first == "active" || chosen.first == "passive") << chosen.first;
  EXPECT_EQ(chosen.second, chosen.first == "active" ? "100000" : "") << chosen.first;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  const auto given = run();
  EXPECT_EQ(given.first, "passive");
  EXPECT_EQ(given.second, "");
  if (saved) {
    setenv("OMP_WAIT_POLICY", saved_value.c_str(), 1);
  } else {
    unsetenv("OMP_WAIT_POLICY");
  }
}

TEST_F(BenchTest, JsonCarriesEverySample) {
  const CliResult r = Tqf({"bench", *packed_, "-p", "8", "-n", "4", "-r", "3", "-t", "1",
                           "--mem-budget", "64K", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << r.out;
  EXPECT_NE(doc->Find("model")->as_string().find("bench_stories.tqf"), std::string::npos);
  EXPECT_GT(doc->Find("size_bytes")->as_int(), 0);
  EXPECT_GT(doc->Find("params")->as_int(), 200000);  // stories260K
  EXPECT_NEAR(doc->Find("bits_per_weight")->as_double(), 8.0, 2.0);
  EXPECT_GT(doc->Find("peak_rss_bytes")->as_int(), 0);
  const json::Value* results = doc->Find("results");
  ASSERT_TRUE(results && results->is_array());
  ASSERT_EQ(results->size(), 2u);
  const char* tests[] = {"pp8", "tg4"};
  for (size_t i = 0; i < 2; ++i) {
    const json::Value& t = results->items()[i];
    EXPECT_EQ(t.Find("test")->as_string(), tests[i]);
    EXPECT_EQ(t.Find("threads")->as_int(), 1);
    EXPECT_EQ(t.Find("mem_budget")->as_int(), 65536);
    EXPECT_FALSE(t.Find("kernels")->as_string().empty());
    EXPECT_EQ(t.Find("samples_ts")->size(), 3u);
    EXPECT_GT(t.Find("avg_ts")->as_double(), 0.0);
    EXPECT_TRUE(t.Find("stddev_ts")->is_number());
    EXPECT_GT(t.Find("weight_bytes_per_token")->as_int(), 200000);
  }
  EXPECT_EQ(results->items()[0].Find("n_prompt")->as_int(), 8);
  EXPECT_EQ(results->items()[1].Find("n_gen")->as_int(), 4);
}

// --mem-budget Nlayers: the table says "2 layers", the JSON the layer
// count and the bytes it came to (twice those of 1layers).
TEST_F(BenchTest, BudgetInLayers) {
  const CliResult r = Tqf({"bench", *packed_, "-p", "0", "-n", "4", "-r", "1", "-t", "1",
                           "--mem-budget", "1layers,2layers,0layers", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << r.out;
  const json::Value* results = doc->Find("results");
  ASSERT_TRUE(results && results->size() == 3u) << r.out;
  const int64_t one = results->items()[0].Find("mem_budget")->as_int();
  EXPECT_GT(one, 0);
  EXPECT_EQ(results->items()[0].Find("mem_budget_layers")->as_int(), 1);
  EXPECT_EQ(results->items()[1].Find("mem_budget")->as_int(), 2 * one);
  EXPECT_EQ(results->items()[1].Find("mem_budget_layers")->as_int(), 2);
  EXPECT_EQ(results->items()[2].Find("mem_budget")->as_int(), 0);
  const CliResult table =
      Tqf({"bench", *packed_, "-p", "0", "-n", "2", "-r", "1", "--mem-budget", "2layers"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find(" | 2 layers | "), std::string::npos) << table.out;
}

// A malformed layer count is a usage error that shows the accepted forms.
TEST_F(BenchTest, BadLayerBudgetsAreRefusedNamingTheForms) {
  for (const char* v : {"2layer", "-1layers", "layers", "2.5layers", "2 layers", "+2layers",
                        "2layersx", "2Layers", "99999999999layers", "2L"}) {
    for (const std::string cmd : {"bench", "run"}) {
      std::vector<std::string> args = {cmd, *packed_, "--mem-budget", v};
      if (cmd == "run") args.insert(args.end(), {"-p", "x", "-n", "1"});
      const CliResult r = Tqf(args);
      EXPECT_EQ(r.code, 2) << cmd << " " << v << ": " << r.err;
      EXPECT_NE(r.err.find(std::string("bad --mem-budget '") + v + "'"), std::string::npos)
          << r.err;
      EXPECT_NE(r.err.find("such as 2layers"), std::string::npos) << r.err;
    }
  }
}

TEST_F(BenchTest, BadArgumentsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> bad = {
      {"bench"},
      {"bench", *packed_, "-p", "x"},
      {"bench", *packed_, "-t", "0"},
      {"bench", *packed_, "-t", "2,"},
      {"bench", *packed_, "--mem-budget", "lots"},
      {"bench", *packed_, "-r", "0"},
      {"bench", *packed_, "-p", "0", "-n", "0"},
      {"bench", *packed_, "--frobnicate"},
      {"bench", *packed_, *packed_},
      {"bench", *packed_, "-n"},
      {"bench", *packed_, "-p", "100000"},  // beyond the model's context
  };
  for (const auto& args : bad) {
    const CliResult r = Tqf(args);
    EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
    EXPECT_EQ(r.err.rfind("tqf bench: ", 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

// The default -p 512 shrinks to a smaller model's context (tiny: 256)
// instead of being refused; an explicit -p beyond it still is (above).
TEST_F(BenchTest, DefaultsFitASmallContext) {
  const std::string dir = testing::TempDir();
  ASSERT_EQ(Tqf({"synth", "tiny", "-o", dir + "/t.gguf"}).code, 0);
  ASSERT_EQ(Tqf({"pack", dir + "/t.gguf", "-o", dir + "/t.tqf", "--quiet"}).code, 0);
  const CliResult r = Tqf({"bench", dir + "/t.tqf", "-r", "1", "-t", "1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("pp256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg128"), std::string::npos) << r.out;
}

TEST_F(BenchTest, MissingOrBadFileExitsOne) {
  CliResult r = Tqf({"bench", testing::TempDir() + "/no-such.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no-such.tqf"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  const std::string not_tqf = testing::TempDir() + "/not.tqf";
  std::ofstream(not_tqf) << "this is not a model";
  r = Tqf({"bench", not_tqf, "-p", "4", "-n", "4", "-r", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("tqf pack"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace tqf
