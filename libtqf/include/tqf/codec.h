// Codecs: how a tensor's stored bytes become a codeword stream and back.
//
// A tensor's bytes are cut into blocks of WriterOptions::block_size bytes;
// every block is encoded independently (so blocks decode in any order and in
// parallel). A codec may use a *dictionary*: tables built once from the
// bytes of all tensors (or a group of them) and stored in the file's
// dictionary section, shared by every tensor that names it.
//
// Adding a codec = one new file implementing Codec, plus one line in
// codec_registry.cc and a new CodecKind value (append-only).
//
// Thread-safety: Codec objects are immutable singletons; Encode/Decode may be
// called concurrently. CodecTables are immutable once built.
#ifndef TQF_CODEC_H_
#define TQF_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tqf/result.h"
#include "tqf/status.h"
#include "tqf/types.h"
#include "tqf/visibility.h"

namespace tqf {

// A dictionary in decode- and encode-ready form, made by Codec::LoadDictionary.
class TQF_EXPORT CodecTables {
 public:
  virtual ~CodecTables();
};

// What a DictionaryBuilder produces: the dictionaries to store, and which one
// each tensor (by the index passed to Add) uses.
struct DictionaryPlan {
  std::vector<std::vector<uint8_t>> dictionaries;  // serialized, as stored
  std::vector<int> tensor_dictionary;              // tensor index -> dictionary, -1 none
};

// Gathers statistics over tensors' bytes, then builds dictionaries.
class TQF_EXPORT DictionaryBuilder {
 public:
  virtual ~DictionaryBuilder();
  // Adds the stored bytes of tensor `tensor_index` (indices need not be
  // dense; unseen indices map to -1). `data` need only live during the call.
  virtual void Add(size_t tensor_index, const uint8_t* data, size_t size) = 0;
  // Builds the dictionaries. Call once, after every Add.
  virtual Result<DictionaryPlan> Build() = 0;
};

// One block for Codec::DecodeMany: the arguments of one Decode call, and its
// result.
struct DecodeJob {
  const CodecTables* tables = nullptr;
  const uint8_t* in = nullptr;
  size_t in_size = 0;
  uint8_t* out = nullptr;
  size_t out_size = 0;
  Status status;  // set by DecodeMany
};

class TQF_EXPORT Codec {
 public:
  virtual ~Codec();
  virtual CodecKind kind() const = 0;
  virtual const char* name() const = 0;  // "raw", "dict4", ...
  virtual bool uses_dictionary() const = 0;
  // Whether the codec also needs a codebook (rans-alias-vq): its Encode and
  // Decode then take CombineVqTables(dictionary, codebook) as `tables`.
  virtual bool uses_codebook() const { return false; }

  // A builder for this codec's dictionaries; nullptr if it uses none.
  virtual std::unique_ptr<DictionaryBuilder> NewDictionaryBuilder() const;

  // Parses a stored dictionary. `data` is untrusted (may come from a hostile
  // file): malformed bytes give kCorruption. The result does not reference
  // `data` after return.
  virtual Result<std::shared_ptr<const CodecTables>> LoadDictionary(const uint8_t* data,
                                                                    size_t size) const;

  // Appends the encoding of `in[0..size)` to `*out`. `tables` is the tensor's
  // dictionary (nullptr iff !uses_dictionary()).
  virtual Status Encode(const CodecTables* tables, const uint8_t* in, size_t size,
                        std::vector<uint8_t>* out) const = 0;

  // Decodes the stored block `in[0..in_size)` into exactly `out_size` bytes
  // at `out`. `in` is untrusted: any malformed stream (too short, too long,
  // bad codeword) gives kCorruption and never reads or writes out of bounds.
  virtual Status Decode(const CodecTables* tables, const uint8_t* in, size_t in_size, uint8_t* out,
                        size_t out_size) const = 0;

  // Decodes jobs[0..n) on the calling thread, setting each job's status
  // exactly as Decode would (outputs must not overlap; jobs may use
  // different tables). Codecs whose decoders interleave independent blocks
  // (rans-alias: pairs) are faster this way; the default calls Decode per
  // job.
  virtual void DecodeMany(DecodeJob* jobs, size_t n) const;
};

// ---- Vector quantization (codec rans-alias-vq, format 1.2) ----
// A codebook: `entries` (1..256) vectors of `dim` (1..8) signed bytes, row-
// major; `vectors` need only live during the call. kCorruption for sizes out
// of range (the values come from files).
TQF_EXPORT Result<std::shared_ptr<const CodecTables>> MakeCodebookTables(uint32_t dim,
                                                                         uint32_t entries,
                                                                         const int8_t* vectors);
// The tables rans-alias-vq's Encode/Decode take: a tensor's index table (its
// dictionary, as LoadDictionary returns it) and its codebook.
TQF_EXPORT std::shared_ptr<const CodecTables> CombineVqTables(
    std::shared_ptr<const CodecTables> index_tables, std::shared_ptr<const CodecTables> codebook);

// The codec for a kind, or nullptr if this build does not know it.
TQF_EXPORT const Codec* FindCodec(CodecKind kind);
// The codec named `name` ("raw", "dict4", ...), or nullptr.
TQF_EXPORT const Codec* FindCodecByName(std::string_view name);
// Every codec this build knows, in CodecKind order.
TQF_EXPORT std::vector<const Codec*> AllCodecs();
// The codecs that encode any bytes with a dictionary of their own (all but
// rans-alias-vq, which needs a codebook from a VQ quantizer): what
// `tqf pack --codec` and `tqf compare` offer.
TQF_EXPORT std::vector<const Codec*> ByteCodecs();
// The codec `tqf pack` uses when none is named.
TQF_EXPORT const Codec* DefaultCodec();

}  // namespace tqf

#endif  // TQF_CODEC_H_
