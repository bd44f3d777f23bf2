// NewHttpCrlFetcher (crl/external_verifier.h): plain-HTTP CRL downloads
// with cpp-httplib. Each Fetch uses its own client, so the fetcher is
// thread-safe.
#include <httplib.h>

#include <charconv>

#include "crl/external_verifier.h"
#include "crl/internal/external_crls.h"
#include "crl/internal/external_parse.h"

namespace hostca::crl {
namespace {

// Redirects followed, each only to another http:// URL.
constexpr int kMaxRedirects = 3;

Status FetchError(const std::string& url, const std::string& what) {
  return Unavailable("CRL download from " + url + " failed: " + what,
                     internal::kReasonCrlUnavailable);
}

// The next URL of a redirect from `from` to `location`: an absolute
// http:// URL, or an absolute path on the same host; "" otherwise.
std::string RedirectTarget(const internal::HttpUrl& from, const std::string& location) {
  if (internal::SplitHttpUrl(location).ok()) {
    return location;
  }
  if (location.size() > 1 && location[0] == '/' && location[1] != '/') {
    const bool v6 = from.host.find(':') != std::string::npos;
    const std::string host = v6 ? "[" + from.host + "]" : from.host;
    const std::string url = "http://" + host + ":" + std::to_string(from.port) + location;
    return internal::SplitHttpUrl(url).ok() ? url : "";
  }
  return "";
}

class HttpCrlFetcher final : public CrlFetcher {
 public:
  HttpCrlFetcher(int timeout_seconds, size_t max_bytes)
      : timeout_seconds_(timeout_seconds), max_bytes_(max_bytes) {}

  Result<std::string> Fetch(const std::string& url) override {
    std::string current = url;
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      auto parsed = internal::SplitHttpUrl(current);
      if (!parsed.ok()) {
        return FetchError(url, parsed.status().message());
      }
      int status = 0;
      std::string location, body;
      bool too_big = false;
      httplib::Client client(parsed->host, parsed->port);
      client.set_connection_timeout(timeout_seconds_);
      client.set_read_timeout(timeout_seconds_);
      client.set_write_timeout(timeout_seconds_);
      client.set_follow_location(false);
      client.set_url_encode(false);  // the URL is used as the certificate gives it
      client.set_keep_alive(false);
      const auto on_response = [&](const httplib::Response& res) {
        status = res.status;
        location = res.get_header_value("Location");
        if (status != 200) {
          return false;  // do not read an error body
        }
        const std::string length = res.get_header_value("Content-Length");
        uint64_t n = 0;
        const auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
        if (!length.empty() && ec == std::errc() && n > max_bytes_) {
          too_big = true;
          return false;
        }
        return true;
      };
      const auto on_content = [&](const char* data, size_t len) {
        if (body.size() + len > max_bytes_) {
          too_big = true;
          return false;
        }
        body.append(data, len);
        return true;
      };
      const auto res = client.Get(parsed->path, {{"Accept", "application/pkix-crl, */*"}},
                                  on_response, on_content);
      if (too_big) {
        return FetchError(url, "the CRL is larger than " + std::to_string(max_bytes_) + " bytes");
      }
      if (status >= 300 && status < 400 && !location.empty()) {
        current = RedirectTarget(*parsed, location);
        if (current.empty()) {
          return FetchError(url, "redirected to a non-http URL");
        }
        continue;
      }
      if (status != 0 && status != 200) {
        return FetchError(url, "HTTP status " + std::to_string(status));
      }
      if (!res) {
        return FetchError(url, httplib::to_string(res.error()));
      }
      return body;
    }
    return FetchError(url, "more than " + std::to_string(kMaxRedirects) + " redirects");
  }

 private:
  const int timeout_seconds_;
  const size_t max_bytes_;
};

}  // namespace

std::unique_ptr<CrlFetcher> NewHttpCrlFetcher(int timeout_seconds, size_t max_bytes) {
  return std::make_unique<HttpCrlFetcher>(timeout_seconds, max_bytes);
}

}  // namespace hostca::crl
