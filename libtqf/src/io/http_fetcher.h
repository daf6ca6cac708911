// HttpFetcher: byte ranges of one URL over HTTP(S) with libcurl, several in
// flight at once, each checked against what the first reply said about the
// file (size, ETag, Last-Modified) so bytes of two versions are never mixed.
// Transport errors, 5xx/429 replies and short bodies are retried with
// exponential backoff, resuming after the bytes already received; a server
// ignoring Range, answering another range or a changed file is an error.
// Thread-compatible: one caller at a time (HttpSource serializes).
#ifndef TQF_IO_HTTP_FETCHER_H_
#define TQF_IO_HTTP_FETCHER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tqf/source.h"

namespace tqf {

struct CurlApi;

// What identifies one version of the remote file.
struct HttpValidator {
  uint64_t size = 0;
  std::string etag;
  std::string last_modified;
};

class HttpFetcher {
 public:
  // `url` is used for requests; `name` (redacted) in every message.
  HttpFetcher(std::string url, std::string name, const RemoteOptions& options);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // The first request: the last `tail` bytes (fewer if the file is
  // smaller), which also tell the file's size and validator.
  Status Probe(uint64_t tail, std::string* body);
  const HttpValidator& validator() const { return validator_; }

  // Fetches each [first, second) of `ranges` into dest + first (dest holds
  // the whole file). Needs Probe first.
  Status Fetch(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint8_t* dest);

  void CountCacheHit(uint64_t bytes);

  // For the transfer callbacks (http_fetcher.cc).
  struct Job;
  Status CheckReply(const Job& job) const;
  const std::string& name() const { return name_; }
  void CountBytes(uint64_t n);

 private:
  Status Start(Job* job);
  Status Finish(Job* job, int curl_code, bool* retry);
  Status RunJobs(std::vector<Job>* jobs);

  const std::string url_, name_;
  const RemoteOptions options_;
  const CurlApi* curl_ = nullptr;  // libcurl, loaded on first use (io/curl_api.h)
  Status init_error_;              // why curl_ or multi_ is missing: Probe returns it
  void* multi_ = nullptr;          // CURLM*, kept for its connection cache
  HttpValidator validator_;
  bool probed_ = false;
};

}  // namespace tqf

#endif  // TQF_IO_HTTP_FETCHER_H_
