// HttpFetcher over libcurl's multi interface: every range is one easy
// handle; the multi handle runs up to RemoteOptions::parallel of them and
// keeps their connections alive between batches.
#include "io/http_fetcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "io/curl_api.h"
#include "io/url.h"
#include "util/bytes.h"

namespace tqf {

namespace {

using Clock = std::chrono::steady_clock;

std::string RangeStr(uint64_t begin, uint64_t end) {
  return "bytes [" + Hex(begin) + ", " + Hex(end) + ")";
}

bool HeaderIs(const std::string& line, const char* name, std::string* value) {
  const size_t n = std::strlen(name);
  if (line.size() <= n || line[n] != ':') return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  size_t b = n + 1, e = line.size();
  while (b < e && (line[b] == ' ' || line[b] == '\t')) ++b;
  while (e > b && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ')) --e;
  *value = line.substr(b, e - b);
  return true;
}

// Failures that the same request would meet again: a certificate, a
// refused protocol (a redirect to file://), a malformed URL.
bool Retryable(int code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_LOGIN_DENIED: return false;
    default: return true;
  }
}

}  // namespace

// One range being fetched: its request, the reply's headers, the bytes so far.
struct HttpFetcher::Job {
  HttpFetcher* owner = nullptr;
  uint64_t begin = 0, end = 0;  // wanted [begin, end); for the probe, end - begin = tail
  uint64_t pos = 0;             // next byte to receive
  uint64_t attempt_begin = 0;   // where the current request starts
  bool probe = false;
  uint8_t* dest = nullptr;      // whole-file buffer (not for the probe)
  std::string* body = nullptr;  // the probe's bytes
  int attempts = 0;
  Clock::time_point ready;
  bool done = false;
  CURL* easy = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  // The reply of the current attempt.
  long status = 0;
  bool checked = false;  // headers validated (at the first body byte)
  std::string content_range, etag, last_modified;
  Status error;  // set by a callback: not retried
};

namespace {

size_t OnHeader(char* data, size_t size, size_t nmemb, void* arg) {
  auto* job = static_cast<HttpFetcher::Job*>(arg);
  const std::string line(data, size * nmemb);
  std::string v;
  if (line.compare(0, 5, "HTTP/") == 0) {  // a new reply (after a redirect or 100)
    const size_t sp = line.find(' ');
    job->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    job->content_range.clear();
    job->etag.clear();
    job->last_modified.clear();
  } else if (HeaderIs(line, "content-range", &v)) {
    job->content_range = v;
  } else if (HeaderIs(line, "etag", &v)) {
    job->etag = v;
  } else if (HeaderIs(line, "last-modified", &v)) {
    job->last_modified = v;
  }
  return size * nmemb;
}

}  // namespace

HttpFetcher::HttpFetcher(std::string url, std::string name, const RemoteOptions& options)
    : url_(std::move(url)), name_(std::move(name)), options_(options) {
  Result<const CurlApi*> api = LoadCurl();
  if (!api.ok()) {
    init_error_ = api.status();
    return;
  }
  curl_ = *api;
  multi_ = curl_->multi_init();
  if (multi_ == nullptr) {
    init_error_ = Status::ResourceExhausted(name_ + ": curl_multi_init failed");
    return;
  }
  curl_->multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_MAX_HOST_CONNECTIONS,
                      long(std::max(1, options.parallel)));
}

HttpFetcher::~HttpFetcher() {
  if (multi_ != nullptr) curl_->multi_cleanup(static_cast<CURLM*>(multi_));
}

namespace {
std::atomic<uint64_t> g_requests{0}, g_bytes{0}, g_hits{0}, g_hit_bytes{0}, g_retries{0};
}  // namespace

SourceStats RemoteStats() {
  return {g_requests.load(), g_bytes.load(), g_hits.load(), g_hit_bytes.load(), g_retries.load()};
}

void HttpFetcher::CountCacheHit(uint64_t bytes) {
  g_hits++;
  g_hit_bytes += bytes;
}

void HttpFetcher::CountBytes(uint64_t n) { g_bytes += n; }

// The reply's headers, checked before any of its body is used: the range
// asked for, of the same file as the probe saw.
Status HttpFetcher::CheckReply(const Job& job) const {
  const std::string where = name_ + ": " +
                            (job.probe ? "its last " + std::to_string(job.end) + " bytes"
                                       : RangeStr(job.attempt_begin, job.end));
  if (job.status == 404 || job.status == 410) {
    return Status::NotFound(where + ": HTTP " + std::to_string(job.status) + " (not found)");
  }
  if (job.status == 200) {
    return Status::IOError(where +
                           ": the server ignored the Range request (HTTP 200 with the "
                           "whole file); reading a model from a URL needs Range support");
  }
  if (job.status != 206) {
    return Status::IOError(where + ": HTTP " + std::to_string(job.status));
  }
  ContentRange cr;
  TQF_RETURN_IF_ERROR(ParseContentRange(job.content_range, &cr).WithContext(where));
  if (job.probe) {
    if (cr.last + 1 != cr.total || cr.last - cr.first + 1 != std::min(job.end, cr.total)) {
      return Status::Corruption(where + ": Content-Range '" + job.content_range +
                                "' is not the file's last " + std::to_string(job.end) + " bytes");
    }
    return Status::OK();
  }
  if (cr.total != validator_.size) {
    return Status::IOError(where + ": the remote file changed since it was opened (size " +
                           std::to_string(validator_.size) + " -> " + std::to_string(cr.total) +
                           "); open it again");
  }
  if (job.etag != validator_.etag || job.last_modified != validator_.last_modified) {
    const bool by_etag = job.etag != validator_.etag;
    return Status::IOError(
        where + ": the remote file changed since it was opened (" +
        (by_etag ? "ETag " + validator_.etag + " -> " + job.etag
                 : "Last-Modified " + validator_.last_modified + " -> " + job.last_modified) +
        "); open it again");
  }
  if (cr.first != job.attempt_begin || cr.last + 1 != job.end) {
    return Status::Corruption(where + ": the server answered another range (Content-Range '" +
                              job.content_range + "')");
  }
  return Status::OK();
}

static size_t HttpFetcherWrite(char* data, size_t size, size_t nmemb, void* arg) {
  auto* job = static_cast<HttpFetcher::Job*>(arg);
  const size_t n = size * nmemb;
  if (!job->checked) {
    job->error = job->owner->CheckReply(*job);
    if (!job->error.ok()) return 0;  // aborts the transfer: not one byte used
    job->checked = true;
  }
  if (job->probe) {
    if (job->body->size() + n > job->end) {
      job->error = Status::Corruption(job->owner->name() + ": reply longer than its Content-Range");
      return 0;
    }
    job->body->append(data, n);
  } else {
    if (n > job->end - job->pos) {
      job->error = Status::Corruption(job->owner->name() + ": " + RangeStr(job->begin, job->end) +
                                      ": reply longer than its Content-Range");
      return 0;
    }
    std::memcpy(job->dest + job->pos, data, n);
    job->pos += n;
  }
  job->owner->CountBytes(n);
  return n;
}

Status HttpFetcher::Start(Job* job) {
  CURL* e = job->easy = curl_->easy_init();
  if (e == nullptr) return Status::ResourceExhausted("curl_easy_init failed");
  job->status = 0;
  job->checked = false;
  job->error = Status::OK();
  job->errbuf[0] = '\0';
  job->attempt_begin = job->pos;
  const std::string range = job->probe
                                ? "-" + std::to_string(job->end)
                                : std::to_string(job->pos) + "-" + std::to_string(job->end - 1);
  if (job->probe) job->body->clear();
  curl_->easy_setopt(e, CURLOPT_URL, url_.c_str());
  curl_->easy_setopt(e, CURLOPT_RANGE, range.c_str());  // copied by curl
  curl_->easy_setopt(e, CURLOPT_WRITEFUNCTION, HttpFetcherWrite);
  curl_->easy_setopt(e, CURLOPT_WRITEDATA, job);
  curl_->easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_->easy_setopt(e, CURLOPT_HEADERDATA, job);
  curl_->easy_setopt(e, CURLOPT_PRIVATE, job);
  curl_->easy_setopt(e, CURLOPT_ERRORBUFFER, job->errbuf);
  curl_->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_->easy_setopt(e, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
  curl_->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, options_.low_speed_timeout_s);
  curl_->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_->easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
  // Refused rather than ignored: without them a redirect could lead to ftp://.
  if (curl_->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
      curl_->easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK) {
    curl_->easy_cleanup(e);
    job->easy = nullptr;
    return Status::NotSupported(name_ + ": this libcurl cannot restrict protocols to http/https");
  }
  curl_->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  curl_->easy_setopt(e, CURLOPT_USERAGENT, "tqf");
  g_requests++;
  if (curl_->multi_add_handle(static_cast<CURLM*>(multi_), e) != CURLM_OK) {
    return Status::IOError(name_ + ": curl_multi_add_handle failed");
  }
  return Status::OK();
}

// After a transfer ends: done, retry later (*retry), or a final error.
Status HttpFetcher::Finish(Job* job, int code, bool* retry) {
  *retry = false;
  if (!job->error.ok()) return job->error;  // a check failed: never retried
  bool complete = job->pos == job->end;
  if (job->probe) {
    ContentRange cr;
    complete = ParseContentRange(job->content_range, &cr).ok() &&
               job->body->size() == std::min(job->end, cr.total);
  }
  if (code == CURLE_OK && job->status == 206 && job->checked && complete) {
    job->done = true;
    return Status::OK();
  }
  const std::string where = name_ + ": " +
                            (job->probe ? "its last " + std::to_string(job->end) + " bytes"
                                        : RangeStr(job->begin, job->end));
  std::string why;
  if (code != CURLE_OK) {
    why = job->errbuf[0] ? job->errbuf : curl_->easy_strerror(static_cast<CURLcode>(code));
    if (!Retryable(code)) return Status::IOError(where + ": " + why);
  } else if (job->status == 206 || job->status == 0) {
    why = "reply truncated";
  } else if (job->status == 408 || job->status == 429 || job->status >= 500) {
    why = "HTTP " + std::to_string(job->status);
  } else {
    return CheckReply(*job);  // 200, 416, other 4xx: a clear, final error
  }
  if (++job->attempts > options_.max_retries) {
    return Status::IOError(where + ": " + why + " (gave up after " + std::to_string(job->attempts) +
                           " attempts)");
  }
  g_retries++;
  if (job->probe) job->pos = 0;
  job->ready =
      Clock::now() + std::chrono::milliseconds(int64_t{options_.backoff_ms} << (job->attempts - 1));
  *retry = true;
  return Status::OK();
}

Status HttpFetcher::RunJobs(std::vector<Job>* jobs) {
  CURLM* multi = static_cast<CURLM*>(multi_);
  size_t active = 0, finished = 0;
  Status result;
  while (finished < jobs->size() && result.ok()) {
    const auto now = Clock::now();
    for (Job& j : *jobs) {
      if (active >= size_t(std::max(1, options_.parallel))) break;
      if (j.done || j.easy != nullptr || j.ready > now) continue;
      result = Start(&j);
      if (!result.ok()) break;
      ++active;
    }
    int running = 0;
    curl_->multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_->multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      Job* j = nullptr;
      curl_->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&j));
      const int code = m->data.result;
      curl_->multi_remove_handle(multi, j->easy);
      curl_->easy_cleanup(j->easy);
      j->easy = nullptr;
      --active;
      bool retry = false;
      Status s = Finish(j, code, &retry);
      if (!s.ok() && result.ok()) result = s;
      if (j->done) ++finished;
    }
    if (finished < jobs->size() && result.ok()) curl_->multi_poll(multi, nullptr, 0, 20, nullptr);
  }
  for (Job& j : *jobs) {  // after an error: abandon the others
    if (j.easy == nullptr) continue;
    curl_->multi_remove_handle(multi, j.easy);
    curl_->easy_cleanup(j.easy);
    j.easy = nullptr;
  }
  return result;
}

Status HttpFetcher::Probe(uint64_t tail, std::string* body) {
  if (!init_error_.ok()) return init_error_.WithContext(name_);
  std::vector<Job> jobs(1);
  Job& j = jobs[0];
  j.owner = this;
  j.probe = true;
  j.end = tail;
  j.body = body;
  Status s = RunJobs(&jobs);
  if (!s.ok()) return s;
  ContentRange cr;
  TQF_RETURN_IF_ERROR(ParseContentRange(j.content_range, &cr).WithContext(name_));
  validator_ = {cr.total, j.etag, j.last_modified};
  probed_ = true;
  return Status::OK();
}

Status HttpFetcher::Fetch(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint8_t* dest) {
  if (!probed_) return Status::InvalidArgument("HttpFetcher::Fetch before Probe");
  std::vector<Job> jobs(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    jobs[i].owner = this;
    jobs[i].begin = jobs[i].pos = ranges[i].first;
    jobs[i].end = ranges[i].second;
    jobs[i].dest = dest;
  }
  return RunJobs(&jobs);
}

}  // namespace tqf
