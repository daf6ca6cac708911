// Source: the bytes of a .tqf as the Reader reads them, local or remote.
//
// A Source presents the whole file at one address range, data()[0, size()),
// so that the Reader (and TensorInfo::params) can keep pointing into it, as
// it does into a memory mapping. Bytes are only guaranteed readable after
// Ensure() returned OK for a range covering them: for a local file (mmap)
// every byte always is and Ensure does nothing; for an http(s) URL the
// range is fetched (or read from the block cache) and verified first.
// This is LevelDB's Env/RandomAccessFile split, shaped by the Reader's
// existing pointer-based API.
//
// Ownership: OpenSource returns a shared_ptr; the Reader keeps the Source
// alive as long as it lives, and data() stays valid as long as the Source.
// Thread-safety: every method may be called from any thread concurrently.
#ifndef TQF_SOURCE_H_
#define TQF_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tqf/result.h"
#include "tqf/visibility.h"

namespace tqf {

// A byte range a reader needs, with the checksum (XXH3-64, seed 0) its
// bytes must have when `checked` (a block, a dictionary...). A remote
// Source verifies checked ranges before Ensure returns, keys its disk cache
// by (checksum, size), and retries a range whose bytes do not match.
struct SourceExtent {
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t checksum = 0;
  bool checked = false;
};

// How remote files are read. Defaults suit a model on a public server.
struct RemoteOptions {
  // A directory of verified blocks shared by every URL and process
  // (content-addressed by checksum and size); empty: no disk cache.
  std::string cache_dir;
  uint64_t cache_max_bytes = 0;  // 0: no limit; else oldest entries are evicted
  long connect_timeout_s = 10;
  // A transfer that moves fewer than 1 byte/s for this long is abandoned.
  long low_speed_timeout_s = 30;
  int max_retries = 4;                    // per range, with exponential backoff
  int backoff_ms = 100;                   // first retry's delay, doubled each time
  int parallel = 4;                       // ranges in flight at once
  uint64_t max_request_bytes = 16 << 20;  // a longer missing run is split
  bool verify_tls = true;                 // certificate and host name checks
};

// What remote Sources did, totals over the process (RemoteStats()).
struct SourceStats {
  uint64_t requests = 0;       // HTTP requests sent (retries included)
  uint64_t bytes_fetched = 0;  // body bytes received
  uint64_t cache_hits = 0;     // ranges read from the disk cache
  uint64_t cache_hit_bytes = 0;
  uint64_t retries = 0;
};

class TQF_EXPORT Source {
 public:
  virtual ~Source() = default;
  // The file's bytes; readable only where Ensure succeeded (see above).
  virtual const uint8_t* data() const = 0;
  virtual uint64_t size() const = 0;
  // The path, or the URL with any user:password@ removed: fit for messages.
  virtual const std::string& name() const = 0;
  virtual bool remote() const = 0;
  // Makes ranges[0..n) readable (and verified where checked). Ranges must
  // lie inside [0, size()) (kInvalidArgument). Remote errors: kIOError
  // (network, HTTP status, server ignoring Range, file changed on the
  // server), kCorruption (a malformed reply), kChecksumMismatch (bytes
  // still wrong after retries). Each message names the URL and the range.
  virtual Status Ensure(const SourceExtent* ranges, size_t n) = 0;
  // Hints: start fetching (remote) or reading (local) the ranges in the
  // background; give back the memory of [offset, offset + size), which a
  // remote source re-fetches (or re-reads from its cache) when next needed.
  // A remote DontNeed drops only whole pages inside the range, and must not
  // race a reader of those bytes (the Reader calls it for a tensor once
  // decoded; a dropped page reads as zeros, which a checksum then refuses).
  virtual void WillNeed(const SourceExtent* ranges, size_t n) = 0;
  virtual void DontNeed(uint64_t offset, uint64_t size) = 0;
  // Whether Read works: true for a local file (pread beside the mapping).
  // A remote Source reads through Ensure and data() only.
  virtual bool can_read() const { return false; }
  // Copies [offset, offset + size) into out[0..size) without mapping it
  // into the process (where can_read()): for readers that use each byte
  // once and would otherwise fault pages in and release them again.
  // Unverified. kIOError naming the file if it now ends before the range
  // (truncated) or the read fails; kInvalidArgument outside [0, size());
  // kNotSupported where !can_read().
  virtual Status Read(uint64_t offset, uint64_t size, uint8_t* out) {
    (void)offset, (void)size, (void)out;
    return Status::NotSupported(name() + ": no reads outside the mapping for this source");
  }
};

// Totals over every remote Source this process opened (zero if none).
TQF_EXPORT SourceStats RemoteStats();

// True for "http://..." and "https://..." (case-insensitive scheme).
TQF_EXPORT bool IsRemoteUrl(const std::string& path_or_url);
// `url` with the userinfo ("user:pass@") of its authority replaced by
// "***@"; anything that is not a URL is returned unchanged.
TQF_EXPORT std::string RedactUrl(const std::string& url);

// Opens a local path (mmap) or an http(s) URL. A URL costs one request
// here (the file's last 256 KiB, which also tell its size and validator);
// Reader::Open then fetches the rest of what it checks. Errors: those of
// MappedFile::Open for a path; kIOError for an unreachable URL or one whose
// server does not answer Range requests; kNotSupported if this libtqf was
// built without HTTP support (TQF_WITH_HTTP=OFF).
TQF_EXPORT Result<std::shared_ptr<Source>> OpenSource(const std::string& path_or_url,
                                                      const RemoteOptions& options);

// The RemoteOptions Reader::Open uses for a URL. Tools set them once from
// their command line (--cache-dir ...) before opening anything.
TQF_EXPORT void SetDefaultRemoteOptions(const RemoteOptions& options);
TQF_EXPORT RemoteOptions DefaultRemoteOptions();

// Downloads `url` to `path`: block by block, each verified against its
// checksum (and the header, params, seek indices, dictionaries and
// codebooks against theirs) before it is written. Writes `path`.part and
// renames it to `path` once the whole file is written and opens as a
// valid .tqf; a `path`.part left by an interrupted fetch is resumed (its
// blocks whose checksums match are kept, the rest fetched). `progress`
// (optional) gets (bytes done, file size). Errors: those of Reader::Open
// for the URL, kIOError for the local file.
TQF_EXPORT Status FetchFile(const std::string& url, const std::string& path,
                            const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

}  // namespace tqf

#endif  // TQF_SOURCE_H_
