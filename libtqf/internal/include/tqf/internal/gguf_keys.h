// Every GGUF metadata key tqf reads or writes, spelled once (llama.cpp's
// LLM_KV_NAMES is the model): the GGUF importer, the exporter and
// `tqf synth` all name keys through this table.
// Thread-safety: pure functions over a constant table.
#ifndef TQF_INTERNAL_GGUF_KEYS_H_
#define TQF_INTERNAL_GGUF_KEYS_H_

#include <string>
#include <string_view>

namespace tqf {

enum class GgufKey {
  // general.*
  kArchitecture,
  kName,
  kDescription,
  kAlignment,
  kFileType,
  // <arch>.*: hyperparameters
  kContextLength,
  kEmbeddingLength,
  kBlockCount,
  kFeedForwardLength,
  kVocabSize,
  kHeadCount,
  kHeadCountKv,
  kKeyLength,
  kRmsEpsilon,
  kRopeDimensionCount,
  kRopeFreqBase,
  kRopeScalingType,
  kRopeScalingFactor,
  kRopeScalingLowFreqFactor,
  kRopeScalingHighFreqFactor,
  kRopeScalingOriginalContext,
  // tokenizer.ggml.*
  kTokenizerModel,
  kTokenizerPre,
  kTokenizerTokens,
  kTokenizerScores,
  kTokenizerTokenType,
  kTokenizerMerges,
  kTokenizerBosId,
  kTokenizerEosId,
  kTokenizerUnknownId,
  kTokenizerPaddingId,
  kTokenizerAddBos,
  kTokenizerAddEos,
  kTokenizerEotId,  // end of turn (Llama 3 <|eot_id|>): also ends generation
  kTokenizerEomId,  // end of message (Llama 3.1 <|eom_id|>): also ends generation
};

// The key's name. Hyperparameter keys are per architecture: "<arch>.suffix"
// (e.g. GgufKeyName(GgufKey::kBlockCount, "llama") == "llama.block_count");
// `arch` is ignored for the others.
std::string GgufKeyName(GgufKey key, std::string_view arch = {});

// Prefix shared by every tokenizer key.
inline constexpr std::string_view kGgufTokenizerPrefix = "tokenizer.ggml.";

}  // namespace tqf

#endif  // TQF_INTERNAL_GGUF_KEYS_H_
