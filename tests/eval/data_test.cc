// Tests of the evaluation data loaders: the shared ARC / HellaSwag / MMLU
// files parse as they are, and hand-made malformed files give kCorruption
// naming file:line.
#include "tqf/eval/data.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "test_util.h"

namespace tqf::eval {
namespace {

std::string WriteTemp(const std::string& name, const std::string& content) {
  static const std::string dir = tqf::testing::TempDir();
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return path;
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
  return path;
}

// Expects kCorruption whose message names `where` (e.g. "bad.jsonl:2").
template <typename T>
void ExpectCorruptionAt(const Result<T>& r, const std::string& where) {
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(where), std::string::npos) << r.status().ToString();
}

TEST(EvalData, SharedArcEasyValidation) {
  Result<std::vector<McQuestion>> qs =
      LoadArc(tqf::testing::SharedPath("eval/arc/ARC-Easy-validation.jsonl"));
  ASSERT_TRUE(qs.ok()) << qs.status().ToString();
  EXPECT_EQ(qs->size(), 570u);
  const McQuestion& q = (*qs)[0];
  EXPECT_EQ(q.prompt, "Question: Which technology was developed most recently?\nAnswer:");
  ASSERT_EQ(q.options.size(), 4u);
  EXPECT_EQ(q.options[0], " cellular telephone");
  EXPECT_EQ(q.gold, 0);
}

TEST(EvalData, SharedArcTestWithNumericLabels) {
  Result<std::vector<McQuestion>> qs =
      LoadArc(tqf::testing::SharedPath("eval/arc/ARC-Easy-test.jsonl"));
  ASSERT_TRUE(qs.ok()) << qs.status().ToString();
  EXPECT_EQ(qs->size(), 2376u);  // includes answerKey "1".."4" questions
  Result<std::vector<McQuestion>> ch =
      LoadArc(tqf::testing::SharedPath("eval/arc/ARC-Challenge-validation.jsonl"));
  ASSERT_TRUE(ch.ok()) << ch.status().ToString();
  EXPECT_EQ(ch->size(), 299u);
}

TEST(EvalData, SharedHellaswag) {
  Result<std::vector<McQuestion>> qs =
      LoadHellaswag(tqf::testing::SharedPath("eval/hellaswag/hellaswag_val.txt"));
  ASSERT_TRUE(qs.ok()) << qs.status().ToString();
  EXPECT_EQ(qs->size(), 10042u);
  const McQuestion& q = (*qs)[0];
  EXPECT_EQ(q.prompt, "Roof shingle removal: A man is sitting on a roof. he");
  EXPECT_EQ(q.gold, 3);
  EXPECT_EQ(q.options[3], " starts pulling up roofing on a roof.");
}

TEST(EvalData, SharedMmlu) {
  Result<std::vector<McQuestion>> qs = LoadMmlu(tqf::testing::SharedPath("eval/mmlu"));
  ASSERT_TRUE(qs.ok()) << qs.status().ToString();
  EXPECT_EQ(qs->size(), 14042u);
  std::set<std::string> subjects;
  for (const McQuestion& q : *qs) subjects.insert(q.id.substr(0, q.id.find('/')));
  EXPECT_EQ(subjects.size(), 57u);
  // Interleaved: the first 57 questions are one per subject.
  std::set<std::string> first;
  for (size_t i = 0; i < 57; ++i) first.insert((*qs)[i].id.substr(0, (*qs)[i].id.find('/')));
  EXPECT_EQ(first.size(), 57u);
  const McQuestion& q = (*qs)[0];  // abstract_algebra, first test question
  EXPECT_EQ(
      q.prompt.rfind(
          "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
          "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\n"
          "Answer: B\n\n",
          0),
      0u);
  EXPECT_EQ(q.prompt.substr(q.prompt.size() - 8), "\nAnswer:");
  ASSERT_EQ(q.options.size(), 4u);
  EXPECT_EQ(q.options[2], " C");
}

TEST(EvalData, TextNewlinesNormalised) {
  EXPECT_EQ(NormalizeNewlines("a\r\nb\rc\n\xEF\xBB\xBF"), "a\nb\nc\n\xEF\xBB\xBF");
  EXPECT_EQ(NormalizeNewlines("\xEF\xBB\xBFx\r\n"), "x\n");
  Result<std::string> t =
      LoadText(tqf::testing::SharedPath("eval/text/tinystories-valid-subset.txt"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->find('\r'), std::string::npos);
  EXPECT_GT(t->size(), 29000u);
}

TEST(EvalData, MissingFilesAreNotFound) {
  EXPECT_TRUE(LoadArc("/nonexistent/arc.jsonl").status().IsNotFound());
  EXPECT_TRUE(LoadMmlu("/nonexistent/mmlu").status().IsNotFound());
}

TEST(EvalData, ArcCrlfAndNumericLabels) {
  const std::string path =
      WriteTemp("ok.jsonl",
                "{\"question\":\"Q1?\",\"choices\":{\"text\":[\"a\",\"b\",\"c\"],\"label\":[\"1\","
                "\"2\",\"3\"]},\"answerKey\":\"3\"}\r\n"
                "\r\n"
                "{\"question\":\"Q2?\",\"choices\":{\"text\":[\"x\",\"y\"],\"label\":[\"A\",\"B\"]}"
                ",\"answerKey\":\"A\"}\r\n");
  Result<std::vector<McQuestion>> qs = LoadArc(path);
  ASSERT_TRUE(qs.ok()) << qs.status().ToString();
  ASSERT_EQ(qs->size(), 2u);
  EXPECT_EQ((*qs)[0].gold, 2);
  EXPECT_EQ((*qs)[0].options.size(), 3u);
  EXPECT_EQ((*qs)[1].prompt, "Question: Q2?\nAnswer:");
}

TEST(EvalData, ArcMalformedLines) {
  const std::string good =
      "{\"question\":\"Q\",\"choices\":{\"text\":[\"a\",\"b\"],\"label\":[\"A\",\"B\"]},"
      "\"answerKey\":\"B\"}\n";
  struct Case {
    const char* name;
    std::string line2;
  } cases[] = {
      {"bad_json", "{\"question\": \"Q\", \n"},
      {"not_object", "[1,2]\n"},
      {"no_question",
       "{\"choices\":{\"text\":[\"a\",\"b\"],\"label\":[\"A\",\"B\"]},\"answerKey\":\"A\"}\n"},
      {"bad_answer",
       "{\"question\":\"Q\",\"choices\":{\"text\":[\"a\",\"b\"],\"label\":[\"A\",\"B\"]},"
       "\"answerKey\":\"E\"}\n"},
      {"count_mismatch",
       "{\"question\":\"Q\",\"choices\":{\"text\":[\"a\"],\"label\":[\"A\",\"B\"]},\"answerKey\":"
       "\"A\"}\n"},
      {"text_not_string",
       "{\"question\":\"Q\",\"choices\":{\"text\":[1,2],\"label\":[\"A\",\"B\"]},\"answerKey\":"
       "\"A\"}\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = std::string("arc_") + c.name + ".jsonl";
    ExpectCorruptionAt(LoadArc(WriteTemp(file, good + c.line2 + good)), file + ":2");
  }
}

TEST(EvalData, HellaswagMalformed) {
  const std::string task = "ctx\n1\ne0\ne1\ne2\ne3\n";
  ExpectCorruptionAt(LoadHellaswag(WriteTemp("hs_gold.txt", task + "ctx\nx\na\nb\nc\nd\n")),
                     "hs_gold.txt:8");
  ExpectCorruptionAt(LoadHellaswag(WriteTemp("hs_range.txt", task + "ctx\n4\na\nb\nc\nd\n")),
                     "hs_range.txt:8");
  ExpectCorruptionAt(LoadHellaswag(WriteTemp("hs_short.txt", task + "ctx\n1\na\n")),
                     "hs_short.txt:7");
  Result<std::vector<McQuestion>> ok =
      LoadHellaswag(WriteTemp("hs_crlf.txt", "c\r\n2\r\na\r\nb\r\nc\r\nd\r\n"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)[0].gold, 2);
  EXPECT_EQ((*ok)[0].options[3], " d");
}

TEST(EvalData, CsvQuotingAndEmbeddedNewlines) {
  Result<std::vector<CsvRecord>> r =
      ParseCsv("a,\"b,c\",\"say \"\"hi\"\"\"\n\"multi\nline\",,x\n\nlast,1", "t.csv");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].fields, (std::vector<std::string>{"a", "b,c", "say \"hi\""}));
  EXPECT_EQ((*r)[1].fields, (std::vector<std::string>{"multi\nline", "", "x"}));
  EXPECT_EQ((*r)[1].line, 2u);
  EXPECT_EQ((*r)[2].line, 5u);
  EXPECT_EQ((*r)[2].fields, (std::vector<std::string>{"last", "1"}));
}

TEST(EvalData, CsvMalformed) {
  ExpectCorruptionAt(ParseCsv("a,b\nc,\"open\nstill open", "u.csv"), "u.csv:2");
  ExpectCorruptionAt(ParseCsv("a,b\n\"q\"x,b\n", "v.csv"), "v.csv:2");
  ExpectCorruptionAt(ParseCsv("a,b\nc,d\"e\n", "w.csv"), "w.csv:2");
}

TEST(EvalData, MmluMalformed) {
  const std::string dir = tqf::testing::TempDir();
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "/dev' '" + dir + "/test'").c_str()), 0);
  auto write = [&](const std::string& rel, const std::string& s) {
    FILE* f = std::fopen((dir + "/" + rel).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(s.data(), 1, s.size(), f);
    std::fclose(f);
  };
  const std::string header = "question,choice0,choice1,choice2,choice3,answer\r\n";
  write("dev/x_dev.csv", header + "\"q,\"\"1\"\"\",a,b,c,d,0\r\n");
  write("test/x_test.csv", header + "q2,a,b,c,d,3\r\n\"q3\nmore\",a,b,c,d\r\n");
  ExpectCorruptionAt(LoadMmlu(dir), "x_test.csv:3");
  write("test/x_test.csv", header + "q2,a,b,c,d,3\r\nq3,a,b,c,d,7\r\n");
  ExpectCorruptionAt(LoadMmlu(dir), "x_test.csv:3");
  write("test/x_test.csv", header + "q2,a,b,c,d,3\r\n");
  Result<std::vector<McQuestion>> ok = LoadMmlu(dir);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].prompt,
            "The following are multiple choice questions (with answers) about x.\n\n"
            "q,\"1\"\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\nq2\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  EXPECT_EQ((*ok)[0].gold, 3);
}

}  // namespace
}  // namespace tqf::eval
