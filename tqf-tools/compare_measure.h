// Measurements behind `tqf compare`: the quantized bytes of a model (or of
// a .tqf), and for each codec the stored size and the best-of-N decode
// speed, single-threaded and on N threads, of exactly those bytes.
#ifndef TQF_TOOLS_COMPARE_MEASURE_H_
#define TQF_TOOLS_COMPARE_MEASURE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tqf/codec.h"
#include "tqf/quantize.h"
#include "tqf/result.h"

namespace tqf::tools {

struct CompareInput {
  std::string description;  // "safetensors, channel" / ".tqf"
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> tensors;  // the quantized (stored) bytes
  uint64_t bytes = 0;                         // sum of tensor sizes
  uint64_t elements = 0;                      // weights they hold
};

// Loads the 2-D tensors of `path`: a .tqf's stored bytes (any quantizer, as
// packed), or an importable model quantized with `spec` (for vq specs: the
// index bytes, all tensors sharing one codebook trained on them).
Result<CompareInput> LoadCompareInput(const std::string& path, const QuantSpec& spec, int threads);

struct CompareRow {
  std::string codec;    // "entropy (H0)", "raw int8", "rans", "zstd-19", ...
  uint64_t stored = 0;  // bytes, dictionaries included
  bool has_speed = false;
  double gbps_1 = 0;  // decoded GB/s, one thread
  double gbps_n = 0;  // decoded GB/s, `threads` threads
};

struct CompareOptions {
  uint32_t block_size = 64 * 1024;  // blocks for the tqf codecs, as the Writer cuts them
  int threads = 0;                  // 0: all cores
  int runs = 5;                     // best of
  std::vector<int> zstd_levels = {1, 3, 9, 19, 22};  // 22 runs with --ultra --long
  std::function<void(const std::string& what)> progress;
  // Memory: every codec's encoded copy is held at once (about 8x the
  // quantized bytes), so that decode runs can alternate between codecs.
};

// Sum over tensors of each tensor's order-0 entropy, in bytes (rounded up).
uint64_t EntropyBound(const CompareInput& in);

// One row per tqf codec (raw, dict4, rans, ...) and per zstd level.
Result<std::vector<CompareRow>> MeasureCodecs(const CompareInput& in, const CompareOptions& o);

}  // namespace tqf::tools

#endif  // TQF_TOOLS_COMPARE_MEASURE_H_
