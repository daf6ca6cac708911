// tqf pack's calibration and --bits (pack_calib.h): the flags handed to
// the runtime's rt::CalibrationSession and rt::PackWithinBits.
#include "pack_calib.h"

#include "tqf/rt/allocate.h"
#include "tqf/rt/finetune.h"
#include "tqf/rt/pack_low_bit.h"

namespace tqf::tools {
namespace {

// The distillation's options as the flags ask (steps, step size, batch,
// average, threads).
rt::FinetuneOptions FinetuneOptionsOf(const CalibFlags& flags) {
  rt::FinetuneOptions fo;
  fo.steps = flags.finetune;
  fo.lr = static_cast<float>(flags.finetune_lr);
  fo.batch = flags.finetune_batch;
  fo.average = static_cast<float>(flags.finetune_average);
  fo.threads = flags.threads;
  return fo;
}

class RuntimeCalibration final : public Calibration {
 public:
  explicit RuntimeCalibration(std::unique_ptr<rt::CalibrationSession> s) : session(std::move(s)) {}
  InputStatistics* statistics() override { return session->statistics(); }
  std::string Describe() const override { return session->Describe(); }
  void EnableFinetune(const CalibFlags& flags, PackOptions* options, Progress* progress) override {
    rt::FinetuneOptions fo = FinetuneOptionsOf(flags);
    fo.progress = [progress](size_t done, size_t total) {
      progress->Update("finetune", done, total);
    };
    options->refine = rt::FinetuneRefiner(&session->finetune_sequences(), fo, finetuned);
  }
  std::string DescribeFinetune() const override {
    return finetuned->steps ? rt::DescribeFinetune(*finetuned) : "";
  }
  std::unique_ptr<rt::CalibrationSession> session;
  std::shared_ptr<rt::FinetuneReport> finetuned = std::make_shared<rt::FinetuneReport>();
};

rt::LowBitProgress ToProgress(Progress* progress) {
  return [progress](const char* phase, size_t done, size_t total) {
    progress->Update(phase, done, total);
  };
}

}  // namespace

Status CheckFinetune(const SourceModel& source, const CalibFlags& flags) {
  return rt::CheckFinetunable(source, FinetuneOptionsOf(flags));
}

Result<std::unique_ptr<Calibration>> StartCalibration(const SourceModel& source,
                                                      const CalibFlags& flags, Progress* progress) {
  rt::CalibrationRequest r;
  r.text_path = flags.text_path;
  r.generate = flags.generate;
  r.max_tokens = flags.max_tokens;
  r.seq_len = flags.seq_len;
  r.seed = flags.seed;
  r.max_stat_bytes = flags.max_stat_bytes;
  r.threads = flags.threads;
  r.sequential = flags.sequential;
  r.finetune_tokens = flags.finetune > 0 ? flags.finetune_tokens : 0;
  TQF_ASSIGN_OR_RETURN(auto session,
                       rt::CalibrationSession::Start(source, r, ToProgress(progress)));
  return std::unique_ptr<Calibration>(new RuntimeCalibration(std::move(session)));
}

Result<PackReport> PackWithinBits(const SourceModel& source, const std::string& out,
                                  const BitsFlags& flags, Calibration* calibration,
                                  const PackOptions& options, std::string* choice,
                                  Progress* progress) {
  rt::BitsRequest r;
  r.bits = flags.bits;
  r.measure = flags.measure;
  r.measure_tokens = flags.measure_tokens;
  if (flags.native) {
    r.candidates = rt::NibbleHeldBitsCandidates();
    r.held = true;
  }
  rt::CalibrationSession* session =
      calibration ? static_cast<RuntimeCalibration*>(calibration)->session.get() : nullptr;
  return rt::PackWithinBits(source, out, r, session, options, choice, ToProgress(progress));
}

}  // namespace tqf::tools
