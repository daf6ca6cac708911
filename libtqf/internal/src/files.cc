// Bounded, non-blocking reads of regular files (see files.h).
#include "tqf/internal/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tqf {
namespace {

// An fd closed on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status OpenError(const std::string& path) {
  const int err = errno;
  const std::string msg = path + ": " + std::strerror(err);
  return err == ENOENT ? Status::NotFound(msg) : Status::IOError(msg);
}

// Opens `path` for reading without blocking and checks it is a regular file.
Result<int> OpenRegular(const std::string& path, struct stat* st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return OpenError(path);
  if (::fstat(fd, st) != 0) {
    const std::string msg = path + ": fstat: " + std::strerror(errno);
    ::close(fd);
    return Status::IOError(msg);
  }
  if (!S_ISREG(st->st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file" +
                                   (S_ISDIR(st->st_mode) ? " (a directory)" : ""));
  }
  return fd;
}

// Reads up to `n` bytes into `out`, stopping at end of file.
Status ReadUpTo(int fd, const std::string& path, size_t n, std::string* out) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, &(*out)[got], n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::IOError(path + ": read: " + std::strerror(errno));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out->resize(got);
  return Status::OK();
}

}  // namespace

Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes) {
  struct stat st;
  TQF_ASSIGN_OR_RETURN(const int raw_fd, OpenRegular(path, &st));
  Fd fd(raw_fd);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(size) + " bytes, more than the " +
                                   std::to_string(max_bytes) + " this input may have");
  }
  std::string data;
  // One byte more than the size: a file that grew since fstat is caught.
  TQF_RETURN_IF_ERROR(ReadUpTo(fd.get(), path, static_cast<size_t>(size) + 1, &data));
  if (data.size() != size) {
    return Status::IOError(path + ": changed size while being read (" + std::to_string(size) +
                           " bytes at open)");
  }
  return data;
}

Result<std::string> ReadFileHead(const std::string& path, size_t n) {
  struct stat st;
  TQF_ASSIGN_OR_RETURN(const int raw_fd, OpenRegular(path, &st));
  Fd fd(raw_fd);
  std::string data;
  TQF_RETURN_IF_ERROR(ReadUpTo(fd.get(), path, n, &data));
  return data;
}

Status CheckOutputIsNotInput(const std::string& input, const std::string& output) {
  struct stat in, out;
  if (::stat(input.c_str(), &in) != 0 || ::stat(output.c_str(), &out) != 0) return Status::OK();
  if (in.st_dev != out.st_dev || in.st_ino != out.st_ino) return Status::OK();
  return Status::InvalidArgument("output " + output + " is the input file " + input +
                                 " (same file): refusing to overwrite the source");
}

}  // namespace tqf
