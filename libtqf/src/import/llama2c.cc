// llama2.c checkpoint importer: 7 int32 header, then fp32 tensors in
// llama2.c's order, each per-layer array split into blk.N tensors.
//
// The Q/K rows are used as stored: llama2.c checkpoints (exported from
// Meta's layout) already keep each rotary pair adjacent, the same layout as
// GGUF, so no permutation is needed (checked bit for bit against
// stories260K.gguf in tests/import_test.cc).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "import/import_internal.h"
#include "tqf/import.h"
#include "tqf/mapped_file.h"
#include "util/bytes.h"

namespace tqf {
namespace {

using import_internal::AddOverflow;
using import_internal::MulOverflow;

constexpr size_t kHeaderBytes = 28;

struct Header {
  int64_t dim, hidden, layers, heads, kv_heads, vocab, seq;
  bool shared;  // classifier tied to the embedding (vocab_size > 0)
};

// Adds tensors in file order; tracks the running offset with overflow checks.
class Layout {
 public:
  Layout(const uint8_t* base) : base_(base) {}

  // One array of `count` floats per layer (count * layers floats in all),
  // or a single tensor when layers < 0.
  bool Add(SourceModel* m, const std::string& name_suffix, int64_t layers,
           std::vector<uint64_t> shape) {
    uint64_t count = 1;
    for (uint64_t d : shape) {
      if (MulOverflow(count, d, &count)) return false;
    }
    uint64_t bytes;
    if (MulOverflow(count, 4, &bytes)) return false;
    const uint64_t reps = layers < 0 ? 1 : static_cast<uint64_t>(layers);
    uint64_t total;
    if (MulOverflow(bytes, reps, &total)) return false;
    // Tensors are only made once the size check passed (reps is then
    // bounded by the file size).
    for (uint64_t l = 0; m != nullptr && l < reps; ++l) {
      SourceTensor t;
      t.name = layers < 0 ? name_suffix : "blk." + std::to_string(l) + "." + name_suffix;
      t.shape = shape;
      t.dtype = DType::kF32;
      t.data = base_ + offset_ + l * bytes;
      t.size = static_cast<size_t>(bytes);
      m->tensors.push_back(std::move(t));
    }
    return !AddOverflow(offset_, total, &offset_);
  }
  bool Skip(uint64_t floats) {
    uint64_t bytes;
    return !MulOverflow(floats, 4, &bytes) && !AddOverflow(offset_, bytes, &offset_);
  }
  uint64_t offset() const { return offset_; }

 private:
  const uint8_t* base_;
  uint64_t offset_ = kHeaderBytes;
};

// Walks the layout; with m == nullptr it only computes the expected size.
bool WalkLayout(const Header& h, const uint8_t* base, SourceModel* m, uint64_t* end) {
  const uint64_t dim = h.dim, hid = h.hidden, vocab = h.vocab;
  const uint64_t hs = h.dim / h.heads;
  const uint64_t kv_dim = hs * h.kv_heads;
  const int64_t L = h.layers;
  Layout lay(base);
  bool ok =
      lay.Add(m, "token_embd.weight", -1, {vocab, dim}) &&
      lay.Add(m, "attn_norm.weight", L, {dim}) && lay.Add(m, "attn_q.weight", L, {dim, dim}) &&
      lay.Add(m, "attn_k.weight", L, {kv_dim, dim}) &&
      lay.Add(m, "attn_v.weight", L, {kv_dim, dim}) &&
      lay.Add(m, "attn_output.weight", L, {dim, dim}) && lay.Add(m, "ffn_norm.weight", L, {dim}) &&
      lay.Add(m, "ffn_gate.weight", L, {hid, dim}) &&
      lay.Add(m, "ffn_down.weight", L, {dim, hid}) && lay.Add(m, "ffn_up.weight", L, {hid, dim}) &&
      lay.Add(m, "output_norm.weight", -1, {dim}) &&
      lay.Skip(static_cast<uint64_t>(h.seq) * (hs / 2)) &&  // freq_cis_real
      lay.Skip(static_cast<uint64_t>(h.seq) * (hs / 2));    // freq_cis_imag
  if (ok && !h.shared) ok = lay.Add(m, "output.weight", -1, {vocab, dim});
  *end = lay.offset();
  return ok;
}

// Orders tensors as GGUF does: token_embd, blk.0.*, blk.1.*, ...,
// output_norm, output (file order within a layer).
void SortCanonical(std::vector<SourceTensor>* tensors) {
  auto key = [](const SourceTensor& t) -> std::pair<int, uint64_t> {
    if (t.name.compare(0, 4, "blk.") == 0)
      return {1, std::strtoull(t.name.c_str() + 4, nullptr, 10)};
    if (t.name == "token_embd.weight") return {0, 0};
    return {t.name == "output_norm.weight" ? 2 : 3, 0};
  };
  std::stable_sort(tensors->begin(), tensors->end(),
                   [&](const SourceTensor& a, const SourceTensor& b) { return key(a) < key(b); });
}

Status LoadTokenizer(const std::string& path, const ImportOptions& options, int64_t vocab,
                     SourceModel* m) {
  std::string tok_path = options.tokenizer_path;
  if (tok_path.empty()) {
    const std::string dir = import_internal::DirName(path);
    for (std::string cand : {dir + "tokenizer.bin", dir + "tok" + std::to_string(vocab) + ".bin"}) {
      if (import_internal::FileExists(cand)) {
        tok_path = cand;
        break;
      }
    }
  }
  if (tok_path.empty()) {
    m->info.metadata.emplace_back("import.note", "no tokenizer.bin found beside the checkpoint");
    return Status::OK();
  }
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(tok_path));
  TQF_ASSIGN_OR_RETURN(m->info.tokenizer, import_internal::ParseLlama2cTokenizer(
                                              file->data(), file->size(), vocab, tok_path));
  m->info.metadata.emplace_back("tokenizer.source", tok_path);
  return Status::OK();
}

}  // namespace

Result<SourceModel> ImportLlama2c(const std::string& path, const ImportOptions& options) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  const uint8_t* d = file->data();
  const size_t n = file->size();
  if (n < kHeaderBytes) {
    return Status::Corruption(path + ": llama2.c checkpoint too short for its header (" +
                              std::to_string(n) + " bytes, need 28)");
  }
  int32_t raw[7];
  for (int i = 0; i < 7; ++i) raw[i] = static_cast<int32_t>(LoadLE32(d + 4 * i));
  static const char* kNames[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                  "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    if (i != 5 && raw[i] <= 0) {
      return Status::Corruption(path + ": llama2.c header field " + kNames[i] + " = " +
                                std::to_string(raw[i]) + " (must be > 0)");
    }
  }
  Header h{raw[0], raw[1],    raw[2], raw[3], raw[4], raw[5] < 0 ? -int64_t{raw[5]} : raw[5],
           raw[6], raw[5] > 0};
  if (h.vocab == 0) return Status::Corruption(path + ": llama2.c header vocab_size = 0");
  if (h.dim % h.heads != 0 || h.kv_heads > h.heads || h.heads % h.kv_heads != 0) {
    return Status::Corruption(path + ": inconsistent llama2.c header: dim " +
                              std::to_string(h.dim) + ", n_heads " + std::to_string(h.heads) +
                              ", n_kv_heads " + std::to_string(h.kv_heads));
  }
  uint64_t expected = 0;
  if (!WalkLayout(h, d, nullptr, &expected)) {
    return Status::Corruption(path + ": llama2.c header implies a size that overflows 64 bits");
  }
  if (expected != n) {
    return Status::Corruption(path + ": llama2.c header (" +
                              (h.shared ? std::string("shared") : std::string("untied")) +
                              " classifier) implies " + std::to_string(expected) +
                              " bytes, file has " + std::to_string(n));
  }
  SourceModel m;
  m.format = "llama2c";
  m.path = path;
  m.file_bytes = n;
  uint64_t end;
  WalkLayout(h, d, &m, &end);
  SortCanonical(&m.tensors);
  import_internal::AddKeepAlive(&m, file);

  Hyperparameters& hp = m.info.hparams;
  hp.architecture = "llama";
  hp.dim = static_cast<uint32_t>(h.dim);
  hp.hidden_dim = static_cast<uint32_t>(h.hidden);
  hp.n_layers = static_cast<uint32_t>(h.layers);
  hp.n_heads = static_cast<uint32_t>(h.heads);
  hp.n_kv_heads = static_cast<uint32_t>(h.kv_heads);
  hp.head_dim = static_cast<uint32_t>(h.dim / h.heads);
  hp.vocab_size = static_cast<uint32_t>(h.vocab);
  hp.context_length = static_cast<uint32_t>(h.seq);
  hp.norm_eps = 1e-5f;
  hp.rope_theta = 10000.0f;
  hp.tied_embeddings = h.shared;
  m.info.metadata.emplace_back("source.format", "llama2c");
  TQF_RETURN_IF_ERROR(LoadTokenizer(path, options, h.vocab, &m));
  return m;
}

}  // namespace tqf
