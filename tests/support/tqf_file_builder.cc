#include "tqf_file_builder.h"

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

void WriteSmallModel(const SmallModel& m, const std::string& path, uint32_t block_size,
                     const std::string& writer_name) {
  WriterOptions opt;
  opt.block_size = block_size;
  opt.writer_name = writer_name;
  auto w = Writer::Create(path, m.info, opt);
  if (!w.ok()) throw std::runtime_error(w.status().ToString());
  std::vector<int> dict_of(m.tensors.size(), -1);
  // One dictionary per dictionary codec used.
  for (const Codec* c : AllCodecs()) {
    if (!c->uses_dictionary()) continue;
    auto builder = c->NewDictionaryBuilder();
    bool used = false;
    for (size_t i = 0; i < m.tensors.size(); ++i) {
      if (m.tensors[i].spec.codec == c->kind()) {
        builder->Add(i, m.tensors[i].data.data(), m.tensors[i].data.size());
        used = true;
      }
    }
    if (!used) continue;
    auto plan = builder->Build();
    if (!plan.ok()) throw std::runtime_error(plan.status().ToString());
    std::vector<int> ids;
    for (const auto& d : plan->dictionaries) {
      auto id = (*w)->AddDictionary(c->kind(), d);
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
