// Loading and timing for `tqf compare`. Every codec sees the same bytes;
// tqf codecs are timed over 64 KiB blocks (as stored in a .tqf), zstd over
// one frame per tensor (its best case); decode runs are best of N.
#include "compare_measure.h"

#include <omp.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "tqf/import.h"
#include "tqf/reader.h"

namespace tqf::tools {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

using Outputs = std::vector<std::vector<uint8_t>>;

Outputs MakeOutputs(const CompareInput& in) {
  Outputs out(in.tensors.size());
  for (size_t i = 0; i < out.size(); ++i) out[i].resize(in.tensors[i].size());
  return out;
}

// A codec's encoded copy of the input, ready to be decoded repeatedly.
struct Prepared {
  CompareRow row;
  // Decodes everything into `out` (shaped like the input); true if every
  // block decoded.
  std::function<bool(int threads, Outputs* out)> decode;
  std::vector<std::shared_ptr<const CodecTables>> keep;  // tables the blocks point into
};

struct Block {
  const CodecTables* tables;
  std::vector<uint8_t> enc;
  size_t tensor, offset, size;
};

Result<Prepared> PrepareTqfCodec(const Codec* codec, const CompareInput& in,
                                 const CompareOptions& o) {
  CompareRow row;
  row.codec = codec->kind() == CodecKind::kRaw ? "raw int8" : codec->name();
  row.has_speed = true;
  std::vector<std::shared_ptr<const CodecTables>> tables;
  std::vector<int> dict(in.tensors.size(), -1);
  if (codec->uses_dictionary()) {
    auto builder = codec->NewDictionaryBuilder();
#pragma omp parallel for schedule(dynamic) num_threads(o.threads)
    for (long i = 0; i < static_cast<long>(in.tensors.size()); ++i) {
      builder->Add(i, in.tensors[i].data(), in.tensors[i].size());
    }
    TQF_ASSIGN_OR_RETURN(DictionaryPlan plan, builder->Build());
    for (const auto& d : plan.dictionaries) {
      TQF_ASSIGN_OR_RETURN(auto t, codec->LoadDictionary(d.data(), d.size()));
      tables.push_back(t);
      row.stored += d.size();
    }
    for (size_t i = 0; i < dict.size() && i < plan.tensor_dictionary.size(); ++i) {
      dict[i] = plan.tensor_dictionary[i];
    }
  }
  std::vector<Block> blocks;
  for (size_t i = 0; i < in.tensors.size(); ++i) {
    for (size_t off = 0; off < in.tensors[i].size(); off += o.block_size) {
      blocks.push_back({dict[i] >= 0 ? tables[dict[i]].get() : nullptr,
                        {},
                        i,
                        off,
                        std::min<size_t>(o.block_size, in.tensors[i].size() - off)});
    }
  }
  const long n = static_cast<long>(blocks.size());
  int failed = 0;
#pragma omp parallel for schedule(dynamic) num_threads(o.threads) reduction(+ : failed)
  for (long b = 0; b < n; ++b) {
    Block& k = blocks[b];
    failed += !codec->Encode(k.tables, in.tensors[k.tensor].data() + k.offset, k.size, &k.enc).ok();
  }
  if (failed) return Status::InvalidArgument(std::string(codec->name()) + ": encoding failed");
  for (const Block& b : blocks) row.stored += b.enc.size();

  // Shared state outlives this function inside the decode closures.
  auto state = std::make_shared<std::vector<Block>>(std::move(blocks));
  Prepared prep;
  prep.row = row;
  prep.decode = [codec, state](int threads, Outputs* outs) {
    const std::vector<Block>& bl = *state;
    Outputs& out = *outs;
    int bad = 0;
    // Pairs of consecutive blocks, across tensor boundaries, go through
    // DecodeMany, as Reader::DecodeBlocks does for the runtime's list of a
    // layer's blocks (rans-alias interleaves a pair).
    const long nr = static_cast<long>((bl.size() + 1) / 2);
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : bad)
    for (long r = 0; r < nr; ++r) {
      const size_t first = 2 * static_cast<size_t>(r);
      const size_t count = std::min<size_t>(2, bl.size() - first);
      DecodeJob jobs[2];
      for (size_t i = 0; i < count; ++i) {
        const Block& k = bl[first + i];
        jobs[i].tables = k.tables;
        jobs[i].in = k.enc.data();
        jobs[i].in_size = k.enc.size();
        jobs[i].out = out[k.tensor].data() + k.offset;
        jobs[i].out_size = k.size;
      }
      codec->DecodeMany(jobs, count);
      for (size_t i = 0; i < count; ++i) bad += !jobs[i].status.ok();
    }
    return bad == 0;
  };
  prep.keep = tables;
  return prep;
}

Result<Prepared> PrepareZstd(int level, const CompareInput& in, const CompareOptions& o) {
  CompareRow row;
  const bool ultra = level >= 20;
  row.codec = "zstd-" + std::to_string(level) + (ultra ? " --ultra --long" : "");
  row.has_speed = true;
  const long n = static_cast<long>(in.tensors.size());
  std::vector<std::vector<uint8_t>> frames(n);
  int failed = 0;
#pragma omp parallel for schedule(dynamic) num_threads(o.threads) reduction(+ : failed)
  for (long i = 0; i < n; ++i) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    if (ultra) ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1);
    frames[i].resize(ZSTD_compressBound(in.tensors[i].size()));
    size_t r = ZSTD_compress2(c, frames[i].data(), frames[i].size(), in.tensors[i].data(),
                              in.tensors[i].size());
    failed += ZSTD_isError(r) ? 1 : 0;
    frames[i].resize(ZSTD_isError(r) ? 0 : r);
    ZSTD_freeCCtx(c);
  }
  if (failed) return Status::InvalidArgument(row.codec + ": compression failed");
  for (const auto& f : frames) row.stored += f.size();
  auto state = std::make_shared<Outputs>(std::move(frames));
  Prepared prep;
  prep.row = row;
  prep.decode = [state, n](int threads, Outputs* outs) {
    const Outputs& fr = *state;
    Outputs& out = *outs;
    int bad = 0;
#pragma omp parallel num_threads(threads) reduction(+ : bad)
    {
      ZSTD_DCtx* d = ZSTD_createDCtx();
#pragma omp for schedule(dynamic)
      for (long i = 0; i < n; ++i) {
        size_t r = ZSTD_decompressDCtx(d, out[i].data(), out[i].size(), fr[i].data(), fr[i].size());
        bad += ZSTD_isError(r) || r != out[i].size();
      }
      ZSTD_freeDCtx(d);
    }
    return bad == 0;
  };
  return prep;
}

}  // namespace

namespace {

// One codebook for every tensor of `todo` (a sample of at most 2^18 of
// their vectors), as `tqf pack` would train it for small models.
Result<VqCodebook> TrainCompareCodebook(const std::vector<const SourceTensor*>& todo,
                                        const QuantSpec& spec) {
  uint64_t vectors = 0;
  for (const SourceTensor* t : todo) {
    if (t->cols() % spec.vq_dim != 0) {
      return Status::InvalidArgument("tensor '" + t->name + "': rows of " +
                                     std::to_string(t->cols()) + " are not whole " +
                                     std::to_string(spec.vq_dim) + "-element vectors");
    }
    vectors += t->num_elements() / spec.vq_dim;
  }
  const size_t stride = std::max<uint64_t>(1, vectors >> 18);
  std::vector<float> x, w;
  for (const SourceTensor* t : todo) {
    std::vector<float> f(t->num_elements());
    TQF_RETURN_IF_ERROR(t->ToF32(f.data()));
    VqTrainingVectors(spec, f.data(), t->rows(), t->cols(), nullptr, stride, &x, &w);
  }
  return TrainVqCodebook(x.data(), w.data(), w.size(), spec.vq_dim, spec.vq_entries, 30, 1);
}

}  // namespace

Result<CompareInput> LoadCompareInput(const std::string& path, const QuantSpec& spec, int threads) {
  CompareInput in;
  if (EndsWith(path, ".tqf")) {
    TQF_ASSIGN_OR_RETURN(auto reader, Reader::Open(path));
    in.description = "stored bytes of the .tqf";
    for (size_t i = 0; i < reader->tensors().size(); ++i) {
      const TensorInfo& t = reader->tensors()[i];
      if (t.shape.size() < 2) continue;
      std::vector<uint8_t> bytes(t.raw_size);
      TQF_RETURN_IF_ERROR(reader->DecodeTensor(i, bytes.data(), bytes.size(), threads));
      in.names.push_back(t.name);
      in.bytes += bytes.size();
      in.elements += t.num_elements();
      in.tensors.push_back(std::move(bytes));
    }
    return in;
  }
  TQF_ASSIGN_OR_RETURN(SourceModel model, ImportModel(path));
  const bool vq = spec.scheme == QuantScheme::kVq;
  in.description = model.format + ", quantized " + QuantSpecName(spec) +
                   (vq ? " (index bytes, one codebook)" : "");
  std::vector<const SourceTensor*> todo;
  for (const SourceTensor& t : model.tensors) {
    if (t.shape.size() >= 2) todo.push_back(&t);
  }
  QuantizeInput qin;
  VqCodebook codebook;
  if (vq) {
    TQF_ASSIGN_OR_RETURN(codebook, TrainCompareCodebook(todo, spec));
    qin.codebook = &codebook;
  }
  in.tensors.resize(todo.size());
  std::vector<Status> status(todo.size());
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (long i = 0; i < static_cast<long>(todo.size()); ++i) {
    const SourceTensor& t = *todo[i];
    std::vector<float> f(t.num_elements());
    status[i] = t.ToF32(f.data());
    if (!status[i].ok()) continue;
    auto q =
        QuantizeWithSpec(spec, f.data(), t.rows(), t.cols(), t.shape.size(), t.dtype, t.data, qin);
    if (!q.ok()) {
      status[i] = q.status();
      continue;
    }
    in.tensors[i] = vq ? std::move(q->vq_indices) : std::move(q->data);
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    if (!status[i].ok()) return status[i].WithContext("tensor '" + todo[i]->name + "'");
    in.names.push_back(todo[i]->name);
    in.bytes += in.tensors[i].size();
    in.elements += todo[i]->num_elements();
  }
  if (in.tensors.empty()) return Status::InvalidArgument(path + ": no 2-D tensors to compare");
  return in;
}

uint64_t EntropyBound(const CompareInput& in) {
  double bits = 0;
  for (const auto& t : in.tensors) {
    uint64_t c[256] = {0};
    for (uint8_t b : t) ++c[b];
    for (uint64_t x : c) {
      if (x) bits -= static_cast<double>(x) * std::log2(static_cast<double>(x) / t.size());
    }
  }
  return static_cast<uint64_t>(std::ceil(bits / 8));
}

Result<std::vector<CompareRow>> MeasureCodecs(const CompareInput& in, const CompareOptions& o) {
  std::vector<Prepared> preps;
  for (const Codec* codec : ByteCodecs()) {
    if (o.progress) o.progress(std::string("encode ") + codec->name());
    TQF_ASSIGN_OR_RETURN(Prepared p, PrepareTqfCodec(codec, in, o));
    preps.push_back(std::move(p));
  }
  for (int level : o.zstd_levels) {
    if (o.progress) o.progress("compress zstd-" + std::to_string(level));
    TQF_ASSIGN_OR_RETURN(Prepared p, PrepareZstd(level, in, o));
    preps.push_back(std::move(p));
  }
  // Round robin, so that every codec's best run comes from the same spells
  // of a (possibly busy) machine. One output buffer serves every codec.
  Outputs out = MakeOutputs(in);
  std::vector<double> best1(preps.size(), 1e300), bestn(preps.size(), 1e300);
  for (int r = 0; r < o.runs; ++r) {
    if (o.progress) o.progress("decode run " + std::to_string(r + 1));
    for (size_t i = 0; i < preps.size(); ++i) {
      if (r == 0) {  // no stale bytes from the previous codec can pass the check
        for (auto& t : out) std::fill(t.begin(), t.end(), uint8_t{0xA5});
      }
      for (int threads : {1, o.threads}) {
        auto t0 = std::chrono::steady_clock::now();
        bool ok = preps[i].decode(threads, &out);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!ok) return Status::Corruption(preps[i].row.codec + ": decoding failed");
        double& best = threads == 1 ? best1[i] : bestn[i];
        best = std::min(best, secs);
      }
      if (r == 0 && out != in.tensors) {
        return Status::Corruption(preps[i].row.codec + ": decoded bytes differ from the input");
      }
    }
  }
  std::vector<CompareRow> rows;
  for (size_t i = 0; i < preps.size(); ++i) {
    CompareRow row = preps[i].row;
    row.gbps_1 = in.bytes / best1[i] / 1e9;
    row.gbps_n = in.bytes / bestn[i] / 1e9;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace tqf::tools
