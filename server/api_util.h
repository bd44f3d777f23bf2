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
// The client certificate of the request's TLS connection (null: none) and
// the chain the client sent with it (owned by the connection).
struct PeerCertificate {
  X509Ptr cert;
  STACK_OF(X509) * chain = nullptr;
};
PeerCertificate PeerCertificateOf(const httplib::Request& req);

// The peer's client certificate, verified by the domain mode's rules: an
// external one (ExternalEnrollment::Authenticate) in mixed and external
// mode, one of this CA's (EnrollmentService::Authenticate) except in
// external mode (401 internal_cert_refused).
Result<enrollment::ClientIdentity> ClientIdentity(ApiContext& ctx, const httplib::Request& req);

// A string field; empty when absent and not required; invalid_argument
// (missing_field / bad_field) otherwise.
Result<std::string> StringField(const nlohmann::json& body, const char* name, bool required);
Result<int64_t> IntField(const nlohmann::json& body, const char* name, int64_t def);
// "reason" as an RFC 5280 name, `def` when absent.
Result<int> ReasonField(const nlohmann::json& body, const char* def);

// The JSON text of an issuance answer (201 of enroll and renew):
// {host_id, serial, certificate, chain, not_after}, with `chain_json` the
// issuing chain's array text (JsonStringArray of Issuer::chain_pem), which
// is the same for every answer and so is encoded once (ApiContext).
std::string IssuedAnswer(const enrollment::IssuedResponse& r, const std::string& chain_json);
std::string JsonStringArray(const std::vector<std::string>& items);
nlohmann::json TokenJson(const storage::TokenRecord& t, int64_t now);
// `certs` (the host's certificates, may be null) adds "source": external
// when one of them is a valid external certificate, else internal.
nlohmann::json HostJson(const storage::HostRecord& h,
                        const std::vector<storage::CertRecord>* certs = nullptr, int64_t now = 0);

}  // namespace hostca::server
