// BlockCache on POSIX files.
#include "io/block_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "util/checksum.h"

namespace tqf {

namespace {

bool ReadAll(int fd, uint8_t* out, uint64_t size) {
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += uint64_t(n);
  }
  return true;
}

bool WriteAll(int fd, const uint8_t* p, uint64_t size) {
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += uint64_t(n);
  }
  return true;
}

struct Entry {
  std::string path;
  uint64_t size;
  timespec mtime;
};

// Every entry file under dir (DIR/xx/...), skipping temporary files.
std::vector<Entry> ListEntries(const std::string& dir) {
  std::vector<Entry> out;
  DIR* top = ::opendir(dir.c_str());
  if (top == nullptr) return out;
  while (dirent* d = ::readdir(top)) {
    if (std::strlen(d->d_name) != 2) continue;
    const std::string sub = dir + "/" + d->d_name;
    DIR* s = ::opendir(sub.c_str());
    if (s == nullptr) continue;
    while (dirent* f = ::readdir(s)) {
      if (f->d_name[0] == '.') continue;
      const std::string path = sub + "/" + f->d_name;
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        out.push_back({path, uint64_t(st.st_size), st.st_mtim});
      }
    }
    ::closedir(s);
  }
  ::closedir(top);
  return out;
}

}  // namespace

Status BlockCache::Prepare(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::IOError("cache directory " + dir + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(dir.c_str(), W_OK) != 0) {
    return Status::IOError("cache directory " + dir + " is not a writable directory");
  }
  return Status::OK();
}

std::string BlockCache::PathOf(uint64_t checksum, uint64_t size) const {
  char name[64];
  std::snprintf(name, sizeof name, "%02x/%016llx-%llu", unsigned(checksum >> 56),
                static_cast<unsigned long long>(checksum), static_cast<unsigned long long>(size));
  return dir_ + "/" + name;
}

bool BlockCache::Get(uint64_t checksum, uint64_t size, uint8_t* out) {
  const std::string path = PathOf(checksum, size);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  const bool read = ::fstat(fd, &st) == 0 && uint64_t(st.st_size) == size && ReadAll(fd, out, size);
  ::close(fd);
  if (!read || Checksum64(out, size) != checksum) {
    ::unlink(path.c_str());  // damaged or foreign: fetch again
    return false;
  }
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // recently used: evicted last
  return true;
}

void BlockCache::Put(uint64_t checksum, uint64_t size, const uint8_t* data) {
  const std::string path = PathOf(checksum, size);
  const std::string sub = path.substr(0, path.rfind('/'));
  ::mkdir(sub.c_str(), 0755);
  // A name unique to this process and call: concurrent writers of one
  // entry each rename a complete file over the other's.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      sub + "/.tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const bool ok = WriteAll(fd, data, size);
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return;
  }
  if (max_bytes_ > 0) EvictIfOver(size);
}

void BlockCache::EvictIfOver(uint64_t added) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!scanned_) {
    total_ = 0;
    for (const Entry& e : ListEntries(dir_)) total_ += e.size;
    scanned_ = true;
  } else {
    total_ += added;
  }
  if (total_ <= max_bytes_) return;
  // Over the limit: rescan (other processes write too), oldest first, down
  // to 90% so that eviction does not run on every write.
  std::vector<Entry> all = ListEntries(dir_);
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec
                                            : a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  total_ = 0;
  for (const Entry& e : all) total_ += e.size;
  for (const Entry& e : all) {
    if (total_ <= max_bytes_ / 10 * 9) break;
    if (::unlink(e.path.c_str()) == 0) total_ -= e.size;
  }
}

}  // namespace tqf
