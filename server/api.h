// The HTTPS API routes of DESIGN.md section 8. Handlers are thin: parse,
// authenticate, call enrollment::EnrollmentService or AdminService, render.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "ca/issuer.h"
#include "common/clock.h"
#include "crl/publisher.h"
#include "enrollment/admin.h"
#include "enrollment/domain_mode.h"
#include "enrollment/external.h"
#include "enrollment/service.h"
#include "server/metrics.h"

namespace hostca::server {

struct ApiContext {
  enrollment::EnrollmentService& enroll;
  enrollment::AdminService& admin;
  Metrics& metrics;
  storage::Storage& store;
  const Clock& clock;
  crl::Publisher& crl;
  const enrollment::ModeState& mode;
  enrollment::ExternalEnrollment* external;  // null: no [external] trust bundle
  // The CA's issuing chain as a JSON array (JsonStringArray), for every
  // issuance answer: encoded once, not per request.
  const std::string chain_json;
  // For POST /v1/admin-certs and POST /v1/tidy (hostca-server admin-cert and
  // tidy while this server holds the store; running_server.h).
  const ca::Issuer& issuer;
  const int64_t tidy_retention_days;
};

// Registers every /v1 route except GET /v1/ca (the server owns it).
void RegisterApi(httplib::Server& srv, ApiContext& ctx);

// JSON of a certificate record (DESIGN.md section 8 conventions).
nlohmann::json CertJson(const storage::CertRecord& rec, int64_t now, bool with_pem);

}  // namespace hostca::server
