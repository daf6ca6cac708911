// HttpSource: a remote .tqf as a Source. The file is backed by an anonymous
// mapping of its size (nothing is committed until written); a RangeSet says
// which bytes are present. Ensure fetches what is missing (from the block
// cache first, for checksummed ranges), verifies it, then marks it present;
// DontNeed drops whole pages and marks them absent again.
#ifndef TQF_IO_HTTP_SOURCE_H_
#define TQF_IO_HTTP_SOURCE_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/block_cache.h"
#include "io/http_fetcher.h"
#include "io/range_set.h"
#include "tqf/source.h"

namespace tqf {

class HttpSource : public Source {
 public:
  static Result<std::shared_ptr<Source>> Open(const std::string& url, const RemoteOptions& options);
  ~HttpSource() override;

  const uint8_t* data() const override { return base_; }
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }
  bool remote() const override { return true; }
  Status Ensure(const SourceExtent* ranges, size_t n) override;
  void WillNeed(const SourceExtent* ranges, size_t n) override;
  void DontNeed(uint64_t offset, uint64_t size) override;

 private:
  HttpSource(const std::string& url, const RemoteOptions& options);
  Status Map(uint64_t size);
  // Ensure's work, with fetch_mu_ held.
  Status EnsureLocked(const SourceExtent* ranges, size_t n);
  // Fills what it can of the ranges' missing bytes from the block cache;
  // returns the requests for the rest, and the checked ranges they touch.
  std::vector<std::pair<uint64_t, uint64_t>> FromCache(
      const SourceExtent* ranges, size_t n, std::vector<const SourceExtent*>* from_network);
  Status CheckFetched(const SourceExtent* ranges, size_t n, std::vector<const SourceExtent*>* bad);
  void PrefetchLoop();
  // With fetch_mu_ and set_mu_ held: [begin, end) (page-aligned) absent again.
  void DropPages(uint64_t begin, uint64_t end);

  const std::string name_;
  const RemoteOptions options_;
  HttpFetcher fetcher_;
  std::unique_ptr<BlockCache> cache_;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint64_t mapped_ = 0;

  std::mutex fetch_mu_;        // one batch of fetches at a time; held by DontNeed
  mutable std::mutex set_mu_;  // guards present_ and used_
  RangeSet present_;
  // Present bytes some Ensure handed to a reader: only these may DontNeed
  // drop. Bytes a WillNeed fetched ahead stay until they have been used
  // (the runtime releases a tensor after each group of its blocks).
  RangeSet used_;

  // WillNeed's queue, served by one background thread.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::vector<SourceExtent>> queue_;
  bool stopping_ = false;
  std::thread prefetcher_;
};

}  // namespace tqf

#endif  // TQF_IO_HTTP_SOURCE_H_
