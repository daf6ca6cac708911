// tqf synth SHAPE -o OUT.gguf [--seed S] [--tokenizer FILE] [--threads N]
// Writes a GGUF with the exact tensor shapes and hyperparameters of a real
// LLaMA-family model and heavy-tailed random F16 weights, so that speed and
// memory can be measured at realistic scale. Its output text is gibberish;
// general.name says so.
//
// Weights are Student-t with 4 degrees of freedom (heavy tails, like
// trained weights), scaled to standard deviation 1/sqrt(fan_in); norms are
// 1 + small noise (F32). Values are a pure function of (seed, tensor,
// position): the file is the same for any thread count. Tensors are
// generated and written in chunks, so memory stays small.
#include "synth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "commands.h"
#include "tqf/export_gguf.h"
#include "tqf/gguf_writer.h"
#include "tqf/import.h"
#include "tqf/internal/half.h"
#include "tqf/internal/rope.h"
#include "tqf/quantize.h"

namespace tqf::tools {
namespace {

const char kUsage[] =
    "usage: tqf synth SHAPE -o OUT.gguf [--seed S] [--tokenizer FILE] [--threads N]\n"
    "  SHAPE             llama-3.2-1b, smollm-135m, tiny, tiny256, tiny-llama3 (--list)\n"
    "  -o OUT.gguf       output file (written to a temporary file, then renamed)\n"
    "  --seed S          random seed (default 1)\n"
    "  --tokenizer FILE  use this byte-level BPE tokenizer (tokenizer.json) instead\n"
    "                    of the built-in 256-byte vocabulary with filler tokens (the\n"
    "                    vocabulary grows to the tokenizer's size if that is larger)\n"
    "  --threads N       generator threads (default: all cores)\n"
    "The weights are random: the model's text is gibberish.\n";

constexpr uint64_t kBlock = 1 << 16;  // elements per independently seeded block
constexpr uint64_t kChunk = 1 << 22;  // elements generated per write

enum class Init { kWeight, kNorm, kRopeFreqs };

struct TensorPlan {
  std::string name;
  std::vector<uint64_t> shape;
  DType dtype;
  Init init;
  uint64_t fan_in;
};

uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// xoshiro256+ for speed; seeded through SplitMix as its authors advise.
struct Rng {
  uint64_t s[4];
  explicit Rng(uint64_t seed) {
    for (uint64_t& x : s) x = SplitMix(&seed);
  }
  uint64_t Next() {
    const uint64_t r = s[0] + s[3], t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return r;
  }
  // Uniform in (0, 1): never 0 or 1.
  float Uniform() { return (static_cast<float>(Next() >> 40) + 0.5f) * (1.0f / 16777216.0f); }
};

// Student-t with 4 degrees of freedom, scaled to unit variance:
// Z / sqrt(V / 4) with V ~ chi^2(4) = -2 ln(U1 U2), divided by sqrt(2).
void FillStudentT(Rng* rng, float scale, float* out, size_t n) {
  constexpr float kTwoPi = 6.28318530718f;
  for (size_t i = 0; i < n; i += 2) {
    const float r = std::sqrt(-2.0f * std::log(rng->Uniform()));
    const float a = kTwoPi * rng->Uniform();
    const float z[2] = {r * std::cos(a), r * std::sin(a)};
    for (size_t k = 0; k < 2 && i + k < n; ++k) {
      const float v = -std::log(rng->Uniform() * rng->Uniform());  // chi^2(4) / 2
      out[i + k] = scale * z[k] / std::sqrt(v);
    }
  }
}

std::vector<TensorPlan> PlanTensors(const SynthShape& s) {
  const uint64_t head_dim = s.dim / s.n_heads, kv_dim = head_dim * s.n_kv_heads;
  std::vector<TensorPlan> p;
  p.push_back({"token_embd.weight", {s.vocab_size, s.dim}, DType::kF16, Init::kWeight, s.dim});
  if (s.rope_factor > 0) {
    p.push_back({"rope_freqs.weight", {head_dim / 2}, DType::kF32, Init::kRopeFreqs, 0});
  }
  for (uint32_t l = 0; l < s.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    p.push_back({b + "attn_norm.weight", {s.dim}, DType::kF32, Init::kNorm, 0});
    p.push_back({b + "attn_q.weight", {s.dim, s.dim}, DType::kF16, Init::kWeight, s.dim});
    p.push_back({b + "attn_k.weight", {kv_dim, s.dim}, DType::kF16, Init::kWeight, s.dim});
    p.push_back({b + "attn_v.weight", {kv_dim, s.dim}, DType::kF16, Init::kWeight, s.dim});
    p.push_back({b + "attn_output.weight", {s.dim, s.dim}, DType::kF16, Init::kWeight, s.dim});
    p.push_back({b + "ffn_norm.weight", {s.dim}, DType::kF32, Init::kNorm, 0});
    p.push_back({b + "ffn_gate.weight", {s.hidden_dim, s.dim}, DType::kF16, Init::kWeight, s.dim});
    p.push_back({b + "ffn_up.weight", {s.hidden_dim, s.dim}, DType::kF16, Init::kWeight, s.dim});
    p.push_back(
        {b + "ffn_down.weight", {s.dim, s.hidden_dim}, DType::kF16, Init::kWeight, s.hidden_dim});
  }
  p.push_back({"output_norm.weight", {s.dim}, DType::kF32, Init::kNorm, 0});
  if (!s.tied) {
    p.push_back({"output.weight", {s.vocab_size, s.dim}, DType::kF16, Init::kWeight, s.dim});
  }
  return p;
}

// The model's description as tqf would import it; written by the same code
// as `tqf unpack` (WriteGgufMetadata).
ModelInfo SynthModelInfo(const SynthShape& s, TokenizerData tok) {
  ModelInfo info;
  Hyperparameters& h = info.hparams;
  h.architecture = "llama";
  h.n_layers = s.n_layers;
  h.context_length = s.context_length;
  h.dim = s.dim;
  h.hidden_dim = s.hidden_dim;
  h.n_heads = s.n_heads;
  h.n_kv_heads = s.n_kv_heads;
  h.head_dim = s.dim / s.n_heads;
  h.vocab_size = s.vocab_size;
  h.norm_eps = s.norm_eps;
  h.rope_theta = s.rope_theta;
  if (s.rope_factor > 0) {
    h.rope_scaling_factor = s.rope_factor;
    h.rope_low_freq_factor = s.rope_low_freq;
    h.rope_high_freq_factor = s.rope_high_freq;
    h.rope_original_context = s.rope_original_context;
  }
  tok.token_types.resize(tok.tokens.size(), 1);  // normal
  tok.add_bos = tok.bos_id >= 0;
  tok.add_eos = false;
  info.tokenizer = std::move(tok);
  info.metadata = {
      {"general.name",
       std::string("synthetic ") + s.name + " shape (random weights, gibberish output)"},
      {"general.description",
       "written by `tqf synth`: Student-t(4) random weights with the exact shapes of the real "
       "model; not a trained model"}};
  return info;
}

// Generates elements [start, start + n) of tensor `index` into out.
void Generate(const TensorPlan& t, size_t index, uint64_t seed, uint64_t start, size_t n,
              const std::vector<float>& rope, float* out) {
  if (t.init == Init::kRopeFreqs) {
    for (size_t i = 0; i < n; ++i) out[i] = rope[start + i];
    return;
  }
  const float scale =
      t.init == Init::kNorm ? 0.02f : 1.0f / std::sqrt(static_cast<float>(t.fan_in));
  const int64_t blocks = static_cast<int64_t>((n + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const uint64_t first = start + b * kBlock;  // start is a multiple of kBlock
    uint64_t key = seed * 0x9E3779B97F4A7C15ull ^ (index << 40) ^ (first / kBlock);
    Rng rng(SplitMix(&key));
    const size_t len = std::min<uint64_t>(kBlock, n - b * kBlock);
    float* o = out + b * kBlock;
    FillStudentT(&rng, scale, o, len);
    if (t.init == Init::kNorm) {
      for (size_t i = 0; i < len; ++i) o[i] += 1.0f;
    }
  }
}

struct SynthFlags {
  std::string shape_name, out_path, tokenizer_path;
  long long seed = 1, threads = 0;
  const SynthShape* shape = nullptr;  // found from shape_name
};

void PrintShapes() {
  size_t n;
  const SynthShape* shapes = SynthShapes(&n);
  for (size_t i = 0; i < n; ++i) std::printf("%-14s %s\n", shapes[i].name, shapes[i].summary);
}

// Returns the exit code to end with (help, --list, a usage error), or -1 to
// go on.
int ParseFlags(int argc, char** argv, SynthFlags* f) {
  Args args(argc, argv);
  std::string v;
  while (!args.Done()) {
    if (args.Is("-h") || args.Is("--help")) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (args.Is("--list")) {
      PrintShapes();
      return kExitOk;
    }
    if (args.Value("-o", &f->out_path) || args.Value("--tokenizer", &f->tokenizer_path)) continue;
    if (args.Value("--seed", &v)) {
      if (!ParseInt(v, 0, INT64_MAX, &f->seed))
        return Usage("synth", "bad --seed '" + v + "'", kUsage);
      continue;
    }
    if (args.Value("--threads", &v)) {
      if (!ParseInt(v, 1, 4096, &f->threads))
        return Usage("synth", "bad --threads '" + v + "'", kUsage);
      continue;
    }
    if (!args.error().empty()) return Usage("synth", args.error(), kUsage);
    std::string a = args.Next();
    if (a.size() > 1 && a[0] == '-') return Usage("synth", "unknown option '" + a + "'", kUsage);
    if (!f->shape_name.empty()) return Usage("synth", "more than one SHAPE given", kUsage);
    f->shape_name = a;
  }
  if (!args.error().empty()) return Usage("synth", args.error(), kUsage);
  if (f->shape_name.empty()) return Usage("synth", "no SHAPE given", kUsage);
  if (f->out_path.empty()) return Usage("synth", "no output file given (-o OUT.gguf)", kUsage);
  f->shape = FindSynthShape(f->shape_name);
  if (!f->shape) {
    return Usage("synth", "unknown shape '" + f->shape_name + "' (see `tqf synth --list`)", kUsage);
  }
  return -1;
}

// The built-in 256-byte vocabulary, or the byte-level BPE tokenizer at
// `path` padded to the shape's vocabulary (which grows to the tokenizer's
// size when that is larger: a small test shape with a real vocabulary).
// Returns the exit code to end with, or -1 to go on.
int ChooseTokenizer(const std::string& path, SynthShape* shape, TokenizerData* tok) {
  if (path.empty()) {
    *tok = SynthTokenizer(shape->vocab_size);
    return -1;
  }
  Result<TokenizerData> t = ImportTokenizer(path);
  if (!t.ok()) return Fail("synth", t.status().ToString());
  if (t->kind != TokenizerKind::kByteLevelBpe) {
    return Fail("synth",
                path + ": needs a byte-level BPE tokenizer, got " + TokenizerKindName(t->kind));
  }
  if (t->tokens.size() > shape->vocab_size) {
    shape->vocab_size = static_cast<uint32_t>(t->tokens.size());
  }
  *tok = std::move(t).value();
  PadTokenizer(shape->vocab_size, tok);
  return -1;
}

uint64_t NumElements(const TensorPlan& t) {
  uint64_t n = 1;
  for (uint64_t d : t.shape) n *= d;
  return n;
}

// Metadata (written as `tqf unpack` writes it) and the tensor directory.
Status WriteHeader(const SynthShape& shape, TokenizerData tok, const std::vector<TensorPlan>& plan,
                   GgufWriter* w) {
  GgufMetadataOptions meta_options;
  meta_options.file_type = 1;  // LLAMA_FTYPE_MOSTLY_F16
  Status st = WriteGgufMetadata(SynthModelInfo(shape, std::move(tok)), meta_options, w);
  for (const TensorPlan& t : plan) {
    if (st.ok()) st = w->AddTensor(t.name, t.shape, t.dtype);
  }
  return st;
}

// Generates tensor `index` chunk by chunk into the scratch buffers (F16
// tensors converted from F32) and writes it.
Status WriteTensor(const TensorPlan& t, size_t index, uint64_t seed, const std::vector<float>& rope,
                   std::vector<float>* f32, std::vector<uint16_t>* f16, GgufWriter* w) {
  const uint64_t total = NumElements(t);
  Status st;
  for (uint64_t start = 0; start < total && st.ok(); start += kChunk) {
    const size_t n = std::min<uint64_t>(kChunk, total - start);
    Generate(t, index, seed, start, n, rope, f32->data());
    if (t.dtype == DType::kF16) {
#pragma omp parallel for schedule(static)
      for (int64_t k = 0; k < static_cast<int64_t>(n); ++k) (*f16)[k] = F32ToF16((*f32)[k]);
      st = w->WriteData(f16->data(), n * 2);
    } else {
      st = w->WriteData(f32->data(), n * 4);
    }
  }
  return st;
}

// Every tensor's data, then the file's completion; memory stays at one
// chunk whatever the model's size.
Status WriteTensors(const SynthShape& shape, const std::vector<TensorPlan>& plan, uint64_t seed,
                    const std::string& label, GgufWriter* w) {
  // Llama 3 rope scaling as llama.cpp's converter writes it (divisors).
  const std::vector<float> rope =
      Llama3RopeDivisors(SynthModelInfo(shape, TokenizerData()).hparams, shape.dim / shape.n_heads);
  std::vector<float> f32(kChunk);
  std::vector<uint16_t> f16(kChunk);
  Progress progress(label);
  Status st;
  for (size_t i = 0; i < plan.size() && st.ok(); ++i) {
    st = WriteTensor(plan[i], i, seed, rope, &f32, &f16, w);
    progress.Update(plan[i].name, i + 1, plan.size());
  }
  if (st.ok()) st = w->Finish();
  progress.Finish();
  return st;
}

}  // namespace

int CmdSynth(int argc, char** argv) {
  SynthFlags f;
  if (int code = ParseFlags(argc, argv, &f); code >= 0) return code;
  if (f.threads > 0) omp_set_num_threads(static_cast<int>(f.threads));
  SynthShape shape = *f.shape;
  TokenizerData tok;
  if (int code = ChooseTokenizer(f.tokenizer_path, &shape, &tok); code >= 0) return code;

  const auto start_time = std::chrono::steady_clock::now();
  auto writer = GgufWriter::Create(f.out_path);
  if (!writer.ok()) return Fail("synth", writer.status());
  GgufWriter& w = **writer;
  const std::vector<TensorPlan> plan = PlanTensors(shape);
  Status st = WriteHeader(shape, std::move(tok), plan, &w);
  if (!st.ok()) return Fail("synth", st);
  st = WriteTensors(shape, plan, static_cast<uint64_t>(f.seed), "synth " + f.shape_name, &w);
  if (!st.ok()) return Fail("synth", st);
  uint64_t params = 0;
  for (const TensorPlan& t : plan) params += NumElements(t);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  std::printf(
      "wrote %s: synthetic %s shape, %.1fM parameters, %s, %.1f s "
      "(random weights: its text is gibberish)\n",
      f.out_path.c_str(), f.shape->name, params / 1e6, HumanBytes(w.file_bytes()).c_str(), secs);
  return kExitOk;
}

}  // namespace tqf::tools
