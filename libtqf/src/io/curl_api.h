// libcurl, loaded with dlopen the first time a URL is opened instead of
// linked: linking it maps libcurl and its ~30 dependencies (TLS, LDAP,
// Kerberos, ...) into every tqf process, 5.6 MiB of RSS even for `tqf
// inspect` of a local file, though only URLs use it. The types come from
// <curl/curl.h> at build time; the functions from libcurl.so.4 (soname 4
// has been ABI-stable since 2006) at run time.
//
// Thread-safety: LoadCurl may be called from any thread; the table it
// returns is immutable and lives until the process exits (never dlclosed).
#ifndef TQF_IO_CURL_API_H_
#define TQF_IO_CURL_API_H_

#include <curl/curl.h>

#include "tqf/result.h"

namespace tqf {

// The libcurl functions HttpFetcher calls, named without their curl_ prefix.
struct CurlApi {
  CURLcode (*global_init)(long flags);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL* easy, CURLoption option, ...);
  CURLcode (*easy_getinfo)(CURL* easy, CURLINFO info, ...);
  void (*easy_cleanup)(CURL* easy);
  const char* (*easy_strerror)(CURLcode code);
  CURLM* (*multi_init)();
  CURLMcode (*multi_setopt)(CURLM* multi, CURLMoption option, ...);
  CURLMcode (*multi_add_handle)(CURLM* multi, CURL* easy);
  CURLMcode (*multi_remove_handle)(CURLM* multi, CURL* easy);
  CURLMcode (*multi_perform)(CURLM* multi, int* running);
  CURLMsg* (*multi_info_read)(CURLM* multi, int* left);
  CURLMcode (*multi_poll)(CURLM* multi, struct curl_waitfd extra[], unsigned n, int timeout_ms,
                          int* ret);
  CURLMcode (*multi_cleanup)(CURLM* multi);
};

// Loads libcurl once (later calls return the same table, or the same
// error) and runs curl_global_init. Fails with kNotSupported, saying which
// library or function is missing, when libcurl.so.4 cannot be loaded or
// lacks a function tqf needs (libcurl >= 7.85: CURLOPT_PROTOCOLS_STR).
// TQF_LIBCURL names another file to load (tests use it to check the error).
Result<const CurlApi*> LoadCurl();

}  // namespace tqf

#endif  // TQF_IO_CURL_API_H_
