// What a host does with the server, without the command line around it:
// enroll, renew and fetch the CA's announcements. Shared by the host commands
// and the agent. Not thread-safe (writes the state directory).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cli/keygen.h"
#include "cli/session.h"
#include "cli/state.h"

namespace hostca::cli {

struct EnrollParams {
  std::string hostname;
  std::string token;  // "" = none
  KeyType key_type = KeyType::kP256;
};

// New key, CSR for CN=hostname, POST /v1/enroll, then SaveIssued. The key
// stays in memory until the server answered 201. Returns the server's answer
// ({host_id, serial, certificate, chain[], not_after}).
Result<nlohmann::json> EnrollHost(const Globals& g, const EnrollParams& params);

// New key of the current key's type, CSR, POST /v1/renew authenticated with
// the current certificate, then SaveIssued. Returns the server's answer.
Result<nlohmann::json> RenewHost(const Globals& g, const HostState& host);

// GET /v1/ca with the pinned client; the answer must be a JSON object.
Result<ApiResponse> GetCaInfo(const Globals& g);

}  // namespace hostca::cli
