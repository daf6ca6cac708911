// OpenSource: a local file through MappedFile, a URL through HttpSource;
// the process-wide RemoteOptions.
#include "tqf/source.h"

#include <cstdint>
#include <mutex>

#include "tqf/mapped_file.h"
#if TQF_WITH_HTTP
#include "io/http_source.h"
#endif

namespace tqf {

namespace {

// A local file: every byte is always readable, hints go to the page cache.
class LocalSource : public Source {
 public:
  explicit LocalSource(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {}
  const uint8_t* data() const override { return file_->data(); }
  uint64_t size() const override { return file_->size(); }
  const std::string& name() const override { return file_->path(); }
  bool remote() const override { return false; }
  Status Ensure(const SourceExtent*, size_t) override { return Status::OK(); }
  void WillNeed(const SourceExtent* r, size_t n) override {
    for (size_t i = 0; i < n; ++i) file_->WillNeed(r[i].offset, r[i].size);
  }
  void DontNeed(uint64_t offset, uint64_t size) override { file_->DontNeed(offset, size); }
  bool can_read() const override { return true; }
  Status Read(uint64_t offset, uint64_t size, uint8_t* out) override {
    if (size > SIZE_MAX) return Status::InvalidArgument(name() + ": read too large");
    return file_->Read(offset, static_cast<size_t>(size), out);
  }

 private:
  std::shared_ptr<const MappedFile> file_;
};

std::mutex defaults_mu;
RemoteOptions& Defaults() {
  static RemoteOptions options;
  return options;
}

}  // namespace

Result<std::shared_ptr<Source>> OpenSource(const std::string& path_or_url,
                                           const RemoteOptions& options) {
  if (IsRemoteUrl(path_or_url)) {
#if TQF_WITH_HTTP
    return HttpSource::Open(path_or_url, options);
#else
    (void)options;
    return Status::NotSupported(RedactUrl(path_or_url) +
                                ": this tqf was built without HTTP support (TQF_WITH_HTTP=OFF)");
#endif
  }
  TQF_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path_or_url));
  return std::shared_ptr<Source>(std::make_shared<LocalSource>(std::move(file)));
}

#if !TQF_WITH_HTTP
SourceStats RemoteStats() { return {}; }
Status FetchFile(const std::string& url, const std::string&,
                 const std::function<void(uint64_t, uint64_t)>&) {
  return Status::NotSupported(RedactUrl(url) +
                              ": this tqf was built without HTTP support (TQF_WITH_HTTP=OFF)");
}
#endif

void SetDefaultRemoteOptions(const RemoteOptions& options) {
  std::lock_guard<std::mutex> lock(defaults_mu);
  Defaults() = options;
}

RemoteOptions DefaultRemoteOptions() {
  std::lock_guard<std::mutex> lock(defaults_mu);
  return Defaults();
}

}  // namespace tqf
