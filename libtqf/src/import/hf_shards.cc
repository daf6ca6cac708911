// Hugging Face model directories and sharded safetensors checkpoints
// (model.safetensors.index.json + model-0000X-of-0000N.safetensors): every
// shard is memory-mapped, never read into memory, and the shards' tensors
// become one SourceModel whose keep_alive holds every mapping.
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "import/hf_llama.h"
#include "import/import_internal.h"
#include "tqf/import.h"
#include "tqf/internal/json.h"
#include "tqf/mapped_file.h"

namespace tqf {
namespace {

constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr char kSingleName[] = "model.safetensors";

// A shard name must stay inside the checkpoint's directory: relative, no
// ".." component, no NUL or backslash.
Status CheckShardName(const std::string& shard, const std::string& tensor,
                      const std::string& where) {
  const std::string what = where + ": weight_map['" + tensor + "'] = '" + shard + "'";
  if (shard.empty()) return Status::Corruption(what + ": empty shard file name");
  if (shard[0] == '/') return Status::Corruption(what + ": absolute path (must be a file name)");
  if (shard.find('\0') != std::string::npos || shard.find('\\') != std::string::npos) {
    return Status::Corruption(what + ": shard name has a NUL or backslash");
  }
  size_t start = 0;
  while (start <= shard.size()) {
    size_t slash = shard.find('/', start);
    if (slash == std::string::npos) slash = shard.size();
    if (shard.compare(start, slash - start, "..") == 0 && slash - start == 2) {
      return Status::Corruption(what + ": path escapes the checkpoint directory");
    }
    start = slash + 1;
  }
  return Status::OK();
}

// weight_map: tensor name -> shard file name, checked.
Result<std::map<std::string, std::string>> ReadWeightMap(const std::string& index_path) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(index_path));
  Result<json::Value> doc =
      json::Parse(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()));
  if (!doc.ok()) return doc.status().WithContext(index_path);
  const json::Value* map = doc->is_object() ? doc->Find("weight_map") : nullptr;
  if (!map || !map->is_object()) {
    return Status::Corruption(index_path + ": no \"weight_map\" object");
  }
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < map->size(); ++i) {
    const std::string& tensor = map->keys()[i];
    const json::Value& shard = map->items()[i];
    if (!shard.is_string()) {
      return Status::Corruption(index_path + ": weight_map['" + tensor + "'] is a " +
                                json::TypeName(shard.type()) + ", expected a file name");
    }
    TQF_RETURN_IF_ERROR(CheckShardName(shard.as_string(), tensor, index_path));
    if (!out.emplace(tensor, shard.as_string()).second) {
      return Status::Corruption(index_path + ": weight_map lists tensor '" + tensor + "' twice");
    }
  }
  if (out.empty()) return Status::Corruption(index_path + ": weight_map is empty");
  return out;
}

// Maps and parses one shard; `first_tensor` names a tensor the index puts
// in it, for the message when the shard is missing.
Result<SourceModel> OpenShard(const std::string& dir, const std::string& shard,
                              const std::string& first_tensor, const std::string& index_path) {
  const std::string path = dir + shard;
  Result<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) {
    return file.status().WithContext(index_path + ": shard '" + shard + "' (holding tensor '" +
                                     first_tensor + "')");
  }
  Result<SourceModel> r = ParseSafetensors((*file)->data(), (*file)->size());
  if (!r.ok()) return r.status().WithContext(path);
  SourceModel m = std::move(r).value();
  import_internal::AddKeepAlive(&m, std::move(file).value());
  return m;
}

// Checks every tensor of `shard_model` against the weight map and moves it
// into *out. `owner` records which shard each tensor came from.
Status TakeShardTensors(const std::string& shard, SourceModel* shard_model,
                        const std::map<std::string, std::string>& weight_map,
                        const std::string& index_path, std::map<std::string, std::string>* owner,
                        SourceModel* out) {
  for (SourceTensor& t : shard_model->tensors) {
    auto [it, fresh] = owner->emplace(t.name, shard);
    if (!fresh) {
      return Status::Corruption(index_path + ": tensor '" + t.name + "' is in both shard '" +
                                it->second + "' and shard '" + shard + "'");
    }
    auto listed = weight_map.find(t.name);
    if (listed == weight_map.end()) {
      return Status::Corruption(index_path + ": tensor '" + t.name + "' of shard '" + shard +
                                "' is not listed in weight_map");
    }
    if (listed->second != shard) {
      return Status::Corruption(index_path + ": tensor '" + t.name + "' is in shard '" + shard +
                                "' but weight_map puts it in '" + listed->second + "'");
    }
    out->tensors.push_back(std::move(t));
  }
  import_internal::AddKeepAlive(out, std::move(shard_model->keep_alive));
  return Status::OK();
}

Result<SourceModel> MergeShards(const std::string& index_path,
                                const std::map<std::string, std::string>& weight_map) {
  const std::string dir = import_internal::DirName(index_path);
  std::map<std::string, std::string> shards;  // shard -> first tensor, sorted by name
  for (const auto& [tensor, shard] : weight_map) shards.emplace(shard, tensor);
  for (const auto& [shard, tensor] : shards) {  // name a missing shard before any mismatch
    if (!import_internal::FileExists(dir + shard)) {
      return Status::NotFound(index_path + ": shard '" + shard + "' (holding tensor '" + tensor +
                              "') is missing: no file " + dir + shard);
    }
  }
  SourceModel m;
  std::map<std::string, std::string> owner;
  bool first = true;
  for (const auto& [shard, tensor] : shards) {
    TQF_ASSIGN_OR_RETURN(SourceModel part, OpenShard(dir, shard, tensor, index_path));
    if (first) {
      m.info = std::move(part.info);  // hparams.architecture and __metadata__
      first = false;
    }
    m.file_bytes += part.file_bytes;
    TQF_RETURN_IF_ERROR(TakeShardTensors(shard, &part, weight_map, index_path, &owner, &m));
  }
  for (const auto& [tensor, shard] : weight_map) {
    if (owner.count(tensor) == 0) {
      return Status::Corruption(index_path + ": tensor '" + tensor +
                                "' is listed in weight_map but shard '" + shard +
                                "' does not contain it");
    }
  }
  m.info.metadata.emplace_back("source.shards", std::to_string(shards.size()));
  return m;
}

}  // namespace

namespace hf {

Result<SourceModel> ImportSafetensorsIndex(const std::string& index_path) {
  try {
    const std::string dir = import_internal::DirName(index_path);
    TQF_RETURN_IF_ERROR(RequireSidecars(dir));
    TQF_ASSIGN_OR_RETURN(auto weight_map, ReadWeightMap(index_path));
    TQF_ASSIGN_OR_RETURN(SourceModel m, MergeShards(index_path, weight_map));
    m.format = "safetensors";
    m.path = index_path;
    TQF_RETURN_IF_ERROR(ApplySidecars(dir, &m));
    return m;
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(index_path + ": out of memory reading the index");
  }
}

Result<SourceModel> ImportDirectory(const std::string& dir_path) {
  std::string dir = dir_path;
  if (dir.empty() || dir.back() != '/') dir.push_back('/');
  if (import_internal::FileExists(dir + kIndexName))
    return ImportSafetensorsIndex(dir + kIndexName);
  if (import_internal::FileExists(dir + kSingleName)) {
    // Same checks as a sharded directory: config.json and tokenizer.json
    // must be there (a lone .safetensors file may go without them).
    TQF_RETURN_IF_ERROR(RequireSidecars(dir));
    return ImportSafetensors(dir + kSingleName);
  }
  return Status::NotFound(dir_path + ": not a Hugging Face model directory (no " + kIndexName +
                          " or " + kSingleName + ")");
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace hf
}  // namespace tqf
