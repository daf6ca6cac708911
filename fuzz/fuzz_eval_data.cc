// Invariant: the eval data parsers (ARC jsonl, HellaSwag 6-line text,
// MMLU CSV) return questions or a Status naming file:line for any bytes;
// every parsed question has a gold answer among its options.
#include <unistd.h>

#include <fstream>
#include <string>

#include "fuzz_helpers.h"
#include "tqf/eval/data.h"

namespace {

void CheckQuestions(const tqf::Result<std::vector<tqf::eval::McQuestion>>& q) {
  if (!q.ok()) {
    FUZZ_ASSERT(!q.status().message().empty());
    return;
  }
  for (const auto& question : *q) {
    FUZZ_ASSERT(question.gold >= 0 && static_cast<size_t>(question.gold) < question.options.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 3;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (which == 0) {
    auto rows = tqf::eval::ParseCsv(text, "fuzz.csv");
    if (!rows.ok()) FUZZ_ASSERT(!rows.status().message().empty());
    return 0;
  }
  static const std::string path = "/tmp/tqf_fuzz_eval." + std::to_string(getpid());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  CheckQuestions(which == 1 ? tqf::eval::LoadArc(path) : tqf::eval::LoadHellaswag(path));
  unlink(path.c_str());
  return 0;
}
