// Helpers shared by the API route files: instrumentation, admin
// authentication, typed JSON fields and record renderers.
#pragma once

#include <httplib.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "server/api.h"

namespace hostca::server {

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// Host ID prefix of the records of admin client certificates.
inline constexpr char kAdminCertPrefix[] = "admin:";

// Times a handler into the metrics and counts refusals by their code; an
// exception counts as 500 "internal" and goes on to the exception handler.
Handler Instrument(ApiContext& ctx, std::string route, Handler h);
// An admin call: a Bearer token checked in constant time against the stored
// hash, or (without one) an admin client certificate.
Handler Admin(ApiContext& ctx, Handler h);
// The peer's client certificate, verified (EnrollmentService::Authenticate).
Result<enrollment::ClientIdentity> ClientIdentity(ApiContext& ctx, const httplib::Request& req);

// A string field; empty when absent and not required; invalid_argument
// (missing_field / bad_field) otherwise.
Result<std::string> StringField(const nlohmann::json& body, const char* name, bool required);
Result<int64_t> IntField(const nlohmann::json& body, const char* name, int64_t def);
// "reason" as an RFC 5280 name, `def` when absent.
Result<int> ReasonField(const nlohmann::json& body, const char* def);

nlohmann::json IssuedJson(const enrollment::IssuedResponse& r);
nlohmann::json TokenJson(const storage::TokenRecord& t, int64_t now);
nlohmann::json HostJson(const storage::HostRecord& h);

}  // namespace hostca::server
