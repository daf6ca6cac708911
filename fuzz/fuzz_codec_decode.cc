// Invariant: every codec's Decode returns OK or kCorruption for any stream,
// tables and output size, never reading or writing out of bounds; tables
// parsed from arbitrary bytes are either rejected or safe to decode with;
// and encoding arbitrary data with tables built from it round-trips;
// DecodeMany agrees with Decode job by job.
//
// Input: [codec u8][mode u8][out_size u32][dict_len u16][dict bytes]
//        (rans-alias-vq: [dim u8][entries u8][codebook bytes]) [stream]
//   mode bit 0: 1 = dictionary parsed from the dict bytes (LoadDictionary),
//               0 = built from the dict bytes with the codec's builder.
#include <cstring>
#include <vector>

#include "fuzz_helpers.h"
#include "tqf/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tqf::fuzz::Producer in(data, size);
  const std::vector<const tqf::Codec*> codecs = tqf::AllCodecs();
  const tqf::Codec* codec = codecs[in.U8() % codecs.size()];
  const uint8_t mode = in.U8();
  const size_t out_size = in.U32() % (1u << 18);
  const size_t dict_len = in.U8() | size_t{in.U8()} << 8;
  std::vector<uint8_t> dict = in.Take(dict_len);
  // rans-alias-vq also takes a codebook: `dim` and `entries` from the input,
  // its vectors from the next bytes. Its dictionary is a table over index
  // bytes, so its training bytes are indices (taken modulo `entries`).
  std::shared_ptr<const tqf::CodecTables> codebook;
  uint32_t dim = 0, entries = 0;
  std::vector<uint8_t> vectors;
  if (codec->uses_codebook()) {
    dim = 1 + in.U8() % 8;
    entries = 1 + in.U8();
    vectors = in.Take(size_t{dim} * entries);
    vectors.resize(size_t{dim} * entries);
    auto cb =
        tqf::MakeCodebookTables(dim, entries, reinterpret_cast<const int8_t*>(vectors.data()));
    FUZZ_ASSERT(cb.ok());
    codebook = *cb;
    // Indices, each the first of the vectors equal to it (what the encoder
    // picks, so a table trained on them covers every index it emits).
    for (uint8_t& b : dict) {
      uint32_t idx = b % entries;
      for (uint32_t e = 0; e < idx; ++e) {
        if (std::memcmp(&vectors[size_t{e} * dim], &vectors[size_t{idx} * dim], dim) == 0) {
          idx = e;
          break;
        }
      }
      b = static_cast<uint8_t>(idx);
    }
  }

  std::shared_ptr<const tqf::CodecTables> tables;
  if (codec->uses_dictionary()) {
    if (mode & 1) {
      auto t = codec->LoadDictionary(dict.data(), dict.size());
      if (!t.ok()) {
        FUZZ_ASSERT(t.status().IsCorruption());
        return 0;
      }
      tables = codebook ? tqf::CombineVqTables(*t, codebook) : *t;
    } else {
      auto builder = codec->NewDictionaryBuilder();
      builder->Add(0, dict.data(), dict.size());
      auto plan = builder->Build();
      FUZZ_ASSERT(plan.ok() && plan->tensor_dictionary.size() == 1);
      const std::vector<uint8_t>& d = plan->dictionaries[plan->tensor_dictionary[0]];
      auto t = codec->LoadDictionary(d.data(), d.size());
      FUZZ_ASSERT(t.ok());
      tables = codebook ? tqf::CombineVqTables(*t, codebook) : *t;
      // Differential: the training bytes (for VQ: the codes their indices
      // expand to) round-trip through these tables.
      std::vector<uint8_t> plain = dict;
      if (codebook) {
        plain.clear();
        for (uint8_t idx : dict) {
          plain.insert(plain.end(), vectors.begin() + size_t{idx} * dim,
                       vectors.begin() + (size_t{idx} + 1) * dim);
        }
      }
      std::vector<uint8_t> enc, dec(plain.size());
      FUZZ_ASSERT(codec->Encode(tables.get(), plain.data(), plain.size(), &enc).ok());
      FUZZ_ASSERT(codec->Decode(tables.get(), enc.data(), enc.size(), dec.data(), dec.size()).ok());
      FUZZ_ASSERT(dec == plain);
    }
  }
  // Exact-size copies so that AddressSanitizer sees any overrun.
  std::vector<uint8_t> stream = in.Take(in.left());
  std::vector<uint8_t> out(out_size);
  tqf::Status s = codec->Decode(tables.get(), stream.data(), stream.size(), out.data(), out.size());
  FUZZ_ASSERT(s.ok() || s.IsCorruption());
  // DecodeMany (rans-alias: two blocks interleaved) gives each job exactly
  // Decode's status and bytes: the stream as two jobs of the same size.
  std::vector<uint8_t> out0(out_size), out1(out_size);
  tqf::DecodeJob jobs[2];
  for (int i = 0; i < 2; ++i) {
    jobs[i].tables = tables.get();
    jobs[i].in = stream.data();
    jobs[i].in_size = stream.size();
    jobs[i].out = i ? out1.data() : out0.data();
    jobs[i].out_size = out_size;
  }
  codec->DecodeMany(jobs, 2);
  FUZZ_ASSERT(jobs[0].status.code() == s.code() && jobs[1].status.code() == s.code());
  FUZZ_ASSERT(out0 == out && out1 == out);
  return 0;
}
