// The `tqf` command as a user meets it: exit codes (0 ok, 1 failed, 2
// usage), one clear line on stderr for every error, no half-written output
// after a failure or an interrupt, and inspect --json listing every tensor.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli_test_util.h"
#include "test_util.h"
#include "tqf/import.h"
#include "tqf/internal/json.h"
#include "tqf/pack.h"
#include "tqf/reader.h"
#include "tqf/writer.h"

namespace tqf {
namespace {

using testing::CliResult;
using testing::Slurp;
using testing::Tqf;

size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }
bool Exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

const std::string kStories = testing::SharedPath("models/stories260K/stories260K.gguf");

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::TempDir(); }
  std::string dir_;
};

TEST_F(ToolsTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Tqf({}).code, 2);
  CliResult r = Tqf({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_EQ(Tqf({"pack"}).code, 2);
  EXPECT_EQ(Tqf({"pack", kStories}).code, 2);  // no -o
  r = Tqf({"pack", kStories, "-o", dir_ + "/x.tqf", "--quant", "int3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("int3"), std::string::npos) << r.err;
  r = Tqf({"pack", kStories, "-o", dir_ + "/x.tqf", "--codec", "lzma"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("dict4"), std::string::npos) << "lists known codecs: " << r.err;
  EXPECT_EQ(Tqf({"pack", kStories, "-o"}).code, 2);
  EXPECT_EQ(Tqf({"verify"}).code, 2);
  EXPECT_EQ(Tqf({"verify", "a.tqf", "--threads", "many"}).code, 2);
  EXPECT_EQ(Tqf({"inspect", "--frob", "a.tqf"}).code, 2);
  EXPECT_FALSE(Exists(dir_ + "/x.tqf"));
  EXPECT_EQ(Tqf({"--help"}).code, 0);
  EXPECT_EQ(Tqf({"pack", "--help"}).code, 0);
}

TEST_F(ToolsTest, MissingAndUnsupportedInputsFailWithOneLine) {
  CliResult r = Tqf({"pack", dir_ + "/missing.gguf", "-o", dir_ + "/x.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;
  std::ofstream(dir_ + "/notes.txt") << "just some text, not a model\n";
  r = Tqf({"pack", dir_ + "/notes.txt", "-o", dir_ + "/x.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_FALSE(Exists(dir_ + "/x.tqf"));
  r = Tqf({"pack", kStories, "-o", dir_ + "/no/such/dir/x.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  r = Tqf({"verify", dir_ + "/missing.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.tqf"), std::string::npos);
  r = Tqf({"inspect", dir_ + "/notes.txt"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bad magic"), std::string::npos) << r.err;
}

TEST_F(ToolsTest, PackVerifyInspectAndDamage) {
  const std::string out = dir_ + "/s.tqf";
  CliResult r = Tqf({"pack", kStories, "-o", out, "--quant", "channel", "--codec", "dict4",
                     "--block-size", "4K"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("bits per weight"), std::string::npos);
  EXPECT_EQ(Tqf({"verify", out}).code, 0);

  // inspect --json is valid JSON listing every tensor with its sizes.
  r = Tqf({"inspect", out, "--json"});
  ASSERT_EQ(r.code, 0);
  auto doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const json::Value* tensors = doc->Find("tensors");
  ASSERT_NE(tensors, nullptr);
  ASSERT_EQ(tensors->items().size(), 48u);
  for (const json::Value& t : tensors->items()) {
    ASSERT_NE(t.Find("raw_bytes"), nullptr);
    ASSERT_NE(t.Find("stored_bytes"), nullptr);
    EXPECT_GT(t.Find("raw_bytes")->as_double(), 0);
  }

  // One flipped byte in a codeword stream: verify names tensor and block.
  std::string bytes = Slurp(out);
  const json::Value& t0 = tensors->items()[0];
  ASSERT_EQ(t0.Find("name")->as_string(), "token_embd.weight");
  const json::Value* sections = doc->Find("sections");
  ASSERT_NE(sections, nullptr);
  uint64_t streams_at = 0;
  for (const json::Value& s : sections->items()) {
    if (s.Find("kind")->as_string() == "streams")
      streams_at = static_cast<uint64_t>(s.Find("offset")->as_double());
  }
  ASSERT_GT(streams_at, 0u);
  std::string flipped = bytes;
  flipped[streams_at + 5000] ^= 0x10;  // token_embd is first: 18 KB of stream, blocks of 4 KiB
  std::ofstream(dir_ + "/flipped.tqf", std::ios::binary) << flipped;
  r = Tqf({"verify", dir_ + "/flipped.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("token_embd.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("block 2/"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expected"), std::string::npos) << r.err;

  // Truncated: a clear error, not a crash.
  std::ofstream(dir_ + "/trunc.tqf", std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  r = Tqf({"verify", dir_ + "/trunc.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
}

// --bits: a file at or under the budget, its schemes named by pack and
// inspect; unpack gives exactly the values the runtime decodes.
TEST_F(ToolsTest, PackToABitBudget) {
  const std::string out = dir_ + "/b.tqf";
  CliResult r = Tqf({"pack", kStories, "-o", out, "--bits", "3.5", "--calib-generate", "1024",
                     "--sensitivity-tokens", "512"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("--bits           3.500 bits per weight asked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("calibration      "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  scheme    ec"), std::string::npos) << r.out;
  r = Tqf({"inspect", out, "--json"});
  ASSERT_EQ(r.code, 0);
  auto doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const json::Value* wb = doc->Find("weight_bits");
  ASSERT_NE(wb, nullptr);
  const double bpw = wb->Find("bits_per_weight")->as_double();
  EXPECT_LE(bpw, 3.5);
  EXPECT_GT(bpw, 3.3);  // the budget is used, not wasted
  EXPECT_EQ(doc->Find("format_version")->as_string(), "1.2");
  size_t named = 0;
  for (const json::Value& t : doc->Find("tensors")->items()) {
    auto spec = ParseQuantSpec(t.Find("scheme")->as_string());
    named += spec.ok() && spec->low_bit();
  }
  EXPECT_EQ(named, 37u);  // every weight matrix: a low-bit scheme (ec, vq, q..)
  r = Tqf({"inspect", out});
  EXPECT_NE(r.out.find("bits per weight (streams"), std::string::npos) << r.out;
  EXPECT_EQ(Tqf({"verify", out}).code, 0);
  // Unpacked to f32: exactly the values the reader decodes.
  r = Tqf({"unpack", out, "-o", dir_ + "/b.safetensors", "--dtype", "f32"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto unpacked = ImportModel(dir_ + "/b.safetensors");
  auto reader = Reader::Open(out);
  ASSERT_TRUE(unpacked.ok() && reader.ok()) << unpacked.status().ToString();
  for (const SourceTensor& t : unpacked->tensors) {
    auto i = (*reader)->FindTensor(t.name);
    ASSERT_TRUE(i.ok()) << t.name;
    std::vector<float> a(t.num_elements()), b(t.num_elements());
    ASSERT_TRUE(t.ToF32(a.data()).ok());
    ASSERT_TRUE((*reader)->DecodeTensorF32(*i, b.data(), b.size()).ok());
    ASSERT_EQ(a, b) << t.name;
  }
}

// --finetune: the pack says what distillation did, the file stays within
// its budget and verifies.
TEST_F(ToolsTest, PackWithDistillation) {
  const std::string out = dir_ + "/ft.tqf";
  CliResult r = Tqf({"pack", kStories, "-o", out, "--bits", "3", "--calib-generate", "1024",
                     "--sensitivity-tokens", "512", "--finetune", "4", "--finetune-tokens", "4096",
                     "--finetune-batch", "4"});
  ASSERT_EQ(r.code, 0) << r.err;
  const size_t at = r.out.find("  finetune         4 steps of 4 sequences over ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("held-out KL", at), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("; averaged 4: ", at), std::string::npos) << r.out;  // on by default
  r = Tqf({"inspect", out, "--json"});
  ASSERT_EQ(r.code, 0);
  auto doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok());
  EXPECT_LE(doc->Find("weight_bits")->Find("bits_per_weight")->as_double(), 3.0);
  EXPECT_EQ(Tqf({"verify", out}).code, 0);
}

// Lossless below the quantizer: the same low-bit codes, entropy coded or
// stored raw, evaluate identically.
TEST_F(ToolsTest, LowBitCodecsEvaluateIdentically) {
  std::vector<double> nll;
  for (const char* codec : {"rans-alias", "raw"}) {
    const std::string out = dir_ + "/q-" + codec + ".tqf";
    CliResult r = Tqf({"pack", kStories, "-o", out, "--quant", "q3a-g16", "--codec", codec});
    ASSERT_EQ(r.code, 0) << r.err;
    r = Tqf({"eval", out, "--ppl", testing::SharedPath("eval/text/tinystories-valid-subset.txt"),
             "--ppl-tokens", "600", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto d = json::Parse(r.out);
    ASSERT_TRUE(d.ok());
    nll.push_back(
        d->Find("models")->items()[0].Find("tasks")->items()[0].Find("nll_sum")->as_double());
  }
  EXPECT_EQ(nll[0], nll[1]);
}

TEST_F(ToolsTest, LowBitFlagsAreChecked) {
  const std::string out = dir_ + "/x.tqf";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--bits", "0.5"},
           {"--bits", "4", "--quant", "q4-g32"},
           {"--quant", "q9-g32"},
           {"--quant", "vq3x16"},
           {"--calib", "a.txt", "--calib-generate", "10"},
           {"--calib-generate", "0"},
           {"--damping", "-1"},
           {"--sensitivity", "guess"},
           {"--quant", "ec3", "--finetune", "5"},
           {"--calib-generate", "64", "--finetune", "0"},
           {"--calib-generate", "64", "--finetune-lr", "2"},
           {"--calib-generate", "64", "--finetune-tokens", "9"},
           {"--calib-generate", "64", "--finetune-batch", "0"},
           {"--calib-generate", "64", "--finetune-average", "1"},
           {"--calib-generate", "64", "--finetune-average", "-0.1"}}) {
    std::vector<std::string> full = {"pack", kStories, "-o", out};
    full.insert(full.end(), args.begin(), args.end());
    CliResult r = Tqf(full);
    EXPECT_EQ(r.code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_EQ(Lines(r.err) >= 1, true);
  }
  CliResult r =
      Tqf({"pack", kStories, "-o", out, "--quant", "q4-g32", "--calib", dir_ + "/missing.txt"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos) << r.err;
  EXPECT_FALSE(Exists(out));
}

TEST_F(ToolsTest, InterruptedPackLeavesNothing) {
  const std::string out = dir_ + "/big.tqf";
  const std::string gpt2 =
      testing::SharedPath("models/gpt2-attention/gpt2-small-attention.safetensors");
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    execl(TQF_CLI_PATH, TQF_CLI_PATH, "pack", gpt2.c_str(), "-o", out.c_str(), "--codec", "dict4",
          "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Interrupt once the temporary output (big.tqf.tmp.<random>) exists,
  // i.e. mid-write.
  auto find_tmp = [&] {
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir_.c_str()), closedir);
    while (dirent* e = d ? readdir(d.get()) : nullptr) {
      if (std::string(e->d_name).rfind("big.tqf.tmp.", 0) == 0) return dir_ + "/" + e->d_name;
    }
    return std::string();
  };
  std::string tmp;
  for (int i = 0; i < 3000 && (tmp = find_tmp()).empty(); ++i) usleep(5 * 1000);
  EXPECT_FALSE(tmp.empty()) << "pack never started writing";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  // It dies of SIGINT and leaves neither the output nor its temporary file.
  ASSERT_TRUE(WIFSIGNALED(status)) << "pack finished before the interrupt";
  EXPECT_EQ(WTERMSIG(status), SIGINT);
  EXPECT_FALSE(Exists(out));
  EXPECT_TRUE(find_tmp().empty()) << "temporary file left behind";
}

TEST_F(ToolsTest, EvalReportsJsonAndNamesBadLines) {
  const std::string text = testing::SharedPath("eval/text/tinystories-valid-subset.txt");
  const std::string arc = testing::SharedPath("eval/arc/ARC-Easy-validation.jsonl");
  CliResult r = Tqf({"eval", kStories, "--ppl", text, "--ppl-tokens", "1000", "--ctx", "256",
                     "--arc", arc, "--limit", "5", "--threads", "1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << r.out;
  const json::Value& tasks = *doc->Find("models")->items()[0].Find("tasks");
  ASSERT_EQ(tasks.size(), 2u);
  const double ppl = tasks.items()[0].Find("ppl")->as_double();
  EXPECT_GT(ppl, 3.0);  // stories260K on its own domain: about 5-6
  EXPECT_LT(ppl, 9.0);
  EXPECT_EQ(tasks.items()[1].Find("n")->as_double(), 5.0);

  // A malformed line: exit 1, one line naming file:line.
  std::ofstream(dir_ + "/bad.jsonl")
      << "{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], "
         "\"label\": [\"A\", \"B\"]}, \"answerKey\": \"A\"}\n{not json\n";
  r = Tqf({"eval", kStories, "--arc", dir_ + "/bad.jsonl"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;
  // Usage errors.
  EXPECT_EQ(Tqf({"eval", kStories}).code, 2);  // no task
  EXPECT_EQ(Tqf({"eval", kStories, "--ppl", text, "--limit", "x"}).code, 2);
  EXPECT_EQ(Tqf({"eval", dir_ + "/missing.tqf", "--ppl", text}).code, 1);
}

// Issue 11, defect 9: names and metadata from a file are printed as valid
// JSON by --json and without control sequences in text, and error messages
// quoting a path escape it too.
TEST_F(ToolsTest, HostileNamesGiveValidJsonAndSafeText) {
  const std::string path = dir_ + "/names.tqf";
  const std::string evil = std::string("blk.0.\x1b]0;pwned\x07\x1b[2J\xff\xfe.weight");
  {
    ModelInfo info;
    info.hparams.architecture = "llama\x1b[31m";
    info.metadata = {{"note\x07", "value \x1b[1mbold\xc3"}};
    auto w = Writer::Create(path, info);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    TensorSpec spec;
    spec.name = evil;
    spec.shape = {4};
    std::vector<float> v = {1, 2, 3, 4};
    ASSERT_TRUE(
        (*w)->AddTensor(spec, reinterpret_cast<const uint8_t*>(v.data()), 16, nullptr, 0).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  CliResult r = Tqf({"inspect", path, "--json", "--tensors"});
  ASSERT_EQ(r.code, 0) << r.err;
  Result<json::Value> doc = json::Parse(r.out);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << r.out;
  EXPECT_EQ(doc->Find("tensors")->items()[0].Find("name")->as_string(),
            "blk.0.\x1b]0;pwned\x07\x1b[2J\\xff\\xfe.weight");
  auto no_controls = [](const std::string& s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return c == '\x1b' || c == '\x07'; });
  };
  r = Tqf({"inspect", path, "--tensors"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(no_controls(r.out)) << r.out;
  EXPECT_NE(r.out.find("\\x1b]0;pwned\\x07"), std::string::npos) << r.out;
  r = Tqf({"verify", dir_ + "/\x1b[2Jmissing.tqf"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(no_controls(r.err)) << r.err;
}

// Llama 3 rope scaling read as llama.cpp writes it (rope_freqs.weight
// divisors): a divisor that is not > 0, or divisors that contradict rope
// scaling parameters in the same file, are refused with what and where.
TEST_F(ToolsTest, RopeDivisorsAreChecked) {
  const std::string gguf = dir_ + "/l3.gguf";
  ASSERT_EQ(Tqf({"synth", "tiny-llama3", "-o", gguf}).code, 0);
  auto src = ImportModel(gguf);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  SourceTensor* rope = nullptr;
  for (SourceTensor& t : src->tensors) {
    if (t.name == "rope_freqs.weight") rope = &t;
  }
  ASSERT_NE(rope, nullptr);
  EXPECT_EQ(rope->shape, (std::vector<uint64_t>{32}));
  std::vector<float> divisors(32);
  ASSERT_TRUE(rope->ToF32(divisors.data()).ok());
  EXPECT_EQ(divisors.front(), 1.0f);                       // the highest frequency is not scaled
  EXPECT_EQ(divisors.back(), 8.0f);                        // the lowest is divided by the factor
  ASSERT_EQ(src->info.hparams.rope_scaling_factor, 0.0f);  // no "llama3" keys

  auto pack_with = [&](const std::vector<float>& d, float factor) {
    SourceModel m = *src;
    for (SourceTensor& t : m.tensors) {
      if (t.name != "rope_freqs.weight") continue;
      t.data = reinterpret_cast<const uint8_t*>(d.data());
      t.size = d.size() * sizeof(float);
    }
    m.info.hparams.rope_scaling_factor = factor;
    m.info.hparams.rope_low_freq_factor = 1.0f;
    m.info.hparams.rope_high_freq_factor = 4.0f;
    m.info.hparams.rope_original_context = 32;
    const std::string out = dir_ + "/p" + std::to_string(factor) + ".tqf";
    PackOptions opt;
    opt.quant = QuantScheme::kRaw;
    EXPECT_TRUE(PackModel(m, out, opt).ok());
    return Tqf({"run", out, "-p", "hi", "-n", "2"});
  };
  std::vector<float> zero = divisors;
  zero[5] = 0.0f;
  CliResult r = pack_with(zero, 0.0f);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("rope_freqs.weight: divisor 0"), std::string::npos) << r.err;
  EXPECT_EQ(pack_with(divisors, 8.0f).code, 0) << "both forms, agreeing (older tqf files)";
  r = pack_with(std::vector<float>(32, 1.0f), 8.0f);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("contradicts the rope scaling parameters"), std::string::npos) << r.err;
}

TEST(TokenizeCommand, EncodesAndDecodes) {
  const std::string llama3 = testing::SharedPath("models/llama3-tokenizer/tokenizer.json");
  const std::string stories = testing::SharedPath("models/stories260K/tok512.bin");
  const std::string gguf = testing::SharedPath("models/stories260K/stories260K.gguf");
  CliResult r = Tqf({"tokenize", llama3, "Hello world!", "--no-bos"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "9906 1917 0\n");
  r = Tqf({"tokenize", stories, "Once upon a time"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
  r = Tqf({"tokenize", gguf, "Once upon a time"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1 403 407 261 378\n");
  r = Tqf({"tokenize", stories, "--decode", "1 403 407 261 378"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Once upon a time\n");
  EXPECT_EQ(Tqf({"tokenize", "/nonexistent/file", "x"}).code, 1);
  EXPECT_EQ(Tqf({"tokenize", stories}).code, 2);
  EXPECT_EQ(Tqf({"tokenize", stories, "--decode", "1 x"}).code, 2);
}

}  // namespace
}  // namespace tqf
