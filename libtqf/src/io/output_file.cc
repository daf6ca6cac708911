// AtomicOutputFile: temp file + fsync + rename, cleaned up on failure or signal.
#include "io/output_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "tqf/signals.h"

namespace tqf {

namespace {

// Temporary paths to unlink if a fatal signal arrives. Fixed-size, written
// under a mutex, read by RemoveTempFilesForSignal (unlink is
// async-signal-safe).
constexpr int kMaxSlots = 16;
constexpr size_t kMaxPath = 4096;
char g_tmp_paths[kMaxSlots][kMaxPath];
std::atomic<bool> g_slot_used[kMaxSlots];
std::mutex g_slot_mu;

void CleanupAndReraise(int sig) {
  RemoveTempFilesForSignal();
  std::signal(sig, SIG_DFL);
  ::raise(sig);
}

int RegisterTemp(const std::string& path) {
  if (path.size() >= kMaxPath) return -1;
  std::lock_guard<std::mutex> lock(g_slot_mu);
  for (int i = 0; i < kMaxSlots; ++i) {
    if (!g_slot_used[i].load()) {
      std::memcpy(g_tmp_paths[i], path.c_str(), path.size() + 1);
      g_slot_used[i].store(true);
      return i;
    }
  }
  return -1;
}

void UnregisterTemp(int slot) {
  if (slot < 0) return;
  std::lock_guard<std::mutex> lock(g_slot_mu);
  g_slot_used[slot].store(false);
}

std::string Errno(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

constexpr size_t kBufferSize = 1 << 20;

// 16 hex digits from the kernel's random source (a clock-and-pid mix if
// that fails: O_EXCL still makes a collision harmless).
std::string RandomSuffix() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof(r), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(r))) {
    static std::atomic<uint64_t> counter{0};
    r = static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        (counter++ << 48);
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

}  // namespace

// Replacing `path` by rename is safe only if it is absent or a regular
// file: a rename would replace a FIFO, device, symlink or directory entry
// (as root, `-o /dev/null` replaced /dev/null).
Status CheckReplaceable(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::IOError(Errno("cannot check output", path));
  }
  if (S_ISREG(st.st_mode)) return Status::OK();
  const char* what = S_ISLNK(st.st_mode)    ? "a symbolic link"
                     : S_ISDIR(st.st_mode)  ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "not a regular file";
  return Status::InvalidArgument(path + ": output exists and is " + what +
                                 "; refusing to replace it (give a regular file's path)");
}

void RemoveTempFilesForSignal() {
  for (int i = 0; i < kMaxSlots; ++i) {
    if (g_slot_used[i].load()) ::unlink(g_tmp_paths[i]);
  }
}

void InstallSignalCleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      std::signal(sig, CleanupAndReraise);
    }
  }
}

Result<std::unique_ptr<AtomicOutputFile>> AtomicOutputFile::Create(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("output path is empty");
  TQF_RETURN_IF_ERROR(CheckReplaceable(path));
  std::unique_ptr<AtomicOutputFile> f(new AtomicOutputFile());
  f->path_ = path;
  // An unpredictable name, created exclusively and never through a
  // symlink: nobody can make us write into a file of their choosing.
  for (int attempt = 0; attempt < 16 && f->fd_ < 0; ++attempt) {
    f->tmp_path_ = path + ".tmp." + RandomSuffix();
    f->fd_ =
        ::open(f->tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f->fd_ < 0 && errno != EEXIST) break;
  }
  if (f->fd_ < 0) return Status::IOError(Errno("cannot create", f->tmp_path_));
  f->slot_ = RegisterTemp(f->tmp_path_);
  f->buf_.reserve(kBufferSize);
  return f;
}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
  UnregisterTemp(slot_);
}

Status AtomicOutputFile::Flush() {
  const uint8_t* p = buf_.data();
  size_t left = buf_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(Errno("write", tmp_path_));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buf_.clear();
  return Status::OK();
}

Status AtomicOutputFile::Append(const void* data, size_t size) {
  if (fd_ < 0) return Status::InvalidArgument(path_ + ": file already committed");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (buf_.size() + size > kBufferSize) TQF_RETURN_IF_ERROR(Flush());
  if (size >= kBufferSize) {
    buf_.assign(p, p + size);  // large writes go straight through
    TQF_RETURN_IF_ERROR(Flush());
  } else {
    buf_.insert(buf_.end(), p, p + size);
  }
  offset_ += size;
  return Status::OK();
}

Status AtomicOutputFile::PadTo(uint64_t alignment) {
  static const uint8_t kZeros[4096] = {};
  uint64_t target = (offset_ + alignment - 1) / alignment * alignment;
  while (offset_ < target) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(target - offset_, sizeof(kZeros)));
    TQF_RETURN_IF_ERROR(Append(kZeros, n));
  }
  return Status::OK();
}

Status AtomicOutputFile::WriteAt(uint64_t offset, const void* data, size_t size) {
  TQF_RETURN_IF_ERROR(Flush());
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(Errno("pwrite", tmp_path_));
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return Status::OK();
}

Status AtomicOutputFile::Commit() {
  TQF_RETURN_IF_ERROR(Flush());
  if (::fsync(fd_) != 0) return Status::IOError(Errno("fsync", tmp_path_));
  if (::close(fd_) != 0) {
    fd_ = -1;
    return Status::IOError(Errno("close", tmp_path_));
  }
  fd_ = -1;
  TQF_RETURN_IF_ERROR(CheckReplaceable(path_));  // again: it may have changed while we wrote
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return Status::IOError(Errno("rename to " + path_, tmp_path_));
  }
  committed_ = true;
  std::string dir = ".";
  size_t slash = path_.rfind('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path_.substr(0, slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename is durable once the directory is
    ::close(dfd);
  }
  return Status::OK();
}

}  // namespace tqf
