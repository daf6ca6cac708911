// FetchFile: a remote .tqf to a local file, verified piece by piece and
// resumable. What the format checksums (header, dictionaries, codebooks,
// params, seek indices, blocks) is verified by the remote Source as it
// arrives; a resumed `.part` keeps exactly the pieces whose checksums
// match; the few bytes no checksum covers (preamble, footer, padding) are
// always fetched again. The finished file must open as a valid .tqf before
// it is renamed into place.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tqf/reader.h"
#include "tqf/source.h"
#include "util/checksum.h"

namespace tqf {

namespace {

constexpr uint64_t kBatchBytes = 64 << 20;  // fetched, written and released together

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// The pieces to fetch: checked extents whose bytes in `part` do not match,
// and every byte between checked extents.
std::vector<SourceExtent> PiecesToFetch(const std::vector<SourceExtent>& checked,
                                        const uint8_t* part, uint64_t size) {
  std::vector<SourceExtent> out;
  uint64_t at = 0;
  for (const SourceExtent& e : checked) {
    if (e.offset > at) out.push_back({at, e.offset - at, 0, false});
    if (Checksum64(part + e.offset, e.size) != e.checksum) out.push_back(e);
    at = std::max(at, e.offset + e.size);
  }
  if (at < size) out.push_back({at, size - at, 0, false});
  return out;
}

// A writable shared mapping of `path` at `size` bytes (created or resized).
Status MapPart(const std::string& path, uint64_t size, uint8_t** base) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(path);
  struct stat st;
  if (::fstat(fd, &st) != 0 ||
      (uint64_t(st.st_size) != size && ::ftruncate(fd, off_t(size)) != 0)) {
    Status s = Errno(path);
    ::close(fd);
    return s;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  Status s = p == MAP_FAILED ? Errno(path + ": mmap") : Status::OK();
  ::close(fd);
  *base = s.ok() ? static_cast<uint8_t*>(p) : nullptr;
  return s;
}

Status SyncAndUnmap(const std::string& path, uint8_t* base, uint64_t size) {
  const bool ok = ::msync(base, size, MS_SYNC) == 0;
  const Status s = ok ? Status::OK() : Errno(path + ": msync");
  ::munmap(base, size);
  return s;
}

// Fetches `pieces` from the source into `part`, a batch at a time, each
// batch's memory given back once written.
Status CopyPieces(Source* source, const std::vector<SourceExtent>& pieces, uint8_t* part,
                  uint64_t size, const std::function<void(uint64_t, uint64_t)>& progress) {
  uint64_t done = size;
  for (const SourceExtent& p : pieces) done -= p.size;
  for (size_t i = 0; i < pieces.size();) {
    size_t j = i;
    uint64_t bytes = 0;
    while (j < pieces.size() && (j == i || bytes + pieces[j].size <= kBatchBytes)) {
      bytes += pieces[j++].size;
    }
    TQF_RETURN_IF_ERROR(source->Ensure(&pieces[i], j - i));
    for (size_t k = i; k < j; ++k) {
      std::memcpy(part + pieces[k].offset, source->data() + pieces[k].offset, pieces[k].size);
    }
    const uint64_t first = pieces[i].offset, last = pieces[j - 1].offset + pieces[j - 1].size;
    source->DontNeed(first, last - first);
    done += bytes;
    if (progress) progress(done, size);
    i = j;
  }
  return Status::OK();
}

}  // namespace

Status FetchFile(const std::string& url, const std::string& path,
                 const std::function<void(uint64_t, uint64_t)>& progress) {
  TQF_ASSIGN_OR_RETURN(std::shared_ptr<Source> source, OpenSource(url, DefaultRemoteOptions()));
  if (!source->remote()) return Status::InvalidArgument(url + ": not an http(s) URL");
  TQF_ASSIGN_OR_RETURN(std::unique_ptr<Reader> reader, Reader::Open(source));
  const uint64_t size = source->size();
  const std::string part = path + ".part";
  uint8_t* base = nullptr;
  TQF_RETURN_IF_ERROR(MapPart(part, size, &base));
  const std::vector<SourceExtent> pieces = PiecesToFetch(reader->ChecksummedExtents(), base, size);
  Status s = CopyPieces(source.get(), pieces, base, size, progress);
  const Status synced = SyncAndUnmap(part, base, size);
  TQF_RETURN_IF_ERROR(s.WithContext(source->name()));
  TQF_RETURN_IF_ERROR(synced);
  // The whole file, read back from disk, must pass Open's checks.
  TQF_RETURN_IF_ERROR(Reader::Open(part).status().WithContext("fetched copy"));
  if (::rename(part.c_str(), path.c_str()) != 0) return Errno("rename " + part + " -> " + path);
  return Status::OK();
}

}  // namespace tqf
