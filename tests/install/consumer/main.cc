// Opens a .tqf through the installed headers and libraries, decodes every
// tensor to f32 and prints a line per tensor (name, elements, sum); checks
// that the runtime's tokenizer loads from the file too.
#include <cstdio>
#include <memory>
#include <vector>

#include "tqf/reader.h"
#include "tqf/rt/tokenizer.h"
#include "tqf/version.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tqf_consumer FILE.tqf\n");
    return 2;
  }
  tqf::Result<std::unique_ptr<tqf::Reader>> reader = tqf::Reader::Open(argv[1]);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    return 1;
  }
  std::printf("tqf %s: %zu tensors\n", tqf::VersionString(), (*reader)->tensors().size());
  std::vector<float> values;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    const tqf::TensorInfo& t = (*reader)->tensors()[i];
    values.resize(t.num_elements());
    tqf::Status st = (*reader)->DecodeTensorF32(i, values.data(), values.size(), 1);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    double sum = 0;
    for (float v : values) sum += v;
    std::printf("%s %zu %.6g\n", t.name.c_str(), values.size(), sum);
  }
  if ((*reader)->model().tokenizer.kind != tqf::TokenizerKind::kNone) {
    auto tok = tqf::rt::Tokenizer::Create((*reader)->model().tokenizer);
    if (!tok.ok()) {
      std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
      return 1;
    }
    std::printf("tokenizer: %zu tokens\n", static_cast<size_t>((*tok)->vocab_size()));
  }
  return 0;
}
