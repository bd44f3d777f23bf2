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
// Never throws on strings that are not UTF-8 (they are replaced).
void WriteJson(httplib::Response& res, int http_status, const nlohmann::json& body);
// The JSON error for an answer cpp-httplib made itself (res.body empty),
// keeping res.status: 400 bad_request, 404 not_found, 408 request_timeout,
// 413 body_too_large, 414 uri_too_long, 416 range_not_satisfiable, any other
// 4xx bad_request, 5xx internal.
void WriteHttpError(httplib::Response& res);

// Parses a JSON object body; invalid_argument "bad_json" otherwise.
Result<nlohmann::json> ParseJsonBody(const httplib::Request& req);

}  // namespace hostca::server
