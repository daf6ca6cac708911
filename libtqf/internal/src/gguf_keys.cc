// The GGUF key table (see gguf_keys.h).
#include "tqf/internal/gguf_keys.h"

namespace tqf {
namespace {

struct KeyName {
  GgufKey key;
  bool per_arch;  // name is "<arch>." + suffix
  const char* name;
};

// In GgufKey order.
constexpr KeyName kKeys[] = {
    {GgufKey::kArchitecture, false, "general.architecture"},
    {GgufKey::kName, false, "general.name"},
    {GgufKey::kDescription, false, "general.description"},
    {GgufKey::kAlignment, false, "general.alignment"},
    {GgufKey::kFileType, false, "general.file_type"},
    {GgufKey::kContextLength, true, "context_length"},
    {GgufKey::kEmbeddingLength, true, "embedding_length"},
    {GgufKey::kBlockCount, true, "block_count"},
    {GgufKey::kFeedForwardLength, true, "feed_forward_length"},
    {GgufKey::kVocabSize, true, "vocab_size"},
    {GgufKey::kHeadCount, true, "attention.head_count"},
    {GgufKey::kHeadCountKv, true, "attention.head_count_kv"},
    {GgufKey::kKeyLength, true, "attention.key_length"},
    {GgufKey::kRmsEpsilon, true, "attention.layer_norm_rms_epsilon"},
    {GgufKey::kRopeDimensionCount, true, "rope.dimension_count"},
    {GgufKey::kRopeFreqBase, true, "rope.freq_base"},
    {GgufKey::kRopeScalingType, true, "rope.scaling.type"},
    {GgufKey::kRopeScalingFactor, true, "rope.scaling.factor"},
    {GgufKey::kRopeScalingLowFreqFactor, true, "rope.scaling.low_freq_factor"},
    {GgufKey::kRopeScalingHighFreqFactor, true, "rope.scaling.high_freq_factor"},
    {GgufKey::kRopeScalingOriginalContext, true, "rope.scaling.original_context_length"},
    {GgufKey::kTokenizerModel, false, "tokenizer.ggml.model"},
    {GgufKey::kTokenizerPre, false, "tokenizer.ggml.pre"},
    {GgufKey::kTokenizerTokens, false, "tokenizer.ggml.tokens"},
    {GgufKey::kTokenizerScores, false, "tokenizer.ggml.scores"},
    {GgufKey::kTokenizerTokenType, false, "tokenizer.ggml.token_type"},
    {GgufKey::kTokenizerMerges, false, "tokenizer.ggml.merges"},
    {GgufKey::kTokenizerBosId, false, "tokenizer.ggml.bos_token_id"},
    {GgufKey::kTokenizerEosId, false, "tokenizer.ggml.eos_token_id"},
    {GgufKey::kTokenizerUnknownId, false, "tokenizer.ggml.unknown_token_id"},
    {GgufKey::kTokenizerPaddingId, false, "tokenizer.ggml.padding_token_id"},
    {GgufKey::kTokenizerAddBos, false, "tokenizer.ggml.add_bos_token"},
    {GgufKey::kTokenizerAddEos, false, "tokenizer.ggml.add_eos_token"},
    {GgufKey::kTokenizerEotId, false, "tokenizer.ggml.eot_token_id"},
    {GgufKey::kTokenizerEomId, false, "tokenizer.ggml.eom_token_id"},
};

static_assert(static_cast<int>(GgufKey::kTokenizerEomId) + 1 == sizeof(kKeys) / sizeof(kKeys[0]),
              "kKeys must list every GgufKey in order");

}  // namespace

std::string GgufKeyName(GgufKey key, std::string_view arch) {
  const KeyName& k = kKeys[static_cast<int>(key)];
  if (!k.per_arch) return k.name;
  std::string name(arch);
  name += '.';
  name += k.name;
  return name;
}

}  // namespace tqf
