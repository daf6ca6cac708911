// Generate: prefill then sample token by token, see generate.h.
#include "tqf/rt/generate.h"

#include <chrono>

namespace tqf::rt {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Result<std::vector<int32_t>> Generate(Model* model, const Tokenizer& tokenizer,
                                      const std::vector<int32_t>& prompt,
                                      const GenerateOptions& options,
                                      const std::function<void(const std::string&)>& on_piece,
                                      GenerateStats* stats) {
  GenerateStats local;
  GenerateStats& st = stats ? *stats : local;
  st = GenerateStats();
  if (prompt.empty()) return Status::InvalidArgument("empty prompt (no tokens)");
  if (prompt.size() > model->ctx_size()) {
    return Status::InvalidArgument("prompt of " + std::to_string(prompt.size()) +
                                   " tokens is longer than the context (" +
                                   std::to_string(model->ctx_size()) + ")");
  }
  Sampler sampler(options.sampler);
  std::vector<float> logits;
  std::vector<int32_t> out;
  auto start = std::chrono::steady_clock::now();
  TQF_RETURN_IF_ERROR(model->Forward(prompt.data(), prompt.size(), 0, false, &logits));
  st.prompt_tokens = prompt.size();
  size_t pos = prompt.size();
  int32_t prev = prompt.back();
  int32_t next = sampler.Sample(&logits);
  st.prompt_seconds = Since(start);
  start = std::chrono::steady_clock::now();
  while (out.size() < options.max_tokens) {
    if (options.stop_at_eos && (next == tokenizer.eos_id() || next == tokenizer.bos_id())) break;
    out.push_back(next);
    if (on_piece) on_piece(tokenizer.DecodePiece(prev, next));
    if (out.size() == options.max_tokens || pos >= model->ctx_size()) break;
    TQF_RETURN_IF_ERROR(model->Forward(&next, 1, pos, false, &logits));
    ++pos;
    st.generate_passes++;
    prev = next;
    next = sampler.Sample(&logits);
  }
  st.generated_tokens = out.size();
  st.generate_seconds = Since(start);
  return out;
}

}  // namespace tqf::rt
