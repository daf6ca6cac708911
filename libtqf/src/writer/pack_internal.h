// Internals of PackModel (pack.h): how each tensor is stored, and the
// vector-quantization codebooks.
#ifndef TQF_WRITER_PACK_INTERNAL_H_
#define TQF_WRITER_PACK_INTERNAL_H_

#include <string>
#include <vector>

#include "tqf/import.h"
#include "tqf/pack.h"
#include "tqf/quantize.h"

namespace tqf::pack_internal {

// What a weight matrix does in the model: codebooks are shared within a
// role (weights of one role look alike), or by all roles when the model is
// too small for one codebook per role to pay.
enum class Role { kAttention, kFeedForward, kFeedForwardDown, kEmbedding, kOther };
Role RoleOf(const std::string& tensor_name);

// How one source tensor is stored.
struct Plan {
  QuantSpec spec;      // raw for 1-D tensors
  const Codec* codec;  // rans-alias-vq for kVq
  int codebook = -1;   // index into the trained codebooks (kVq)
};

// The plan of every tensor: 1-D tensors raw, 2-D ones options.quant (or
// options.tensor_quant's choice) fitted to their shape: a VQ vector length
// that does not divide the row becomes a shorter one at the same index rate
// (vq8x256 -> vq4x16), or, for odd rows, an entropy-coded scalar at that rate.
std::vector<Plan> PlanTensors(const SourceModel& model, const PackOptions& options,
                              const Codec* byte_codec);

// Tensor indices in file order, and in the order the model computes with
// them: blk.N tensors by N (file order within a layer), the output head
// and final norm last, every other tensor (embedding) first.
std::vector<size_t> FileOrder(const SourceModel& model);
std::vector<size_t> ComputeOrder(const SourceModel& model);

// The tensor's values as f32, checked finite unless allowed otherwise.
Result<std::vector<float>> SourceValues(const SourceTensor& t, bool allow_nonfinite);

// Trains the codebooks the VQ plans need (setting each plan's `codebook`):
// one per (role, vector length, entries), or one per (vector length,
// entries) shared by every role when the roles' weights are too few for a
// codebook each to cost under 1/32 bit per weight.
Result<std::vector<VqCodebook>> TrainCodebooks(const SourceModel& model, const PackOptions& options,
                                               std::vector<Plan>* plans);

}  // namespace tqf::pack_internal

#endif  // TQF_WRITER_PACK_INTERNAL_H_
