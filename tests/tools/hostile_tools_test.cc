// The `tqf` command against hostile inputs and arguments (issue 11,
// defects 2, 3, 5, 6, 7, 8, 10, 11): each must end with a clear one-line
// error and the README's exit code (1 = the operation failed on this data,
// 2 = usage), never an abort, a hang, a damaged source or a file left over.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "import_test_util.h"
#include "test_util.h"
#include "tqf_file_builder.h"
#include "util/checksum.h"

namespace tqf {
namespace {

using testing_util::F32Bytes;
using testing_util::GgufTensorSpec;
using testing_util::MakeGguf;
using testing_util::WriteFile;

struct CliResult {
  int code = -1;  // exit code, 128 + signal, or -1 if it had to be killed
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HostileTools : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    stories_ = testing::SharedPath("models/stories260K/stories260K.gguf");
  }
  // Runs tqf with `args`, killing it after `seconds` (a hang is a failure).
  CliResult Tqf(const std::vector<std::string>& args, double seconds = 60) {
    static int n = 0;
    const std::string base = dir_ + "/cli" + std::to_string(n++);
    const pid_t pid = Start(args, base);
    CliResult r;
    r.code = Wait(pid, seconds);
    r.out = Slurp(base + ".out");
    r.err = Slurp(base + ".err");
    return r;
  }
  pid_t Start(const std::vector<std::string>& args, const std::string& base) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (!freopen((base + ".out").c_str(), "w", stdout)) _exit(126);
      if (!freopen((base + ".err").c_str(), "w", stderr)) _exit(126);
      std::vector<char*> argv{const_cast<char*>(TQF_CLI_PATH)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(TQF_CLI_PATH, argv.data());
      _exit(127);
    }
    return pid;
  }
  static int Wait(pid_t pid, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // Files in dir_ whose name contains ".tmp." (a writer's temporary).
  std::vector<std::string> Temporaries() const {
    std::vector<std::string> found;
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        if (std::string(e->d_name).find(".tmp.") != std::string::npos) found.push_back(e->d_name);
      }
      closedir(d);
    }
    return found;
  }
  std::string Copy(const std::string& from, const std::string& name) {
    const std::string to = dir_ + "/" + name;
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary);
    out << in.rdbuf();
    return to;
  }
  std::string Pack(const std::string& name, const std::vector<std::string>& extra = {}) {
    const std::string out = dir_ + "/" + name;
    std::vector<std::string> args = {"pack", stories_, "-o", out, "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(Tqf(args).code, 0);
    return out;
  }
  // A small GGUF whose tensor `w` (4 x 4 f32) holds `values`, or has
  // shape `ne` when given.
  std::string Gguf(const std::string& name, std::vector<float> values,
                   std::vector<uint64_t> ne = {4, 4}) {
    GgufTensorSpec t;
    t.name = "w";
    t.ne = ne;
    t.data = F32Bytes(values);
    const std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteFile(path, MakeGguf({t})));
    return path;
  }
  std::string dir_, stories_;
};

// Defect 5: `tqf pack in.gguf -o ./in.gguf` destroyed the source (the guard
// compared strings); a hard link was not detected either.
TEST_F(HostileTools, OutputThatIsTheInputIsRefused) {
  const std::string in = Copy(stories_, "in.gguf");
  const std::string before = Slurp(in);
  const std::string link = dir_ + "/link.gguf";
  ASSERT_EQ(::link(in.c_str(), link.c_str()), 0);
  for (const std::string& out : {dir_ + "/./in.gguf", dir_ + "//in.gguf", link}) {
    CliResult r = Tqf({"pack", in, "-o", out});
    EXPECT_EQ(r.code, 2) << out << ": " << r.err;
    EXPECT_NE(r.err.find("same file"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Slurp(in), before);
  const std::string tqf = Pack("m.tqf");
  CliResult r = Tqf({"unpack", tqf, "-o", dir_ + "/./m.tqf"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(Tqf({"verify", tqf}).code, 0);
  EXPECT_TRUE(Temporaries().empty());
}

// Defect 5: pack/unpack/synth renamed over FIFOs and symlinks (as root,
// `-o /dev/null` replaced /dev/null with a regular file).
TEST_F(HostileTools, OutputThatIsNotARegularFileIsRefused) {
  const std::string fifo = dir_ + "/out.fifo", link = dir_ + "/out.link";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(::symlink((dir_ + "/elsewhere").c_str(), link.c_str()), 0);
  const std::string tqf = Pack("m.tqf");
  for (const std::string& out : {fifo, link}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"pack", stories_, "-o", out},
          std::vector<std::string>{"unpack", tqf, "-o", out},
          std::vector<std::string>{"synth", "tiny", "-o", out}}) {
      CliResult r = Tqf(args, 20);
      EXPECT_EQ(r.code, 1) << args[0] << " -o " << out << ": " << r.err;
      EXPECT_NE(r.err.find("refusing to replace"), std::string::npos) << r.err;
    }
  }
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_TRUE(Temporaries().empty());
}

// Defect 6: a KV cache or context sized from an argument aborted on
// bad_alloc; /dev/zero as a text was read without bound.
TEST_F(HostileTools, HugeSizesFromArgumentsAreErrorsNotAborts) {
  const std::string tqf = Pack("m.tqf");
  CliResult r = Tqf({"run", tqf, "-p", "x", "--ctx-size", "16777216"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("16777216"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2048"), std::string::npos) << r.err;
  const std::string text = testing::SharedPath("eval/text/tinystories-valid-subset.txt");
  r = Tqf({"eval", tqf, "--ppl", text, "--ctx", "99999999"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("99999999"), std::string::npos) << r.err;
  r = Tqf({"eval", tqf, "--ppl", "/dev/zero"}, 20);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

// Defect 7: a prompt longer than the context silently grew the context.
TEST_F(HostileTools, PromptLongerThanTheContextIsRefusedOrCutWhenAsked) {
  const std::string tqf = Pack("m.tqf");
  std::string prompt;
  for (int i = 0; i < 300; ++i) prompt += "Once upon a time there was a dog. ";
  CliResult r = Tqf({"run", tqf, "-p", prompt, "-n", "4"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("context is 2048"), std::string::npos) << r.err;
  r = Tqf({"run", tqf, "-p", prompt, "-n", "4", "--temp", "0", "--truncate-prompt"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
}

// Defect 8: a FIFO as the model file hung every command.
TEST_F(HostileTools, FifoAsTheModelIsRefusedWithoutHanging) {
  const std::string fifo = dir_ + "/model.tqf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const char* cmd : {"inspect", "verify", "unpack", "run", "tokenize", "pack"}) {
    std::vector<std::string> args = {cmd, fifo};
    if (std::string(cmd) == "unpack" || std::string(cmd) == "pack") {
      args.insert(args.end(), {"-o", dir_ + "/out"});
    }
    if (std::string(cmd) == "run") args.insert(args.end(), {"-p", "x"});
    if (std::string(cmd) == "tokenize") args.push_back("x");
    CliResult r = Tqf(args, 10);
    EXPECT_EQ(r.code, 1) << cmd << " (-1: it hung): " << r.err;
    EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << cmd << ": " << r.err;
  }
}

// Defect 10: zero-row tensors were packed and verified but could not be
// unpacked; they are now refused at pack, naming the tensor.
TEST_F(HostileTools, TensorWithoutElementsIsRefusedAtPack) {
  const std::string in = Gguf("empty.gguf", {}, {4, 0});
  CliResult r = Tqf({"pack", in, "-o", dir_ + "/e.tqf"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("'w'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is 0"), std::string::npos) << r.err;
  EXPECT_TRUE(Temporaries().empty());
}

// Defect 11: NaN weights exited 2 (a usage error); they are refused with 1,
// naming the tensor and element, unless --allow-nonfinite (then verify
// reports them).
TEST_F(HostileTools, NonFiniteWeightsAreRefusedUnlessAllowed) {
  std::vector<float> v(16, 0.5f);
  v[6] = std::numeric_limits<float>::quiet_NaN();
  const std::string in = Gguf("nan.gguf", v);
  CliResult r = Tqf({"pack", in, "-o", dir_ + "/n.tqf"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("'w'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("row 1, column 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-nonfinite"), std::string::npos) << r.err;
  r = Tqf({"pack", in, "-o", dir_ + "/n.tqf", "--quant", "raw", "--allow-nonfinite"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = Tqf({"verify", dir_ + "/n.tqf"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("element 6 is not finite"), std::string::npos) << r.err;
}

// Defect 3: raw_size 2^64-4 with block_size 5 wrapped the block count, so
// Open accepted the file and verify/unpack aborted on length_error (exit
// 134), leaving OUT.tmp.PID behind.
TEST_F(HostileTools, WrappedBlockCountIsACleanError) {
  const std::string path = dir_ + "/wrapped.tqf";
  testing::WriteSmallModel(testing::MakeSmallModel(CodecKind::kRaw, 5), path, 256);
  std::vector<uint8_t> f = testing::ReadFileBytes(path);
  testing::PatchHeader(&f, [](fb::HeaderT* h) {
    fb::TensorT& t = *h->tensors[4];
    t.shape = {(1ull << 62) - 1};
    t.raw_size = ~0ull - 3;
    t.block_size = 5;
    t.data->mutate_size(0);
    t.index->mutate_size(0);
    t.index_checksum = Checksum64(nullptr, 0);
  });
  testing::WriteFileBytes(path, f);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"verify", path},
        std::vector<std::string>{"unpack", path, "-o", dir_ + "/w.gguf"}}) {
    CliResult r = Tqf(args);
    EXPECT_EQ(r.code, 1) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("too many blocks"), std::string::npos) << r.err;
  }
  EXPECT_TRUE(Temporaries().empty());
}

// Defect 2: truncating the model while `tqf run --mem-budget 0` decodes
// from it killed the run with SIGBUS; now it ends with exit 1 and says why.
TEST_F(HostileTools, ModelTruncatedWhileRunningIsAnError) {
  const std::string tqf = Pack("m.tqf");
  const std::string base = dir_ + "/run";
  const pid_t pid = Start({"run", tqf, "-p", "Once upon a time", "-n", "2000", "--temp", "0",
                           "--mem-budget", "0", "--threads", "1"},
                          base);
  // Once it prints, every next token decodes its layers from the file.
  for (int i = 0; i < 2000 && Slurp(base + ".out").size() < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(::truncate(tqf.c_str(), 4096), 0);
  const int code = Wait(pid, 60);
  const std::string err = Slurp(base + ".err");
  EXPECT_EQ(code, 1) << "(135: SIGBUS) " << err;
  EXPECT_NE(err.find("changed while in use"), std::string::npos) << err;
}

}  // namespace
}  // namespace tqf
