// Session: the global options of the `hostca` client and the ways it talks
// to the server, all pinned to DIR/ca.crt (plus DIR/external/trust.pem when
// an external certificate is installed):
//   PinnedClient  anyone (GET /v1/ca, POST /v1/enroll)
//   HostClient    + TLS client authentication with host.crt/host.key
//   ExternalClient + TLS client authentication with an external certificate
//   AdminCall     + Authorization: Bearer <admin token>
// Not thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/client.h"
#include "cli/state.h"
#include "common/status.h"

namespace hostca::cli {

// Options that may stand before or after any subcommand.
struct Globals {
  std::string server = "https://localhost:8443";  // --server, env HOSTCA_SERVER
  std::string dir = "/var/lib/hostca";            // --dir: host state
  bool json = false;                              // --json: one JSON document on stdout
  std::string admin_token_file;                   // --admin-token-file; else HOSTCA_ADMIN_TOKEN
};

// A client pinned to DIR/ca.crt. not_found "ca_not_pinned" before `ca get`.
Result<std::unique_ptr<ApiClient>> PinnedClient(const Globals& g);
// A pinned client presenting an external certificate (cli/external_state.h).
Result<std::unique_ptr<ApiClient>> ExternalClient(const Globals& g, const ClientCertificate& id);
// A pinned client presenting the host's certificate and key.
Result<std::unique_ptr<ApiClient>> HostClient(const Globals& g, const HostState& host);

// A token file's content without trailing whitespace (the newline an editor
// or `echo` leaves).
Result<std::string> ReadTokenFile(const std::string& path);

// The admin token: the file's content without trailing whitespace, else the
// HOSTCA_ADMIN_TOKEN variable; unauthenticated "admin_token_missing" when
// neither gives one.
Result<std::string> AdminToken(const Globals& g);

// One admin call: pinned client, bearer token, `method path` with `body`
// (ignored for GET/DELETE). Returns the answer's JSON body when the server
// answers `want`, else the server's error (ErrorFromResponse).
Result<nlohmann::json> AdminCall(const Globals& g, Method method, const std::string& path,
                                 const nlohmann::json& body, int want);

}  // namespace hostca::cli
