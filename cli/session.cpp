#include "cli/session.h"

#include <cctype>
#include <cstdlib>

#include "cli/external_state.h"
#include "common/file.h"

namespace hostca::cli {

namespace {

// The pinned CA, plus the external roots `hostca external enroll` stored:
// in mixed and external mode the server presents its external certificate.
Result<std::string> ServerTrust(const Globals& g) {
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, LoadPinnedCa(StatePaths(g.dir)));
  return ca_pem + ExternalTrustPem(g.dir);
}

}  // namespace

Result<std::unique_ptr<ApiClient>> PinnedClient(const Globals& g) {
  HOSTCA_ASSIGN_OR_RETURN(ServerUrl url, ParseServerUrl(g.server));
  HOSTCA_ASSIGN_OR_RETURN(std::string trust, ServerTrust(g));
  return ApiClient::Create(url, trust);
}

Result<std::unique_ptr<ApiClient>> ExternalClient(const Globals& g, const ClientCertificate& id) {
  HOSTCA_ASSIGN_OR_RETURN(ServerUrl url, ParseServerUrl(g.server));
  HOSTCA_ASSIGN_OR_RETURN(std::string trust, ServerTrust(g));
  return ApiClient::Create(url, trust, &id);
}

Result<std::unique_ptr<ApiClient>> HostClient(const Globals& g, const HostState& host) {
  HOSTCA_ASSIGN_OR_RETURN(ServerUrl url, ParseServerUrl(g.server));
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, ServerTrust(g));
  ClientCertificate identity{CopyRef(host.cert.get()), CopyRef(host.key.get()), {}};
  for (const X509Ptr& c : host.chain) {
    identity.chain.push_back(CopyRef(c.get()));
  }
  return ApiClient::Create(url, ca_pem, &identity);
}

Result<std::string> ReadTokenFile(const std::string& path) {
  HOSTCA_ASSIGN_OR_RETURN(std::string token, ReadFile(path));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
    token.pop_back();
  }
  return token;
}

Result<std::string> AdminToken(const Globals& g) {
  std::string token;
  if (!g.admin_token_file.empty()) {
    HOSTCA_ASSIGN_OR_RETURN(token, ReadTokenFile(g.admin_token_file));
  } else if (const char* env = std::getenv("HOSTCA_ADMIN_TOKEN"); env != nullptr) {
    token = env;
  }
  if (token.empty()) {
    return Unauthenticated("no admin token: give --admin-token-file FILE or set HOSTCA_ADMIN_TOKEN",
                           "admin_token_missing");
  }
  return token;
}

Result<nlohmann::json> AdminCall(const Globals& g, Method method, const std::string& path,
                                 const nlohmann::json& body, int want) {
  HOSTCA_ASSIGN_OR_RETURN(std::string token, AdminToken(g));
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> client, PinnedClient(g));
  client->SetBearerToken(token);
  HOSTCA_ASSIGN_OR_RETURN(ApiResponse res, ExpectStatus(client->Call(method, path, body), want));
  if (!res.body.is_object()) {
    return Internal("the server's answer is not a JSON object", "bad_response");
  }
  return std::move(res.body);
}

}  // namespace hostca::cli
