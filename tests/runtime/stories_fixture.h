// stories260K as the runtime tests that pack and calibrate use it: the
// source, the same packed unquantized for the runtime, a model on it
// (context 256) and its tokenizer. Loaded once per test program.
#ifndef TQF_TESTS_RUNTIME_STORIES_FIXTURE_H_
#define TQF_TESTS_RUNTIME_STORIES_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>

#include "test_util.h"
#include "tqf/import.h"
#include "tqf/rt/calibrate.h"
#include "tqf/rt/model.h"
#include "tqf/rt/tokenizer.h"

namespace tqf::rt {

struct StoriesFixture {
  SourceModel source;
  std::shared_ptr<const Reader> reader;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

inline StoriesFixture& Stories() {
  static StoriesFixture* f = [] {
    auto* f = new StoriesFixture;
    auto src = ImportModel(tqf::testing::SharedPath("models/stories260K/stories260K.gguf"));
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    f->source = *src;
    auto reader = PackSourceForRuntime(f->source);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    f->reader = *reader;
    ModelOptions mo;
    mo.ctx_size = 256;
    auto model = Model::Create(f->reader, mo);
    EXPECT_TRUE(model.ok());
    f->model = std::move(model).value();
    f->tokenizer = std::move(Tokenizer::Create(f->reader->model().tokenizer)).value();
    return f;
  }();
  return *f;
}

}  // namespace tqf::rt

#endif  // TQF_TESTS_RUNTIME_STORIES_FIXTURE_H_
