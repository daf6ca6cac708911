// A probe built against llama.cpp's libllama (scripts/llamacpp.sh builds it
// in the llama.cpp cache): the logits llama.cpp computes for a token
// sequence, for tqf's tests to compare with.
//
//   llama_logits MODEL.gguf OUT.f32 ID...
// Runs the ids as one batch from position 0 (CPU, 1 thread, no flash
// attention) and writes every position's logits, n_ids x n_vocab
// little-endian f32. Exit status 1 with a message on any error.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llama.h"

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "llama_logits: %s\n", msg.c_str());
  return 1;
}

void Quiet(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Fail("usage: llama_logits MODEL.gguf OUT.f32 ID...");
  std::vector<llama_token> ids;
  for (int i = 3; i < argc; ++i) ids.push_back(static_cast<llama_token>(std::atoi(argv[i])));
  llama_log_set(Quiet, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) return Fail(std::string("llama.cpp cannot load ") + argv[1]);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ids.size());
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(ids.size());
  cp.n_threads = cp.n_threads_batch = 1;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return Fail("cannot create a context");
  llama_batch batch = llama_batch_init(static_cast<int32_t>(ids.size()), 0, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.token[i] = ids[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(ids.size());
  if (llama_decode(ctx, batch) != 0) return Fail("llama_decode failed");
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  FILE* out = std::fopen(argv[2], "wb");
  if (!out) return Fail(std::string("cannot write ") + argv[2]);
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* l = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    if (!l || std::fwrite(l, sizeof(float), n_vocab, out) != static_cast<size_t>(n_vocab)) {
      std::fclose(out);
      return Fail("cannot get or write the logits of position " + std::to_string(i));
    }
  }
  if (std::fclose(out) != 0) return Fail(std::string("cannot write ") + argv[2]);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
