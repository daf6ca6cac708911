// A probe built against llama.cpp's own ggml (scripts/llamacpp.sh builds it
// in the llama.cpp cache, never in tqf's build): what ggml itself decodes,
// for tqf's tests to compare with bit for bit.
//
//   ggml_dump blocks TYPE IN.bin OUT.f32   dequantize IN (whole blocks of ggml
//                                          type number TYPE) with ggml's to_float
//   ggml_dump gguf IN.gguf OUTDIR          every tensor of IN as little-endian
//                                          f32 (OUTDIR/<name>.f32); prints one
//                                          line per tensor: name, type, elements
// Exit status 1 with a message on any error.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "ggml_dump: %s\n", msg.c_str());
  return 1;
}

bool ReadAll(const std::string& path, std::vector<char>* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->insert(out->end(), buf, buf + n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

bool WriteAll(const std::string& path, const std::vector<float>& v) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(v.data(), sizeof(float), v.size(), f) == v.size();
  return std::fclose(f) == 0 && ok;
}

// Decodes `bytes` of type `type` into floats as ggml does.
bool ToFloat(ggml_type type, const void* bytes, size_t size, std::vector<float>* out) {
  const size_t bs = ggml_blck_size(type), ts = ggml_type_size(type);
  if (ts == 0 || size % ts != 0) return false;
  out->resize(size / ts * bs);
  if (type == GGML_TYPE_F32) {
    std::memcpy(out->data(), bytes, size);
    return true;
  }
  const ggml_type_traits* tr = ggml_get_type_traits(type);
  if (!tr || !tr->to_float) return false;
  tr->to_float(bytes, out->data(), static_cast<int64_t>(out->size()));
  return true;
}

int Blocks(int type, const std::string& in, const std::string& out) {
  if (type < 0 || type >= GGML_TYPE_COUNT) return Fail("bad ggml type " + std::to_string(type));
  std::vector<char> bytes;
  if (!ReadAll(in, &bytes)) return Fail("cannot read " + in);
  std::vector<float> values;
  if (!ToFloat(static_cast<ggml_type>(type), bytes.data(), bytes.size(), &values)) {
    return Fail(in + ": not whole blocks of " + ggml_type_name(static_cast<ggml_type>(type)));
  }
  if (!WriteAll(out, values)) return Fail("cannot write " + out);
  return 0;
}

int Gguf(const std::string& in, const std::string& outdir) {
  gguf_init_params params = {true, nullptr};
  gguf_context* ctx = gguf_init_from_file(in.c_str(), params);
  if (!ctx) return Fail("ggml cannot read " + in);
  std::vector<char> file;
  if (!ReadAll(in, &file)) return Fail("cannot read " + in);
  const size_t base = gguf_get_data_offset(ctx);
  for (int64_t i = 0; i < gguf_get_n_tensors(ctx); ++i) {
    const std::string name = gguf_get_tensor_name(ctx, i);
    const ggml_type type = gguf_get_tensor_type(ctx, i);
    const size_t off = base + gguf_get_tensor_offset(ctx, i), size = gguf_get_tensor_size(ctx, i);
    if (off + size > file.size()) return Fail(name + ": data past the end of " + in);
    std::vector<float> values;
    if (!ToFloat(type, file.data() + off, size, &values)) {
      return Fail(name + ": ggml has no f32 conversion for " + ggml_type_name(type));
    }
    if (!WriteAll(outdir + "/" + name + ".f32", values))
      return Fail("cannot write under " + outdir);
    std::printf("%s %s %zu\n", name.c_str(), ggml_type_name(type), values.size());
  }
  gguf_free(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "blocks") == 0) {
    return Blocks(std::atoi(argv[2]), argv[3], argv[4]);
  }
  if (argc == 4 && std::strcmp(argv[1], "gguf") == 0) return Gguf(argv[2], argv[3]);
  return Fail("usage: ggml_dump blocks TYPE IN.bin OUT.f32 | ggml_dump gguf IN.gguf OUTDIR");
}
