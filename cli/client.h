// ApiClient: the `hostca` client's connection to a hostca server over HTTPS.
//
// A client is either *unpinned* (no server verification; used only to fetch
// the CA once so its fingerprint can be compared with the one the operator
// typed) or *pinned* to a CA certificate, in which case the server's
// certificate must chain to it and match the host name of the URL. A pinned
// client may also present a TLS client certificate (a host renewing or
// revoking its own certificate) and an admin bearer token.
//
// Not thread-safe; one per thread. Each call opens its own connection.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::cli {

struct ServerUrl {
  std::string host;
  int port = 443;
};
// Accepts https://HOST[:PORT][/]; invalid_argument otherwise.
Result<ServerUrl> ParseServerUrl(const std::string& url);

// Percent-encodes everything but RFC 3986 unreserved characters, for one
// path segment or one query value.
std::string UrlEncode(std::string_view text);
// "?k1=v1&k2=v2" of the pairs whose value is not empty, values encoded;
// "" when every value is empty.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params);

// A TLS client identity. The client borrows nothing: Create takes its own
// references.
struct ClientCertificate {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;  // issuing chain above `cert`; self-signed roots are not sent
};

struct ApiResponse {
  int status = 0;
  nlohmann::json body;  // null when the body is not JSON
  std::string raw;
  std::string date;  // the HTTP Date header, "" when the server sent none
  std::string etag;  // the ETag header, "" when the server sent none
};

enum class Method { kGet, kPost, kPut, kDelete };

class ApiClient {
 public:
  // ca_pem empty: unpinned.
  static Result<std::unique_ptr<ApiClient>> Create(const ServerUrl& url, const std::string& ca_pem);
  // Pinned, presenting `client_cert` (nullptr: none). invalid_argument when
  // ca_pem is empty and a client certificate is given, or the key does not
  // match the certificate.
  static Result<std::unique_ptr<ApiClient>> Create(const ServerUrl& url, const std::string& ca_pem,
                                                   const ClientCertificate* client_cert);

  // Sends `Authorization: Bearer <token>` with every later request.
  void SetBearerToken(const std::string& token);

  // A transport failure is unavailable "connection_failed"; any HTTP answer
  // (also 4xx/5xx) is returned as an ApiResponse.
  Result<ApiResponse> Get(const std::string& path);
  // GET with extra request headers (e.g. If-None-Match).
  Result<ApiResponse> Get(const std::string& path, const httplib::Headers& headers);
  Result<ApiResponse> Post(const std::string& path, const nlohmann::json& body);
  Result<ApiResponse> Put(const std::string& path, const nlohmann::json& body);
  Result<ApiResponse> Delete(const std::string& path);
  Result<ApiResponse> Call(Method method, const std::string& path, const nlohmann::json& body);

 private:
  explicit ApiClient(std::unique_ptr<httplib::SSLClient> client) : client_(std::move(client)) {}
  Status Pin(const std::string& ca_pem);
  Result<ApiResponse> Finish(const httplib::Result& res);
  std::unique_ptr<httplib::SSLClient> client_;
  X509StorePtr store_;
};

// The error of a non-2xx answer: the server's error code as the reason, its
// message with " (HTTP n)" appended, and a Code that matches the status.
Status ErrorFromResponse(const ApiResponse& res);

// `res` when it carries HTTP status `want`, else ErrorFromResponse.
Result<ApiResponse> ExpectStatus(Result<ApiResponse> res, int want);

}  // namespace hostca::cli
