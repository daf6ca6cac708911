// Helpers for the runtime tests: stories260K packed in a given way, once
// per test process, into a scratch directory.
#ifndef TQF_TESTS_RUNTIME_TEST_UTIL_H_
#define TQF_TESTS_RUNTIME_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "test_util.h"
#include "tqf/codec.h"
#include "tqf/import.h"
#include "tqf/pack.h"

namespace tqf::rt {

// Path of ../shared/models/stories260K imported from `source` ("gguf" or
// "llama2c") and packed with `quant` ("raw", "channel", ...) and `codec`
// ("raw", "dict4", ...); "" (after an ADD_FAILURE) if that fails.
inline std::string PackedStories(const std::string& source, const std::string& quant,
                                 const std::string& codec) {
  static std::map<std::string, std::string>* cache = new std::map<std::string, std::string>();
  static const std::string dir = tqf::testing::TempDir();
  const std::string key = source + "-" + quant + "-" + codec;
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  const std::string src =
      tqf::testing::SharedPath(source == "gguf" ? "models/stories260K/stories260K.gguf"
                                                : "models/stories260K/stories260K.bin");
  Result<SourceModel> model = ImportModel(src);
  if (!model.ok()) {
    ADD_FAILURE() << src << ": " << model.status().ToString();
    return "";
  }
  Result<QuantScheme> scheme = ParseQuantScheme(quant);
  const Codec* c = FindCodecByName(codec);
  if (!scheme.ok() || c == nullptr) {
    ADD_FAILURE() << "unknown quantizer '" << quant << "' or codec '" << codec << "'";
    return "";
  }
  PackOptions po;
  po.quant = *scheme;
  po.codec = c;
  po.writer.block_size = 4096;  // several blocks per tensor even at this size
  const std::string path = dir + "/stories-" + key + ".tqf";
  Result<PackReport> r = PackModel(*model, path, po);
  if (!r.ok()) {
    ADD_FAILURE() << "pack " << key << ": " << r.status().ToString();
    return "";
  }
  (*cache)[key] = path;
  return path;
}

}  // namespace tqf::rt

#endif  // TQF_TESTS_RUNTIME_TEST_UTIL_H_
