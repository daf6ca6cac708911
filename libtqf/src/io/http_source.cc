// HttpSource: Ensure = cache, then network, then verify, then present.
#include "io/http_source.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/bytes.h"
#include "util/checksum.h"

namespace tqf {

namespace {

// The first request reads this much of the file's end: the footer, and in
// most files the header, seek indices and params, which lie just before it.
constexpr uint64_t kProbeTail = 256 << 10;

std::string ExtentStr(uint64_t b, uint64_t e) { return "[" + Hex(b) + ", " + Hex(e) + ")"; }

}  // namespace

HttpSource::HttpSource(const std::string& url, const RemoteOptions& options)
    : name_(RedactUrl(url)), options_(options), fetcher_(url, name_, options) {}

HttpSource::~HttpSource() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (prefetcher_.joinable()) prefetcher_.join();
  if (base_ != nullptr) ::munmap(base_, mapped_);
}

Status HttpSource::Map(uint64_t size) {
  size_ = size;
  mapped_ = std::max<uint64_t>(size, 1);
  // The server's Content-Range total is untrusted: reserving address space
  // costs nothing, and an impossible size fails here with its number.
  void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    const std::string err = std::strerror(errno);
    mapped_ = 0;
    return Status::ResourceExhausted(name_ + ": cannot reserve " + std::to_string(size) +
                                     " bytes of address space for the file: " + err);
  }
  base_ = static_cast<uint8_t*>(p);
  return Status::OK();
}

Result<std::shared_ptr<Source>> HttpSource::Open(const std::string& url,
                                                 const RemoteOptions& options) {
  std::shared_ptr<HttpSource> s(new HttpSource(url, options));
  if (!options.cache_dir.empty()) {
    TQF_RETURN_IF_ERROR(BlockCache::Prepare(options.cache_dir));
    s->cache_ = std::make_unique<BlockCache>(options.cache_dir, options.cache_max_bytes);
  }
  std::string tail;
  TQF_RETURN_IF_ERROR(s->fetcher_.Probe(kProbeTail, &tail));
  TQF_RETURN_IF_ERROR(s->Map(s->fetcher_.validator().size));
  const uint64_t tail_begin = s->size_ - tail.size();
  std::memcpy(s->base_ + tail_begin, tail.data(), tail.size());
  s->present_.Add(tail_begin, s->size_);
  s->prefetcher_ = std::thread([p = s.get()] { p->PrefetchLoop(); });
  return std::shared_ptr<Source>(std::move(s));
}

Status HttpSource::Ensure(const SourceExtent* ranges, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (ranges[i].offset > size_ || ranges[i].size > size_ - ranges[i].offset) {
      return Status::InvalidArgument(
          name_ + ": range " + ExtentStr(ranges[i].offset, ranges[i].offset + ranges[i].size) +
          " outside the file (" + std::to_string(size_) + " bytes)");
    }
  }
  {  // The common case: everything is there already.
    std::lock_guard<std::mutex> lock(set_mu_);
    bool all = true;
    for (size_t i = 0; i < n && all; ++i) {
      all = present_.Contains(ranges[i].offset, ranges[i].offset + ranges[i].size);
    }
    if (all) {
      for (size_t i = 0; i < n; ++i) used_.Add(ranges[i].offset, ranges[i].offset + ranges[i].size);
      return Status::OK();
    }
  }
  std::lock_guard<std::mutex> lock(fetch_mu_);
  TQF_RETURN_IF_ERROR(EnsureLocked(ranges, n));
  std::lock_guard<std::mutex> lock2(set_mu_);
  for (size_t i = 0; i < n; ++i) used_.Add(ranges[i].offset, ranges[i].offset + ranges[i].size);
  return Status::OK();
}

std::vector<std::pair<uint64_t, uint64_t>> HttpSource::FromCache(
    const SourceExtent* ranges, size_t n, std::vector<const SourceExtent*>* from_network) {
  std::vector<std::pair<uint64_t, uint64_t>> missing;
  std::vector<uint8_t> entry;
  for (size_t i = 0; i < n; ++i) {
    const SourceExtent& r = ranges[i];
    std::vector<std::pair<uint64_t, uint64_t>> gaps;
    {
      std::lock_guard<std::mutex> lock(set_mu_);
      gaps = present_.Missing(r.offset, r.offset + r.size);
    }
    if (gaps.empty()) continue;
    // From the cache only the absent bytes are copied: readers may be
    // reading present ones (a block shares pages with its neighbours).
    if (cache_ && r.checked) {
      entry.resize(r.size);
      if (cache_->Get(r.checksum, r.size, entry.data())) {
        for (const auto& g : gaps) {
          std::memcpy(base_ + g.first, entry.data() + (g.first - r.offset), g.second - g.first);
        }
        fetcher_.CountCacheHit(r.size);
        std::lock_guard<std::mutex> lock(set_mu_);
        present_.Add(r.offset, r.offset + r.size);
        continue;
      }
    }
    if (r.checked) from_network->push_back(&r);
    missing.insert(missing.end(), gaps.begin(), gaps.end());
  }
  // One request per run of adjacent missing bytes, at most max_request_bytes each.
  std::sort(missing.begin(), missing.end());
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  for (const auto& g : missing) {
    if (!runs.empty() && g.first <= runs.back().second) {
      runs.back().second = std::max(runs.back().second, g.second);
    } else {
      runs.push_back(g);
    }
  }
  // Requests small enough that the batch keeps `parallel` connections busy
  // (one tensor is often one run), large enough to amortize a round trip.
  uint64_t total = 0;
  for (const auto& r : runs) total += r.second - r.first;
  const uint64_t share = total / uint64_t(std::max(1, options_.parallel)) + 1;
  const uint64_t cap = std::max<uint64_t>(std::min(options_.max_request_bytes, share), 1 << 20);
  std::vector<std::pair<uint64_t, uint64_t>> requests;
  for (const auto& r : runs) {
    for (uint64_t b = r.first; b < r.second; b += cap) {
      requests.emplace_back(b, std::min(r.second, b + cap));
    }
  }
  return requests;
}

// Checked ranges must hash to their checksum; the bad ones go to *bad.
Status HttpSource::CheckFetched(const SourceExtent* ranges, size_t n,
                                std::vector<const SourceExtent*>* bad) {
  bad->clear();
  for (size_t i = 0; i < n; ++i) {
    const SourceExtent& r = ranges[i];
    if (!r.checked) continue;
    {
      std::lock_guard<std::mutex> lock(set_mu_);
      if (present_.Contains(r.offset, r.offset + r.size)) continue;
    }
    const uint64_t got = Checksum64(base_ + r.offset, r.size);
    if (got != r.checksum) bad->push_back(&r);
  }
  return Status::OK();
}

Status HttpSource::EnsureLocked(const SourceExtent* ranges, size_t n) {
  // Bytes of a range whose checksum fails are fetched once more (a flaky
  // proxy); a second failure is the file's or the server's fault.
  for (int attempt = 0;; ++attempt) {
    std::vector<const SourceExtent*> from_network;
    const auto requests = FromCache(ranges, n, &from_network);
    if (requests.empty()) return Status::OK();
    TQF_RETURN_IF_ERROR(fetcher_.Fetch(requests, base_));
    std::vector<const SourceExtent*> bad;
    TQF_RETURN_IF_ERROR(CheckFetched(ranges, n, &bad));
    for (const SourceExtent* r : from_network) {  // the verified ones, for every later reader
      if (cache_ && std::find(bad.begin(), bad.end(), r) == bad.end()) {
        cache_->Put(r->checksum, r->size, base_ + r->offset);
      }
    }
    if (!bad.empty() && attempt == 0) {
      // Everything else fetched is good: keep it, and fetch only the bad ones again.
      std::lock_guard<std::mutex> lock(set_mu_);
      for (const auto& q : requests) present_.Add(q.first, q.second);
      for (const SourceExtent* b : bad) present_.Remove(b->offset, b->offset + b->size);
      continue;
    }
    if (!bad.empty()) {
      const SourceExtent& b = *bad.front();
      return Status::ChecksumMismatch(name_ + ": bytes " + ExtentStr(b.offset, b.offset + b.size) +
                                      " checksum " + Hex(Checksum64(base_ + b.offset, b.size)) +
                                      ", expected " + Hex(b.checksum) +
                                      " (fetched twice; the server sends corrupted bytes)");
    }
    std::lock_guard<std::mutex> lock(set_mu_);
    for (const auto& q : requests) present_.Add(q.first, q.second);
    return Status::OK();
  }
}

void HttpSource::WillNeed(const SourceExtent* ranges, size_t n) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.emplace_back(ranges, ranges + n);
  }
  queue_cv_.notify_one();
}

void HttpSource::PrefetchLoop() {
  for (;;) {
    std::vector<SourceExtent> job;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      // Every hint queued so far in one batch: more ranges in flight at once.
      for (; !queue_.empty() && job.size() < 4096; queue_.pop_front()) {
        job.insert(job.end(), queue_.front().begin(), queue_.front().end());
      }
    }
    // Errors are not reported here: the Ensure that needs the bytes retries
    // and reports them. Fetched ahead, the bytes are not "used" yet.
    if (job.empty()) continue;
    std::lock_guard<std::mutex> lock(fetch_mu_);
    (void)EnsureLocked(job.data(), job.size());
  }
}

void HttpSource::DontNeed(uint64_t offset, uint64_t size) {
  if (offset >= size_ || size == 0) return;
  size = std::min(size, size_ - offset);
  const uint64_t end = offset + size;
  {  // A hint not yet served for these bytes is stale: they were used.
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (auto& job : queue_) {
      job.erase(std::remove_if(job.begin(), job.end(),
                               [&](const SourceExtent& e) {
                                 return e.offset < end && e.offset + e.size > offset;
                               }),
                job.end());
    }
  }
  // Only whole pages of used bytes: a page shared with bytes not yet used
  // (a neighbour's, or ones fetched ahead) stays.
  const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  std::lock_guard<std::mutex> fetch(fetch_mu_);
  std::lock_guard<std::mutex> lock(set_mu_);
  uint64_t at = offset;
  for (const auto& gap : used_.Missing(offset, end)) {
    DropPages((at + page - 1) / page * page, gap.first / page * page);
    at = gap.second;
  }
  DropPages((at + page - 1) / page * page, end / page * page);
}

void HttpSource::DropPages(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  present_.Remove(begin, end);
  used_.Remove(begin, end);
  ::madvise(base_ + begin, end - begin, MADV_DONTNEED);
}

}  // namespace tqf
