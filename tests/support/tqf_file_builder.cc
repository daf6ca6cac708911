#include "tqf_file_builder.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "tqf/codec.h"
#include "tqf/quantize.h"
#include "util/checksum.h"

namespace tqf::testing {

SmallModel MakeSmallModel(CodecKind codec, uint32_t seed) {
  SmallModel m;
  m.info.hparams.architecture = "llama";
  m.info.hparams.dim = 64;
  m.info.tokenizer.kind = TokenizerKind::kSentencePieceBpe;
  m.info.tokenizer.tokens = {"<unk>", "<s>", "</s>", "a", "b"};
  m.info.tokenizer.scores = {0, 0, 0, -1, -2};
  m.info.tokenizer.bos_id = 1;
  m.info.tokenizer.eos_id = 2;
  m.info.metadata = {{"test.seed", std::to_string(seed)}};
  // A portable generator (std::normal_distribution differs between
  // standard libraries, and golden vectors must not): xorshift64, and an
  // approximately normal value as a centred sum of four uniforms.
  uint64_t state = 0x9E3779B97F4A7C15ull * (seed + 1);
  auto uniform = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<float>(state >> 40) / static_cast<float>(1 << 24);
  };
  auto normal = [&] { return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f; };
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, QuantScheme scheme,
                 CodecKind c) {
    size_t rows = shape.size() > 1 ? shape[0] : 1, cols = shape.back();
    std::vector<float> v(rows * cols);
    for (float& x : v) x = normal() * 0.05f;
    auto q = Quantize(scheme, v.data(), rows, cols, shape.size(), DType::kF32,
                      reinterpret_cast<const uint8_t*>(v.data()));
    if (!q.ok()) throw std::runtime_error(q.status().ToString());
    SmallModel::T t;
    t.spec.name = name;
    t.spec.shape = shape;
    t.spec.dtype = q->dtype;
    t.spec.quant = q->quant;
    t.spec.quant_block = q->quant_block;
    t.spec.codec = c;
    t.data = q->data;
    t.params = q->params;
    m.tensors.push_back(std::move(t));
  };
  add("norm.weight", {64}, QuantScheme::kRaw, CodecKind::kRaw);
  add("w.channel", {48, 64}, QuantScheme::kChannel, codec);
  add("w.minmax", {32, 40}, QuantScheme::kTensorMinMax, codec);
  add("w.block", {20, 70}, QuantScheme::kBlock32, codec);
  add("w.f32", {8, 16}, QuantScheme::kRaw, codec);
  return m;
}

SmallModel MakeLowBitModel(uint32_t seed) {
  SmallModel m = MakeSmallModel(CodecKind::kRaw, seed);
  m.tensors.resize(1);  // keep norm.weight
  uint64_t state = 0x2545F4914F6CDD1Dull * (seed + 1);
  auto next = [&](uint32_t n) {  // xorshift64, in [0, n)
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>((state >> 33) % n);
  };
  // Codes skewed towards zero, as weights are: the smaller of two draws.
  auto code = [&](int lo, int hi) {
    const uint32_t span = static_cast<uint32_t>(hi - lo + 1);
    const int a = static_cast<int>(next(span)), b = static_cast<int>(next(span));
    const int mid = (lo + hi) / 2;
    return std::abs(a + lo - mid) < std::abs(b + lo - mid) ? a + lo : b + lo;
  };
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, QuantKind quant,
                 uint32_t block, const char* quantizer, int lo, int hi) -> SmallModel::T& {
    SmallModel::T t;
    t.spec.name = name;
    t.spec.shape = shape;
    t.spec.dtype = DType::kI8;
    t.spec.quant = quant;
    t.spec.quant_block = block;
    t.spec.codec = CodecKind::kRansAlias;
    t.spec.quantizer = quantizer;
    const size_t rows = shape[0], cols = shape[1];
    t.data.resize(rows * cols);
    for (uint8_t& b : t.data) b = static_cast<uint8_t>(static_cast<int8_t>(code(lo, hi)));
    t.params.resize(NumQuantParams(quant, block, rows, cols));
    m.tensors.push_back(std::move(t));
    return m.tensors.back();
  };
  auto log8 = [&](SmallModel::T& t, float base) {
    t.spec.params_format = ParamsFormat::kLog8;
    t.spec.log8_base = base;
    for (float& p : t.params) p = Log8Scale(base, static_cast<uint8_t>(100 + next(60)));
    t.params[0] = 0.0f;  // code 0: a zero scale
  };
  log8(add("w.q4", {20, 70}, QuantKind::kBlock, 16, "q4-g16", -8, 7), 0.001f);
  log8(add("w.q3a", {16, 64}, QuantKind::kChannel, 0, "q3a-row", -2, 5), 0.01f);
  SmallModel::T& ec = add("w.ec", {12, 48}, QuantKind::kTensorMinMax, 0, "ec3", -20, 20);
  ec.params = {0.0078125f, 0.0f};
  // Two codebooks; each VQ tensor's codes are its indices' vectors.
  for (uint32_t dim : {4u, 8u}) {
    SmallModel::Codebook cb;
    cb.dim = dim;
    cb.entries = dim == 4 ? 16 : 32;
    for (uint32_t i = 0; i < cb.dim * cb.entries; ++i) {
      cb.vectors.push_back(static_cast<int8_t>(code(-127, 127)));
    }
    m.codebooks.push_back(std::move(cb));
  }
  auto vq = [&](const std::string& name, std::vector<uint64_t> shape, int book,
                const char* quantizer) -> SmallModel::T& {
    const SmallModel::Codebook& cb = m.codebooks[book];
    SmallModel::T& t = add(name, shape, QuantKind::kChannel, 0, quantizer, 0, 0);
    t.spec.codec = CodecKind::kRansAliasVq;
    t.spec.codebook = book;
    t.indices.resize(t.data.size() / cb.dim);
    for (size_t v = 0; v < t.indices.size(); ++v) {
      t.indices[v] = static_cast<uint8_t>(code(0, static_cast<int>(cb.entries) - 1));
      std::memcpy(&t.data[v * cb.dim], &cb.vectors[t.indices[v] * cb.dim], cb.dim);
    }
    return t;
  };
  log8(vq("w.vq4", {24, 64}, 0, "vq4x16-row"), 0.02f);
  SmallModel::T& v8 = vq("w.vq8", {6, 40}, 1, "vq8x32-row");
  for (float& p : v8.params) p = 0.001f * static_cast<float>(1 + next(9));
  return m;
}

void WriteSmallModel(const SmallModel& m, const std::string& path, uint32_t block_size,
                     const std::string& writer_name) {
  WriterOptions opt;
  opt.block_size = block_size;
  opt.writer_name = writer_name;
  auto w = Writer::Create(path, m.info, opt);
  if (!w.ok()) throw std::runtime_error(w.status().ToString());
  std::vector<int> dict_of(m.tensors.size(), -1);
  // One dictionary per dictionary codec used (rans-alias-vq's: a rans-alias
  // table over the index bytes).
  for (const Codec* c : AllCodecs()) {
    if (!c->uses_dictionary()) continue;
    auto builder = c->NewDictionaryBuilder();
    bool used = false;
    for (size_t i = 0; i < m.tensors.size(); ++i) {
      if (m.tensors[i].spec.codec == c->kind()) {
        const auto& bytes = c->uses_codebook() ? m.tensors[i].indices : m.tensors[i].data;
        builder->Add(i, bytes.data(), bytes.size());
        used = true;
      }
    }
    if (!used) continue;
    auto plan = builder->Build();
    if (!plan.ok()) throw std::runtime_error(plan.status().ToString());
    std::vector<int> ids;
    for (const auto& d : plan->dictionaries) {
      auto id = (*w)->AddDictionary(c->uses_codebook() ? CodecKind::kRansAlias : c->kind(), d);
      if (!id.ok()) throw std::runtime_error(id.status().ToString());
      ids.push_back(*id);
    }
    for (size_t i = 0; i < m.tensors.size(); ++i) {
      if (m.tensors[i].spec.codec == c->kind() && i < plan->tensor_dictionary.size() &&
          plan->tensor_dictionary[i] >= 0) {
        dict_of[i] = ids[plan->tensor_dictionary[i]];
      }
    }
  }
  for (const SmallModel::Codebook& cb : m.codebooks) {
    auto id = (*w)->AddCodebook(cb.dim, cb.entries, cb.vectors);
    if (!id.ok()) throw std::runtime_error(id.status().ToString());
  }
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    TensorSpec spec = m.tensors[i].spec;
    spec.dictionary = dict_of[i];
    auto st = (*w)->AddTensor(spec, m.tensors[i].data.data(), m.tensors[i].data.size(),
                              m.tensors[i].params.data(), m.tensors[i].params.size());
    if (!st.ok()) throw std::runtime_error(st.status().ToString());
  }
  Status s = (*w)->Finish();
  if (!s.ok()) throw std::runtime_error(s.ToString());
}

std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

namespace {

// Decodes without validation (tests patch invalid values on purpose).
format::Preamble RawPreamble(const uint8_t* p) {
  format::Preamble pre;
  std::memcpy(&pre.format_major, p + 8, 2);
  std::memcpy(&pre.format_minor, p + 10, 2);
  std::memcpy(&pre.incompat_flags, p + 16, 8);
  std::memcpy(&pre.compat_flags, p + 24, 8);
  std::memcpy(&pre.header_offset, p + 32, 8);
  std::memcpy(&pre.header_size, p + 40, 8);
  return pre;
}

format::Footer RawFooter(const uint8_t* p) {
  format::Footer f;
  std::memcpy(&f.header_offset, p + 0, 8);
  std::memcpy(&f.header_size, p + 8, 8);
  std::memcpy(&f.header_checksum, p + 16, 8);
  std::memcpy(&f.file_size, p + 24, 8);
  std::memcpy(&f.format_major, p + 32, 2);
  std::memcpy(&f.format_minor, p + 34, 2);
  std::memcpy(&f.incompat_flags, p + 40, 8);
  return f;
}

}  // namespace

void PatchPreamble(std::vector<uint8_t>* file, const std::function<void(format::Preamble*)>& fn) {
  format::Preamble p = RawPreamble(file->data());
  fn(&p);
  format::EncodePreamble(p, file->data());
}

void PatchFooter(std::vector<uint8_t>* file, const std::function<void(format::Footer*)>& fn) {
  uint8_t* at = file->data() + file->size() - format::kFooterSize;
  format::Footer f = RawFooter(at);
  fn(&f);
  format::EncodeFooter(f, at);
}

void PatchHeader(std::vector<uint8_t>* file, const std::function<void(fb::HeaderT*)>& fn) {
  format::Footer f = RawFooter(file->data() + file->size() - format::kFooterSize);
  std::unique_ptr<fb::HeaderT> h(fb::GetHeader(file->data() + f.header_offset)->UnPack());
  fn(h.get());
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::Header::Pack(b, h.get()), fb::HeaderIdentifier());
  file->resize(f.header_offset);
  file->insert(file->end(), b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  f.header_size = b.GetSize();
  f.header_checksum = Checksum64(b.GetBufferPointer(), b.GetSize());
  f.file_size = file->size() + format::kFooterSize;
  file->resize(file->size() + format::kFooterSize);
  format::EncodeFooter(f, file->data() + file->size() - format::kFooterSize);
  PatchPreamble(file, [&](format::Preamble* p) {
    p->header_offset = f.header_offset;
    p->header_size = f.header_size;
  });
}

}  // namespace tqf::testing
