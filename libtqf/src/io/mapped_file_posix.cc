// MappedFile on POSIX: open + fstat + mmap(PROT_READ, MAP_PRIVATE).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "io/fault_guard.h"
#include "tqf/mapped_file.h"

namespace tqf {

Result<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
  // below as not a regular file); it does not affect regular files.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = path + ": " + std::strerror(err);
    if (err == ENOENT) return Status::NotFound(msg);
    return Status::IOError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string msg = path + ": fstat: " + std::strerror(errno);
    ::close(fd);
    return Status::IOError(msg);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file" +
                                   (S_ISDIR(st.st_mode) ? " (a directory)" : ""));
  }
  // The descriptor is kept for Read (pread): blocking from here on, as
  // some FUSE and network file systems honour O_NONBLOCK (EAGAIN).
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    std::string msg = path + ": fcntl: " + std::strerror(errno);
    ::close(fd);
    return Status::IOError(msg);
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string msg = path + ": mmap: " + std::strerror(errno);
      ::close(fd);
      return Status::IOError(msg);
    }
    file->data_ = static_cast<const uint8_t*>(p);
  }
  file->fd_ = fd;  // for Read; the mapping alone would keep the file alive
  return std::shared_ptr<const MappedFile>(std::move(file));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Status MappedFile::Read(uint64_t offset, size_t size, uint8_t* out) const {
  if (offset > size_ || size > size_ - offset) {
    return Status::InvalidArgument(path_ + ": read of [" + std::to_string(offset) + ", +" +
                                   std::to_string(size) + ") outside the file's " +
                                   std::to_string(size_) + " bytes");
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return Status::IOError(path_ + ": read at offset " + std::to_string(offset + done) + ": " +
                             std::strerror(errno));
    }
    if (got == 0) {
      // The same event as a fault on the mapping, met by a read.
      return MappedFileChangedError(path_ + ": short read (the file ends at offset " +
                                    std::to_string(offset + done) + ", before " +
                                    std::to_string(offset + size) + ")");
    }
    done += static_cast<size_t>(got);
  }
  return Status::OK();
}

void MappedFile::Advise(size_t offset, size_t size, int advice) const {
  if (data_ == nullptr || offset >= size_ || size == 0) return;
  if (size > size_ - offset) size = size_ - offset;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t begin = offset / page * page;
  size_t end = offset + size;
  ::madvise(const_cast<uint8_t*>(data_) + begin, end - begin, advice);
}

void MappedFile::WillNeed(size_t offset, size_t size) const { Advise(offset, size, MADV_WILLNEED); }
void MappedFile::DontNeed(size_t offset, size_t size) const { Advise(offset, size, MADV_DONTNEED); }
void MappedFile::Sequential() const { Advise(0, size_, MADV_SEQUENTIAL); }
void MappedFile::Random() const { Advise(0, size_, MADV_RANDOM); }

}  // namespace tqf
