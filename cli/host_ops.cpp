#include "cli/host_ops.h"

namespace hostca::cli {
namespace {

// Sends a CSR for `key` to `path` and saves what comes back.
Result<nlohmann::json> RequestAndSave(const Globals& g, ApiClient& client, const std::string& path,
                                      nlohmann::json body, const std::string& hostname,
                                      EVP_PKEY* key) {
  HOSTCA_ASSIGN_OR_RETURN(body["csr"], MakeCsrPem(key, hostname));
  HOSTCA_ASSIGN_OR_RETURN(ApiResponse res, ExpectStatus(client.Post(path, body), 201));
  HOSTCA_ASSIGN_OR_RETURN(IssuedCert issued, ParseIssued(res.body));
  const StatePaths paths(g.dir);
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, LoadPinnedCa(paths));
  HOSTCA_RETURN_IF_ERROR(SaveIssued(paths, ca_pem, hostname, key, issued));
  return std::move(res.body);
}

}  // namespace

Result<nlohmann::json> EnrollHost(const Globals& g, const EnrollParams& params) {
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> client, PinnedClient(g));
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(params.key_type));
  nlohmann::json body = {{"hostname", params.hostname}};
  if (!params.token.empty()) {
    body["token"] = params.token;
  }
  return RequestAndSave(g, *client, "/v1/enroll", std::move(body), params.hostname, key.get());
}

Result<nlohmann::json> RenewHost(const Globals& g, const HostState& host) {
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> client, HostClient(g, host));
  auto type = KeyTypeOf(host.key.get());
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateKey(type.ok() ? *type : KeyType::kP256));
  return RequestAndSave(g, *client, "/v1/renew", nlohmann::json::object(), host.hostname,
                        key.get());
}

Result<ApiResponse> GetCaInfo(const Globals& g) {
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> client, PinnedClient(g));
  HOSTCA_ASSIGN_OR_RETURN(ApiResponse res, ExpectStatus(client->Get("/v1/ca"), 200));
  if (!res.body.is_object()) {
    return Internal("GET /v1/ca did not answer a JSON object", "bad_response");
  }
  return res;
}

}  // namespace hostca::cli
