#include "io/curl_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>

namespace tqf {

namespace {

// Resolves every function of `api` from `lib`; the first one missing is the error.
Status Resolve(void* lib, const std::string& file, CurlApi* api) {
  Status status;
  auto get = [&](auto* fn, const char* name) {
    if (!status.ok()) return;
    void* sym = dlsym(lib, name);
    if (sym == nullptr) {
      status = Status::NotSupported(file + " has no " + name +
                                    "; reading models from URLs needs libcurl 7.85 or newer");
      return;
    }
    *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(sym);
  };
  get(&api->global_init, "curl_global_init");
  get(&api->easy_init, "curl_easy_init");
  get(&api->easy_setopt, "curl_easy_setopt");
  get(&api->easy_getinfo, "curl_easy_getinfo");
  get(&api->easy_cleanup, "curl_easy_cleanup");
  get(&api->easy_strerror, "curl_easy_strerror");
  get(&api->multi_init, "curl_multi_init");
  get(&api->multi_setopt, "curl_multi_setopt");
  get(&api->multi_add_handle, "curl_multi_add_handle");
  get(&api->multi_remove_handle, "curl_multi_remove_handle");
  get(&api->multi_perform, "curl_multi_perform");
  get(&api->multi_info_read, "curl_multi_info_read");
  get(&api->multi_poll, "curl_multi_poll");
  get(&api->multi_cleanup, "curl_multi_cleanup");
  return status;
}

Status Load(CurlApi* api) {
  const char* env = std::getenv("TQF_LIBCURL");
  const std::string file = env != nullptr && *env != '\0' ? env : "libcurl.so.4";
  void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return Status::NotSupported("reading models from URLs needs libcurl (Debian: libcurl4): " +
                                std::string(why != nullptr ? why : file + ": cannot load"));
  }
  TQF_RETURN_IF_ERROR(Resolve(lib, file, api));  // lib stays loaded: harmless, and rare
  // Every function exists since 7.66, but CURLOPT_PROTOCOLS_STR (which keeps
  // redirects to http/https) since 7.85 only: an older libcurl would ignore
  // it and follow redirects to ftp://, so it is refused here.
  auto version =
      reinterpret_cast<curl_version_info_data* (*)(CURLversion)>(dlsym(lib, "curl_version_info"));
  const curl_version_info_data* info = version != nullptr ? version(CURLVERSION_NOW) : nullptr;
  if (info == nullptr || info->version_num < 0x075500) {
    return Status::NotSupported(
        file + " is libcurl " +
        (info != nullptr ? std::string(info->version) : "of unknown version") +
        "; reading models from URLs needs libcurl 7.85 or newer");
  }
  const CURLcode code = api->global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return Status::NotSupported("curl_global_init failed: " +
                                std::string(api->easy_strerror(code)));
  }
  return Status::OK();
}

}  // namespace

Result<const CurlApi*> LoadCurl() {
  static CurlApi api;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = Load(&api); });
  if (!status.ok()) return status;
  return &api;
}

}  // namespace tqf
