// ApiFixture: a real hostca server (init + serve, real TLS on loopback,
// ephemeral ports) running inside the test process so the test can inject
// its clock and DNS resolver. Requests go through cpp-httplib clients pinned
// to the CA, optionally with a client certificate.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/file.h"
#include "common/ossl.h"
#include "common/pem.h"
#include "enrollment/resolver.h"
#include "server/init.h"
#include "server/server.h"
#include "storage/fault_storage.h"
#include "tests/testutil.h"

namespace hostca::testing {

struct HttpResult {
  int status = 0;
  nlohmann::json body;
  std::string raw;
  httplib::Headers headers;
  std::string code() const {
    return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "";
  }
};

// An httplib client's answer as an HttpResult: status -1 and the error's
// name in `raw` when no answer came; `body` is discarded JSON when the body
// is not JSON.
HttpResult FromHttplib(const httplib::Result& res);

// Evaluates `call` (an HttpResult) once, then checks the HTTP status and the
// error code (Catch2 REQUIREs in the calling test).
#define REQUIRE_ANSWER(call, st, c)         \
  do {                                      \
    const HttpResult res_ = (call);         \
    INFO(res_.raw);                         \
    REQUIRE(res_.status == (st));           \
    REQUIRE(res_.code() == std::string(c)); \
  } while (0)

// A fresh P-256 (or other) key and a CSR for it, made with OpenSSL.
struct KeyAndCsr {
  EvpPkeyPtr key;
  std::string csr_pem;
};
KeyAndCsr MakeCsr(const std::string& cn, const std::vector<std::string>& san_dns = {});

// The CRL from a server's plain-HTTP listener, parsed, and its CRL number.
X509CrlPtr FetchCrl(int http_port);
int64_t CrlNumber(X509_CRL* crl);

// The certificate and key a host holds after enrolling.
struct HostCreds {
  std::string host_id, serial, cert_pem;
  EvpPkeyPtr key;
  X509Ptr cert;
};

class ApiFixture {
 public:
  explicit ApiFixture(server::ServerOptions tweaks = {});
  ~ApiFixture();

  FakeClock& clock() { return clock_; }
  enrollment::StaticResolver& resolver() { return resolver_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& admin_token() const { return admin_token_; }
  const std::string& ca_path() const { return ca_path_; }
  int https_port() const { return server_->https_port(); }
  int http_port() const { return server_->http_port(); }
  // The server's store is wrapped in a FaultInjectingStorage (unarmed: a
  // pass-through): arm it to make the server's writes fail as on a broken
  // or full disk, Clear() it to recover. Owned by the server.
  storage::FaultInjectingStorage& faults() { return *faults_; }

  // Clients verify the server against this PEM file instead of the CA
  // certificate (a bundle of the CA and an external root when the server
  // presents its external certificate).
  void SetServerTrust(const std::string& pem_path) { trust_path_ = pem_path; }

  // Any request; `creds` adds a TLS client certificate; `bearer` an admin token.
  HttpResult Call(const std::string& method, const std::string& path,
                  const nlohmann::json& body = nullptr, const HostCreds* creds = nullptr,
                  const std::string& bearer = "");
  HttpResult AdminCall(const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr) {
    return Call(method, path, body, nullptr, admin_token_);
  }
  // POST /v1/enroll with a fresh key; on 201 fills `out`.
  HttpResult Enroll(const std::string& hostname, const std::string& token = "",
                    HostCreds* out = nullptr);
  // POST /v1/renew with `creds` and a fresh key; on 201 replaces `*creds`.
  HttpResult Renew(HostCreds* creds);
  // Creates a token through the admin API and returns its value.
  std::string CreateToken(const std::string& name, int max_uses = 1,
                          const std::string& host_id = "", int64_t ttl = 86400);
  std::string SetLevel(const std::string& level);
  // Stops the server as SIGTERM does and waits for its Run to return (the
  // destructor does it too).
  void Stop();

 private:
  TempDir tmp_;
  FakeClock clock_;
  enrollment::StaticResolver resolver_;
  std::string data_dir_, admin_token_, ca_path_, trust_path_;
  storage::FaultInjectingStorage* faults_ = nullptr;  // owned by server_
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
};

}  // namespace hostca::testing
