// Conversion of the model description (ModelInfo) to and from the
// FlatBuffers header tables.
#ifndef TQF_FORMAT_HEADER_MODEL_H_
#define TQF_FORMAT_HEADER_MODEL_H_

#include <flatbuffers/flatbuffers.h>

#include "tqf/status.h"
#include "tqf/types.h"
#include "tqf_header_generated.h"

namespace tqf::format {

flatbuffers::Offset<fb::Hyperparameters> BuildHyperparameters(flatbuffers::FlatBufferBuilder& b,
                                                              const Hyperparameters& h);
flatbuffers::Offset<fb::Tokenizer> BuildTokenizer(flatbuffers::FlatBufferBuilder& b,
                                                  const TokenizerData& t);
// The metadata key that carries TokenizerData::stop_ids ("1,2,3", decimal
// ids): the schema has a single eos_id, and metadata is where 1.x files keep
// what readers may ignore (a reader that does stops at eos_id alone).
inline constexpr char kStopIdsKey[] = "tokenizer.stop_ids";

// Writes `kv` minus any kStopIdsKey entry, then kStopIdsKey from `stop_ids`
// when it is not empty.
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::KeyValue>>> BuildMetadata(
    flatbuffers::FlatBufferBuilder& b, const std::vector<std::pair<std::string, std::string>>& kv,
    const std::vector<int32_t>& stop_ids);

// kCorruption unless every stop id names a token and eos_id is among them
// (an empty list passes: eos_id alone ends generation).
Status CheckStopIds(const TokenizerData& t);

// Reads a verified header's model description. kCorruption for values a
// verified buffer can still hold but that make no sense (per-token arrays
// whose lengths disagree with the token count, ids out of range, a
// kStopIdsKey entry that is not a list of token ids).
Status ParseModelInfo(const fb::Header& header, ModelInfo* out);

}  // namespace tqf::format

#endif  // TQF_FORMAT_HEADER_MODEL_H_
