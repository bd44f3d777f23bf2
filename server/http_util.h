// The HTTP edge: the one table from Status codes to HTTP statuses (DESIGN.md
// section 8), JSON answers and error bodies. Handlers stay thin by using it.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace hostca::server {

// invalid_argument 400, unauthenticated 401, permission_denied 403,
// not_found 404, already_exists/conflict 409, resource_exhausted 507 (or 429
// when the reason is "rate_limited"), unavailable 503, internal 500.
int HttpStatusFor(const Status& status);

// {"error": {"code": <reason>, "message": <message>}} with HttpStatusFor.
void WriteError(httplib::Response& res, const Status& status);
void WriteJson(httplib::Response& res, int http_status, const nlohmann::json& body);

// Parses a JSON object body; invalid_argument "bad_json" otherwise.
Result<nlohmann::json> ParseJsonBody(const httplib::Request& req);

}  // namespace hostca::server
