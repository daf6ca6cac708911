// PackModel: SourceModel -> quantize -> dictionaries -> encode -> .tqf.
#include "tqf/pack.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "writer/pack_internal.h"

namespace tqf {

InputStatistics::~InputStatistics() = default;
Status InputStatistics::Quantized(const std::string&, const std::vector<float>&) {
  return Status::OK();
}

namespace {

using pack_internal::Plan;

// Everything PackModel decides before writing.
struct Prepared {
  std::vector<Plan> plans;
  std::vector<VqCodebook> codebooks;
  DictionaryPlan byte_dicts, vq_dicts;
  std::vector<std::optional<QuantizedTensor>> held;  // low-bit tensors, quantized once
};

Result<QuantizedTensor> QuantizeTensor(const SourceTensor& t, const Plan& plan,
                                       const std::vector<VqCodebook>& codebooks,
                                       const PackOptions& o) {
  TQF_ASSIGN_OR_RETURN(std::vector<float> values,
                       pack_internal::SourceValues(t, o.allow_nonfinite));
  QuantizeInput in;
  in.damping = o.damping;
  in.act_order = o.act_order;
  std::vector<float> hessian;
  if (plan.spec.low_bit() && o.statistics != nullptr) {
    TQF_ASSIGN_OR_RETURN(hessian, o.statistics->SecondMoment(t.name, t.cols()));
    if (!hessian.empty() && hessian.size() != t.cols() * t.cols()) {
      return Status::InvalidArgument("tensor '" + t.name + "': calibration statistics of " +
                                     std::to_string(hessian.size()) + " values for " +
                                     std::to_string(t.cols()) + " columns");
    }
    if (!hessian.empty()) in.hessian = hessian.data();
  }
  if (plan.codebook >= 0) in.codebook = &codebooks[plan.codebook];
  auto q = QuantizeWithSpec(plan.spec, values.data(), t.rows(), t.cols(), t.shape.size(), t.dtype,
                            t.data, in);
  if (!q.ok()) return q.status().WithContext("tensor '" + t.name + "'");
  return q;
}

// InputStatistics::Quantized with the tensor's dequantized values.
Status TellStatistics(const SourceTensor& t, const QuantizedTensor& q, InputStatistics* stats) {
  std::vector<float> values(t.num_elements());
  TQF_RETURN_IF_ERROR(Dequantize(q.dtype, q.quant, q.quant_block, q.data.data(), t.rows(), t.cols(),
                                 q.params.data(), q.params.size(), values.data()));
  return stats->Quantized(t.name, values);
}

Status CheckCancelled(const PackOptions& options) {
  if (options.cancel == nullptr || !options.cancel->load()) return Status::OK();
  return Status::Cancelled("pack cancelled");
}

// What PackOptions::refine may not change of a tensor. Params may change
// in value (to finite values, on the log8 grid when stored so), not in
// number: what they cost stays. An f32 tensor's values may change (to
// finite values; what the source held, --allow-nonfinite's, may stay).
struct Fixed {
  DType dtype;
  QuantKind quant;
  uint32_t quant_block;
  ParamsFormat params_format;
  float log8_base;
  size_t data_size, indices_size;
  std::vector<float> params;
  std::vector<uint8_t> f32_data;  // kF32 tensors' values before the hook
  explicit Fixed(const QuantizedTensor& q)
      : dtype(q.dtype), quant(q.quant), quant_block(q.quant_block),
        params_format(q.params_format), log8_base(q.log8_base), data_size(q.data.size()),
        indices_size(q.vq_indices.size()), params(q.params) {
    if (dtype == DType::kF32) f32_data = q.data;
  }
  bool Same(const QuantizedTensor& q) const {
    bool ok = q.dtype == dtype && q.quant == quant && q.quant_block == quant_block &&
              q.params_format == params_format && q.log8_base == log8_base &&
              q.data.size() == data_size && q.vq_indices.size() == indices_size &&
              q.params.size() == params.size();
    for (size_t i = 0; ok && i < q.params.size(); ++i) {
      // Bytewise, as f32 values below: a param the hook left alone stays
      // allowed even if it is not finite.
      ok = std::memcmp(&q.params[i], &params[i], sizeof(float)) == 0 ||
           (std::isfinite(q.params[i]) &&
            (params_format != ParamsFormat::kLog8 || Log8Code(log8_base, q.params[i]) >= 0));
    }
    for (size_t i = 0; ok && dtype == DType::kF32 && i < q.data.size(); i += sizeof(float)) {
      float v;
      std::memcpy(&v, &q.data[i], sizeof(v));
      ok = std::isfinite(v) || std::memcmp(&q.data[i], &f32_data[i], sizeof(v)) == 0;
    }
    return ok;
  }
};

// A VQ tensor's codes must be its codebook's vectors at its indices.
bool VqConsistent(const QuantizedTensor& q, const VqCodebook& cb) {
  if (q.vq_indices.size() * cb.dim != q.data.size()) return false;
  for (size_t i = 0; i < q.vq_indices.size(); ++i) {
    if (q.vq_indices[i] >= cb.entries ||
        std::memcmp(&q.data[i * cb.dim], &cb.vectors[size_t{q.vq_indices[i]} * cb.dim], cb.dim)) {
      return false;
    }
  }
  return true;
}

// PackOptions::refine over the held tensors; what it may not change is
// checked.
Status Refine(const SourceModel& model, const PackOptions& o, Prepared* p) {
  std::vector<RefinableTensor> tensors;
  std::vector<size_t> index;
  std::vector<Fixed> fixed;
  for (size_t i = 0; i < p->held.size(); ++i) {
    if (!p->held[i]) continue;
    RefinableTensor r;
    r.source = &model.tensors[i];
    r.quantized = &*p->held[i];
    if (p->plans[i].codebook >= 0) r.codebook = &p->codebooks[p->plans[i].codebook];
    tensors.push_back(r);
    index.push_back(i);
    fixed.emplace_back(*r.quantized);
  }
  std::vector<std::pair<uint32_t, uint32_t>> book_shapes;
  for (const VqCodebook& b : p->codebooks) book_shapes.emplace_back(b.dim, b.entries);
  TQF_RETURN_IF_ERROR(o.refine(model, &tensors));
  for (size_t b = 0; b < p->codebooks.size(); ++b) {
    const VqCodebook& book = p->codebooks[b];
    const bool in_range =
        std::all_of(book.vectors.begin(), book.vectors.end(), [](int8_t v) { return v >= -127; });
    if (book_shapes[b] != std::pair{book.dim, book.entries} || !in_range ||
        book.vectors.size() != size_t{book.dim} * book.entries) {
      return Status::InvalidArgument("refinement changed the shape or range of codebook " +
                                     std::to_string(b));
    }
  }
  for (size_t k = 0; k < index.size(); ++k) {
    const QuantizedTensor& q = *p->held[index[k]];
    const int book = p->plans[index[k]].codebook;
    if (!fixed[k].Same(q) || (book >= 0 && !VqConsistent(q, p->codebooks[size_t(book)]))) {
      return Status::InvalidArgument("refinement changed more than the values of tensor '" +
                                     model.tensors[index[k]].name + "'");
    }
  }
  return Status::OK();
}

// Whether tensor i is held from pass 1 to pass 2 for PackOptions::refine
// although not low-bit: 1-D tensors stored as f32 (norms' gains).
bool RefinableVector(const SourceTensor& t, const Plan& plan, const PackOptions& o) {
  return o.refine && t.shape.size() < 2 && !plan.spec.low_bit() && t.dtype == DType::kF32;
}

// Pass 1: quantize (holding low-bit results) and gather the dictionaries'
// statistics: the stored bytes for the byte codec, the index bytes for VQ.
Status Analyse(const SourceModel& model, const Codec* byte_codec, const PackOptions& o,
               Prepared* p) {
  const size_t n = model.tensors.size();
  std::unique_ptr<DictionaryBuilder> bytes, vq;
  if (byte_codec->uses_dictionary()) {
    bytes = byte_codec->NewDictionaryBuilder();
    if (!bytes) return Status::InvalidArgument(std::string(byte_codec->name()) + ": no builder");
  }
  const Codec* vq_codec = FindCodec(CodecKind::kRansAliasVq);
  if (!p->codebooks.empty()) vq = vq_codec->NewDictionaryBuilder();
  p->held.resize(n);
  const std::vector<size_t> order =
      o.statistics ? pack_internal::ComputeOrder(model) : pack_internal::FileOrder(model);
  for (size_t done = 0; done < n; ++done) {
    TQF_RETURN_IF_ERROR(CheckCancelled(o));
    const size_t i = order[done];
    const Plan& plan = p->plans[i];
    const bool wanted = (plan.codec == byte_codec && bytes) || plan.codec == vq_codec;
    const bool vector = RefinableVector(model.tensors[i], plan, o);
    if (wanted || plan.spec.low_bit() || vector) {
      TQF_ASSIGN_OR_RETURN(QuantizedTensor q,
                           QuantizeTensor(model.tensors[i], plan, p->codebooks, o));
      if (vector && q.dtype == DType::kF32) {
        p->held[i] = std::move(q);
      } else if (plan.spec.low_bit()) {
        if (o.statistics) TQF_RETURN_IF_ERROR(TellStatistics(model.tensors[i], q, o.statistics));
        p->held[i] = std::move(q);  // counted below, after any refinement
      } else if (plan.codec == byte_codec && bytes) {
        bytes->Add(i, q.data.data(), q.data.size());
      }
    }
    if (o.progress) o.progress("analyse", done + 1, n);
  }
  if (o.refine) TQF_RETURN_IF_ERROR(Refine(model, o, p));
  for (size_t i = 0; i < n; ++i) {
    if (!p->held[i]) continue;
    const QuantizedTensor& q = *p->held[i];
    if (p->plans[i].codec == vq_codec) {
      vq->Add(i, q.vq_indices.data(), q.vq_indices.size());
    } else if (p->plans[i].codec == byte_codec && bytes) {
      bytes->Add(i, q.data.data(), q.data.size());
    }
  }
  for (auto [builder, plan] : {std::pair{bytes.get(), &p->byte_dicts}, {vq.get(), &p->vq_dicts}}) {
    if (builder) {
      TQF_ASSIGN_OR_RETURN(*plan, builder->Build());
    }
    plan->tensor_dictionary.resize(n, -1);
  }
  return Status::OK();
}

// Pass 2, for one tensor: encode (quantizing again unless held) and account.
Status EncodeTensor(const SourceModel& model, size_t i, int dictionary, int codebook, Prepared* p,
                    const PackOptions& o, Writer* writer, PackReport* report) {
  const SourceTensor& t = model.tensors[i];
  const Plan& plan = p->plans[i];
  QuantizedTensor q;
  if (p->held[i]) {
    q = std::move(*p->held[i]);
    p->held[i].reset();
  } else {
    TQF_ASSIGN_OR_RETURN(q, QuantizeTensor(t, plan, p->codebooks, o));
  }
  TensorSpec spec;
  spec.name = t.name;
  spec.shape = t.shape;
  spec.source_dtype = t.dtype;
  spec.dtype = q.dtype;
  spec.quant = q.quant;
  spec.quant_block = q.quant_block;
  spec.codec = plan.codec->kind();
  spec.dictionary = dictionary;
  spec.params_format = q.params_format;
  spec.log8_base = q.log8_base;
  spec.codebook = codebook;
  if (plan.spec.low_bit()) spec.quantizer = QuantSpecName(plan.spec);
  TQF_ASSIGN_OR_RETURN(TensorWriteStats st, writer->AddTensor(spec, q.data.data(), q.data.size(),
                                                              q.params.data(), q.params.size()));
  PackedTensorReport tr;
  tr.name = t.name;
  tr.elements = t.num_elements();
  tr.source_bytes = t.size;
  tr.raw_bytes = st.raw_bytes;
  tr.stored_bytes = st.stored_bytes;
  tr.params_bytes = q.params.empty() ? 0 : ParamsBytes(q.params_format, q.params.size());
  tr.dtype = q.dtype;
  tr.codec = spec.codec;
  tr.quant = plan.spec;
  tr.matrix = t.shape.size() >= 2;
  tr.codebook = codebook;
  tr.dictionary = dictionary;
  report->elements += tr.elements;
  report->source_tensor_bytes += tr.source_bytes;
  report->raw_bytes += tr.raw_bytes;
  report->stored_bytes += tr.stored_bytes;
  report->params_bytes += tr.params_bytes;
  report->tensors.push_back(std::move(tr));
  return Status::OK();
}

// Dictionaries and codebooks go before the tensors; returns the file index
// of each VQ dictionary (a rans-alias table over the index bytes) and
// codebook.
Status WriteTables(const Codec* byte_codec, const Prepared& p, Writer* writer,
                   std::vector<int>* vq_dict_index, std::vector<int>* book_index,
                   PackReport* report) {
  for (const auto& d : p.byte_dicts.dictionaries) {
    TQF_RETURN_IF_ERROR(writer->AddDictionary(byte_codec->kind(), d).status());
    report->dictionary_bytes += d.size();
  }
  for (const auto& d : p.vq_dicts.dictionaries) {
    TQF_ASSIGN_OR_RETURN(int index, writer->AddDictionary(CodecKind::kRansAlias, d));
    vq_dict_index->push_back(index);
    report->dictionary_bytes += d.size();
  }
  for (const VqCodebook& b : p.codebooks) {
    TQF_ASSIGN_OR_RETURN(int index, writer->AddCodebook(b.dim, b.entries, b.vectors));
    book_index->push_back(index);
    report->codebook_bytes += b.vectors.size();
  }
  return Status::OK();
}

// MeasureWeightBits of the file being written, from what was written
// (dictionaries and codebooks are numbered in the order WriteTables adds
// them).
WeightBits WeightBitsOf(const PackReport& report, const Prepared& p) {
  std::vector<size_t> dict_sizes, book_sizes;
  for (const auto& d : p.byte_dicts.dictionaries) dict_sizes.push_back(d.size());
  for (const auto& d : p.vq_dicts.dictionaries) dict_sizes.push_back(d.size());
  for (const VqCodebook& b : p.codebooks) book_sizes.push_back(b.vectors.size());
  std::vector<bool> dict_used(dict_sizes.size()), book_used(book_sizes.size());
  WeightBits w;
  for (const PackedTensorReport& t : report.tensors) {
    if (!t.matrix) continue;
    w.weights += t.elements;
    w.stream_bytes += t.stored_bytes;
    w.params_bytes += t.params_bytes;
    if (t.dictionary >= 0) dict_used[t.dictionary] = true;
    if (t.codebook >= 0) book_used[t.codebook] = true;
  }
  for (size_t i = 0; i < dict_sizes.size(); ++i) {
    if (dict_used[i]) w.dictionary_bytes += dict_sizes[i];
  }
  for (size_t i = 0; i < book_sizes.size(); ++i) {
    if (book_used[i]) w.codebook_bytes += book_sizes[i];
  }
  return w;
}

}  // namespace

Result<PackReport> PackModel(const SourceModel& model, const std::string& out_path,
                             const PackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Codec* codec = options.codec ? options.codec : DefaultCodec();
  if (codec == nullptr) return Status::InvalidArgument("no codec");
  if (codec->uses_codebook()) {
    return Status::InvalidArgument(std::string(codec->name()) +
                                   " is chosen by the vq quantizers, not as --codec");
  }
  if (model.tensors.empty()) return Status::InvalidArgument(model.path + ": model has no tensors");
  Prepared p;
  p.plans = pack_internal::PlanTensors(model, options, codec);
  TQF_ASSIGN_OR_RETURN(p.codebooks, pack_internal::TrainCodebooks(model, options, &p.plans));
  TQF_RETURN_IF_ERROR(Analyse(model, codec, options, &p));

  TQF_ASSIGN_OR_RETURN(auto writer, Writer::Create(out_path, model.info, options.writer));
  PackReport report;
  report.source_file_bytes = model.file_bytes;
  std::vector<int> vq_dict_index, book_index;
  TQF_RETURN_IF_ERROR(WriteTables(codec, p, writer.get(), &vq_dict_index, &book_index, &report));
  const size_t n = model.tensors.size();
  for (size_t i = 0; i < n; ++i) {
    const Plan& plan = p.plans[i];
    int dictionary = -1, codebook = -1;
    if (plan.codebook >= 0) {
      const int d = p.vq_dicts.tensor_dictionary[i];
      dictionary = d >= 0 ? vq_dict_index[d] : -1;
      codebook = book_index[plan.codebook];
    } else if (plan.codec == codec) {
      dictionary = p.byte_dicts.tensor_dictionary[i];
    }
    TQF_RETURN_IF_ERROR(CheckCancelled(options));
    TQF_RETURN_IF_ERROR(
        EncodeTensor(model, i, dictionary, codebook, &p, options, writer.get(), &report));
    if (options.progress) options.progress("encode", i + 1, n);
  }
  TQF_RETURN_IF_ERROR(CheckCancelled(options));
  TQF_RETURN_IF_ERROR(writer->Finish());
  report.file_bytes = writer->bytes_written();
  report.weight_bits = WeightBitsOf(report, p);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace tqf
