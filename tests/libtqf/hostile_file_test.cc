// Files that change or are not what they seem while tqf uses them (issue 11,
// defects 2, 4, 5 and 8): a seek index rewritten under a running reader, a
// file truncated under its mapping, a FIFO given as a model, a symlink
// planted at the writer's temporary name, and outputs that are not regular
// files. Each must give a clear error (or the right bytes), never a crash, a
// hang or a damaged file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <thread>

#include "format/layout.h"
#include "test_util.h"
#include "tqf/mapped_file.h"
#include "tqf/reader.h"
#include "tqf/signals.h"
#include "tqf_file_builder.h"
#include "util/checksum.h"

namespace tqf {
namespace {

using testing::MakeSmallModel;
using testing::ReadFileBytes;
using testing::WriteSmallModel;

class HostileFile : public ::testing::Test {
 protected:
  void SetUp() override {
    InstallMappedFileFaultHandler();
    dir_ = testing::TempDir();
    path_ = dir_ + "/m.tqf";
  }
  // Writes a small model with the raw codec (so a block's stored bytes are
  // its decoded bytes) and 256-byte blocks.
  void WriteRaw() { WriteSmallModel(MakeSmallModel(CodecKind::kRaw, 3), path_, 256); }
  // Overwrites `len` bytes at `offset` of the file in place, as another
  // process would, while the reader has it mapped.
  void Pwrite(uint64_t offset, const void* p, size_t len) {
    int fd = ::open(path_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, p, len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
    ::close(fd);
  }
  std::vector<uint8_t> Decode(const Reader& r, size_t i, Status* st) {
    std::vector<uint8_t> out(r.tensors()[i].raw_size);
    *st = r.DecodeTensor(i, out.data(), out.size(), 1);
    return out;
  }
  std::string dir_, path_;
};

// Defect 2: the seek index was read from the mapping at decode time, so
// rewriting an entry (stored_offset = 2^40) under a running reader made the
// decoder read far outside the file (SIGSEGV).
TEST_F(HostileFile, SeekIndexRewrittenAfterOpenIsNotTrusted) {
  WriteRaw();
  auto r = Reader::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status st;
  const std::vector<uint8_t> before = Decode(**r, 1, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const uint64_t index_offset = [&] {
    // The tensor's first seek index entry: find it by its known content.
    std::vector<uint8_t> bytes = ReadFileBytes(path_);
    uint8_t want[format::kIndexEntrySize];
    format::IndexEntry e;
    e.stored_offset = 0;
    e.stored_size = e.raw_size = 256;
    e.stored_checksum = e.raw_checksum = Checksum64(before.data(), 256);
    format::EncodeIndexEntry(e, want);
    for (size_t off = 0; off + sizeof(want) <= bytes.size(); off += 8) {
      if (std::memcmp(bytes.data() + off, want, sizeof(want)) == 0) return uint64_t(off);
    }
    return uint64_t(0);
  }();
  ASSERT_NE(index_offset, 0u);
  const uint64_t far = 1ull << 40;
  Pwrite(index_offset, &far, 8);  // stored_offset
  std::vector<uint8_t> after = Decode(**r, 1, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(after, before);
  // On a raw tensor, claim a 16 MiB block with a matching checksum: the
  // copy used to overflow the output buffer.
  const uint32_t huge = 16u << 20;
  Pwrite(index_offset + 8, &huge, 4);   // stored_size
  Pwrite(index_offset + 12, &huge, 4);  // raw_size
  after = Decode(**r, 1, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(after, before);
}

// Defect 2: truncating the file under its mapping raised SIGBUS.
TEST_F(HostileFile, TruncatedUnderTheReaderIsAClearError) {
  WriteRaw();
  auto r = Reader::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(::truncate(path_.c_str(), 4096), 0);
  Status st;
  const size_t last = (*r)->tensors().size() - 1;
  Decode(**r, last, &st);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_NE(st.message().find("changed while in use"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(path_), std::string::npos) << st.ToString();
  std::vector<float> f(2);
  VerifyReport v = (*r)->Verify(1);
  ASSERT_FALSE(v.problems.empty());
  bool reported = false;
  for (const VerifyProblem& p : v.problems) {
    reported |= p.status.message().find("changed while in use") != std::string::npos;
  }
  EXPECT_TRUE(reported);
  // The same reader still works on what is left mapped... and a fresh Open
  // of the truncated file is refused.
  EXPECT_TRUE(Reader::Open(path_).status().IsCorruption());
}

// Defect 8: a FIFO as the model file made open() block forever.
TEST_F(HostileFile, FifoIsRefusedWithoutBlocking) {
  const std::string fifo = dir_ + "/fifo.tqf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto done = std::async(std::launch::async, [&] { return Reader::Open(fifo).status(); });
  if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "Reader::Open on a FIFO blocked";
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // unblock the reader
    if (fd >= 0) ::close(fd);
  }
  Status st = done.get();
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("not a regular file"), std::string::npos) << st.ToString();
  EXPECT_TRUE(MappedFile::Open("/dev/null").status().IsInvalidArgument());
  EXPECT_TRUE(MappedFile::Open(dir_).status().IsInvalidArgument());
}

// Defect 4: the temporary output was opened without O_EXCL/O_NOFOLLOW at a
// predictable name, so a symlink planted there had its target overwritten.
TEST_F(HostileFile, PlantedSymlinkAtTheTemporaryNameIsNotFollowed) {
  const std::string victim = dir_ + "/victim";
  testing::WriteFileBytes(victim, {'k', 'e', 'e', 'p'});
  for (const std::string& name : {path_ + ".tmp." + std::to_string(getpid()), path_ + ".tmp"}) {
    ASSERT_EQ(::symlink(victim.c_str(), name.c_str()), 0);
  }
  WriteRaw();
  EXPECT_EQ(ReadFileBytes(victim), (std::vector<uint8_t>{'k', 'e', 'e', 'p'}));
  struct stat st;
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_TRUE(Reader::Open(path_).ok());
}

// Defect 5: outputs that exist and are not regular files (FIFOs, devices,
// symlinks, directories) were replaced by the rename; they must be refused
// and left as they are.
TEST_F(HostileFile, OutputThatIsNotARegularFileIsRefused) {
  const std::string fifo = dir_ + "/out.fifo", link = dir_ + "/out.link", target = dir_ + "/target";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  testing::WriteFileBytes(target, {'t'});
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  for (const std::string& out : {fifo, link, dir_}) {
    auto w = Writer::Create(out, ModelInfo());
    ASSERT_FALSE(w.ok()) << out;
    EXPECT_TRUE(w.status().IsInvalidArgument()) << w.status().ToString();
    EXPECT_NE(w.status().message().find(out), std::string::npos) << w.status().ToString();
  }
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadFileBytes(target), (std::vector<uint8_t>{'t'}));
}

}  // namespace
}  // namespace tqf
