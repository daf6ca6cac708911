// Differential invariant: any bytes, stored as an int8 tensor with any
// codec and block size through Writer, read back through Reader exactly,
// in whole and block by block, and Verify finds no problem.
#include <unistd.h>

#include <string>
#include <vector>

#include "fuzz_helpers.h"
#include "tqf/codec.h"
#include "tqf/reader.h"
#include "tqf/writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::Producer p(data, size);
  const auto codecs = tqf::ByteCodecs();
  const tqf::Codec* codec = codecs[p.U8() % codecs.size()];
  uint32_t block = 1 + p.U32() % 4096;
  std::vector<uint8_t> bytes = p.Take(1 << 16);
  if (bytes.empty()) bytes.push_back(0);
  static const std::string path = "/tmp/tqf_fuzz_write_read." + std::to_string(getpid()) + ".tqf";
  tqf::ModelInfo info;
  tqf::WriterOptions wo;
  wo.block_size = block;
  wo.threads = 1;
  auto w = tqf::Writer::Create(path, info, wo);
  FUZZ_ASSERT(w.ok());
  int dict = -1;
  if (codec->uses_dictionary()) {
    auto b = codec->NewDictionaryBuilder();
    b->Add(0, bytes.data(), bytes.size());
    auto plan = b->Build();
    FUZZ_ASSERT(plan.ok());
    FUZZ_ASSERT(plan->dictionaries.size() >= 1);
    auto id = (*w)->AddDictionary(codec->kind(), plan->dictionaries[plan->tensor_dictionary[0]]);
    FUZZ_ASSERT(id.ok());
    dict = *id;
  }
  tqf::TensorSpec spec;
  spec.name = "t";
  spec.shape = {1, bytes.size()};
  spec.dtype = tqf::DType::kI8;
  spec.quant = tqf::QuantKind::kChannel;
  spec.codec = codec->kind();
  spec.dictionary = dict;
  float scale = 1.0f;
  FUZZ_ASSERT((*w)->AddTensor(spec, bytes.data(), bytes.size(), &scale, 1).ok());
  FUZZ_ASSERT((*w)->Finish().ok());
  auto r = tqf::Reader::Open(path);
  FUZZ_ASSERT(r.ok());
  std::vector<uint8_t> out(bytes.size());
  FUZZ_ASSERT((*r)->DecodeTensor(0, out.data(), out.size(), 1).ok());
  FUZZ_ASSERT(out == bytes);
  FUZZ_ASSERT((*r)->Verify(1).problems.empty());
  unlink(path.c_str());
  return 0;
}
