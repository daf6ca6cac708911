// Internals shared by model.cc and model_forward.cc (not part of the
// runtime's API). Thread-safety: as Model.
#ifndef TQF_RUNTIME_MODEL_INTERNAL_H_
#define TQF_RUNTIME_MODEL_INTERNAL_H_

#include <memory>
#include <vector>

#include "tqf/internal/rope.h"
#include "tqf/rt/kernels.h"
#include "tqf/rt/model.h"

namespace tqf::rt {

// Activations for one pass of up to max_batch tokens, and the KV cache.
struct Model::Buffers {
  std::vector<float> x, xb, xb2, q, k, v, att_out, hb, hb2;
  std::vector<float> att;  // threads x ctx_size attention scores
  std::vector<float> rope_cos, rope_sin;
  // [layer][position][kv_dim]; left uninitialized so that pages become
  // resident only as positions are written.
  std::unique_ptr<float[]> key_cache, value_cache;
  MatMulScratch scratch;

  // kResourceExhausted (naming the bytes) if memory cannot be had.
  Status Allocate(const Model& m);
  size_t ActivationBytes() const;
};

}  // namespace tqf::rt

#endif  // TQF_RUNTIME_MODEL_INTERNAL_H_
