// Generate: prefill then sample token by token, see generate.h.
#include "tqf/rt/generate.h"

#include <chrono>

namespace tqf::rt {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Generator::Generator(Model* model, const Tokenizer& tokenizer, const GenerateOptions& options)
    : model_(model), tokenizer_(tokenizer), options_(options), sampler_(options.sampler) {}

Status Generator::Start(const std::vector<int32_t>& prompt) {
  if (started_) return Status::InvalidArgument("generator already started");
  started_ = true;
  done_ = true;  // until the prefill succeeds
  if (prompt.empty()) return Status::InvalidArgument("empty prompt (no tokens)");
  if (prompt.size() > model_->ctx_size()) {
    return Status::InvalidArgument("prompt of " + std::to_string(prompt.size()) +
                                   " tokens is longer than the context (" +
                                   std::to_string(model_->ctx_size()) + ")");
  }
  const auto start = std::chrono::steady_clock::now();
  TQF_RETURN_IF_ERROR(model_->Forward(prompt.data(), prompt.size(), 0, false, &logits_));
  context_ = prompt;
  stats_.prompt_tokens = prompt.size();
  pos_ = prompt.size();
  prev_ = prompt.back();
  next_ = sampler_.Sample(&logits_);
  stats_.prompt_seconds = Since(start);
  done_ = false;
  return Status::OK();
}

Result<bool> Generator::Next(int32_t* token, std::string* piece) {
  if (!started_) return Status::InvalidArgument("Generator::Next before Start");
  if (done_) return false;
  const auto start = std::chrono::steady_clock::now();
  if (forward_pending_) {
    forward_pending_ = false;
    Status st = model_->Forward(&next_, 1, pos_, false, &logits_);
    if (!st.ok()) {
      done_ = true;
      stats_.generate_seconds += Since(start);
      return st;
    }
    ++pos_;
    stats_.generate_passes++;
    prev_ = next_;
    next_ = sampler_.Sample(&logits_);
  }
  if (stats_.generated_tokens >= options_.max_tokens ||
      (options_.stop_at_eos && (tokenizer_.IsStop(next_) || next_ == tokenizer_.bos_id()))) {
    done_ = true;
    stats_.generate_seconds += Since(start);
    return false;
  }
  *token = next_;
  *piece = tokenizer_.DecodePiece(prev_, next_);
  context_.push_back(next_);
  stats_.generated_tokens++;
  if (stats_.generated_tokens == options_.max_tokens || pos_ >= model_->ctx_size()) {
    done_ = true;
  } else {
    forward_pending_ = true;
  }
  stats_.generate_seconds += Since(start);
  return true;
}

Status Generator::Replay() {
  if (!started_ || done_) return Status::OK();
  // The cache holds context_[0, pos_); a pending token (returned, not yet
  // run) is context_[pos_] and runs in the next Next() as usual.
  std::vector<float> scratch;
  Status st = model_->Forward(context_.data(), pos_, 0, false, &scratch);
  if (!st.ok()) done_ = true;
  return st;
}

Result<std::vector<int32_t>> Generate(Model* model, const Tokenizer& tokenizer,
                                      const std::vector<int32_t>& prompt,
                                      const GenerateOptions& options,
                                      const std::function<void(const std::string&)>& on_piece,
                                      GenerateStats* stats) {
  Generator gen(model, tokenizer, options);
  std::vector<int32_t> out;
  Status st = gen.Start(prompt);
  while (st.ok()) {
    int32_t token = 0;
    std::string piece;
    Result<bool> more = gen.Next(&token, &piece);
    if (!more.ok()) st = more.status();
    if (!more.ok() || !*more) break;
    out.push_back(token);
    if (on_piece) on_piece(piece);
  }
  if (stats) *stats = gen.stats();
  if (!st.ok()) return st;
  return out;
}

}  // namespace tqf::rt
