// PackModel: SourceModel -> quantize -> dictionaries -> encode -> .tqf.
#include "tqf/pack.h"

#include <chrono>
#include <string>

namespace tqf {

namespace {

// How one source tensor is stored.
struct Plan {
  QuantScheme scheme;
  const Codec* codec;
};

Plan PlanTensor(const SourceTensor& t, const PackOptions& o, const Codec* codec) {
  // 1-D tensors (norms, biases) are small and precision-critical: kept f32
  // and stored plainly.
  if (t.shape.size() < 2) return {QuantScheme::kRaw, FindCodec(CodecKind::kRaw)};
  return {o.quant, codec};
}

Result<QuantizedTensor> QuantizeSource(const SourceTensor& t, QuantScheme scheme,
                                       bool allow_nonfinite) {
  std::vector<float> values;
  try {
    values.resize(t.num_elements());
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("tensor '" + t.name + "': cannot allocate " +
                                     std::to_string(t.num_elements()) + " floats");
  }
  TQF_RETURN_IF_ERROR(t.ToF32(values.data()).WithContext("tensor '" + t.name + "'"));
  if (!allow_nonfinite) {
    Status finite = CheckFiniteValues(values.data(), t.rows(), t.cols());
    if (!finite.ok()) {
      return Status::InvalidArgument("tensor '" + t.name + "': " + finite.message() +
                                     " (--allow-nonfinite stores them, unquantized only)");
    }
  }
  auto q = Quantize(scheme, values.data(), t.rows(), t.cols(), t.shape.size(), t.dtype, t.data);
  if (!q.ok()) return q.status().WithContext("tensor '" + t.name + "'");
  return q;
}

Status CheckCancelled(const PackOptions& options) {
  if (options.cancel == nullptr || !options.cancel->load()) return Status::OK();
  return Status::Cancelled("pack cancelled");
}

// Pass 1: dictionaries, from the stored bytes of every tensor that uses them.
Result<DictionaryPlan> PlanDictionaries(const SourceModel& model, const std::vector<Plan>& plans,
                                        const Codec* codec, const PackOptions& options) {
  const size_t n = model.tensors.size();
  DictionaryPlan dict_plan;
  dict_plan.tensor_dictionary.assign(n, -1);
  if (!codec->uses_dictionary()) return dict_plan;
  auto builder = codec->NewDictionaryBuilder();
  if (!builder)
    return Status::InvalidArgument(std::string(codec->name()) + ": no dictionary builder");
  for (size_t i = 0; i < n; ++i) {
    TQF_RETURN_IF_ERROR(CheckCancelled(options));
    if (plans[i].codec == codec) {
      TQF_ASSIGN_OR_RETURN(QuantizedTensor q, QuantizeSource(model.tensors[i], plans[i].scheme,
                                                             options.allow_nonfinite));
      builder->Add(i, q.data.data(), q.data.size());
    }
    if (options.progress) options.progress("analyse", i + 1, n);
  }
  TQF_ASSIGN_OR_RETURN(dict_plan, builder->Build());
  dict_plan.tensor_dictionary.resize(n, -1);
  return dict_plan;
}

// Pass 2, for one tensor: quantize again, encode, and account for it.
Status EncodeTensor(const SourceTensor& t, const Plan& plan, int dictionary, bool allow_nonfinite,
                    Writer* writer, PackReport* report) {
  TQF_ASSIGN_OR_RETURN(QuantizedTensor q, QuantizeSource(t, plan.scheme, allow_nonfinite));
  TensorSpec spec;
  spec.name = t.name;
  spec.shape = t.shape;
  spec.source_dtype = t.dtype;
  spec.dtype = q.dtype;
  spec.quant = q.quant;
  spec.quant_block = q.quant_block;
  spec.codec = plan.codec->kind();
  spec.dictionary = dictionary;
  TQF_ASSIGN_OR_RETURN(TensorWriteStats st, writer->AddTensor(spec, q.data.data(), q.data.size(),
                                                              q.params.data(), q.params.size()));
  PackedTensorReport tr;
  tr.name = t.name;
  tr.elements = t.num_elements();
  tr.source_bytes = t.size;
  tr.raw_bytes = st.raw_bytes;
  tr.stored_bytes = st.stored_bytes;
  tr.dtype = q.dtype;
  tr.codec = spec.codec;
  report->elements += tr.elements;
  report->source_tensor_bytes += tr.source_bytes;
  report->raw_bytes += tr.raw_bytes;
  report->stored_bytes += tr.stored_bytes;
  report->tensors.push_back(std::move(tr));
  return Status::OK();
}

}  // namespace

Result<PackReport> PackModel(const SourceModel& model, const std::string& out_path,
                             const PackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Codec* codec = options.codec ? options.codec : DefaultCodec();
  if (codec == nullptr) return Status::InvalidArgument("no codec");
  if (model.tensors.empty()) return Status::InvalidArgument(model.path + ": model has no tensors");
  const size_t n = model.tensors.size();
  std::vector<Plan> plans;
  for (const SourceTensor& t : model.tensors) plans.push_back(PlanTensor(t, options, codec));
  TQF_ASSIGN_OR_RETURN(const DictionaryPlan dict_plan,
                       PlanDictionaries(model, plans, codec, options));

  TQF_ASSIGN_OR_RETURN(auto writer, Writer::Create(out_path, model.info, options.writer));
  PackReport report;
  report.source_file_bytes = model.file_bytes;
  for (const auto& d : dict_plan.dictionaries) {
    TQF_RETURN_IF_ERROR(writer->AddDictionary(codec->kind(), d).status());
    report.dictionary_bytes += d.size();
  }
  for (size_t i = 0; i < n; ++i) {
    TQF_RETURN_IF_ERROR(CheckCancelled(options));
    const int dictionary = plans[i].codec == codec ? dict_plan.tensor_dictionary[i] : -1;
    TQF_RETURN_IF_ERROR(EncodeTensor(model.tensors[i], plans[i], dictionary,
                                     options.allow_nonfinite, writer.get(), &report));
    if (options.progress) options.progress("encode", i + 1, n);
  }
  TQF_RETURN_IF_ERROR(CheckCancelled(options));
  TQF_RETURN_IF_ERROR(writer->Finish());
  report.file_bytes = writer->bytes_written();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace tqf
