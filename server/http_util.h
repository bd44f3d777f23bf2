// The HTTP edge: the one table from Status codes to HTTP statuses (DESIGN.md
// section 8), JSON answers and error bodies. Handlers stay thin by using it.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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
// An answer whose JSON text is already made (moved in, not copied).
void WriteJsonText(httplib::Response& res, int http_status, std::string json_text);
// Answers with `body`, which `owner` keeps alive, without copying it: the
// connection's thread writes it from where it lies, `slice` bytes at a time
// (so a server stopping is noticed between slices). For large bodies that
// are kept anyway, as the published CRL (49 MB at 1M entries), which
// set_content would copy for every download. HEAD and Range requests are
// cpp-httplib's, as with set_content.
void WriteKeptBody(httplib::Response& res, std::shared_ptr<const void> owner, std::string_view body,
                   const std::string& content_type, size_t slice = 1 << 20);
// The JSON error for an answer cpp-httplib made itself (res.body empty),
// keeping res.status: 400 bad_request, 404 not_found, 408 request_timeout,
// 413 body_too_large, 414 uri_too_long, 416 range_not_satisfiable, any other
// 4xx bad_request, 5xx internal.
void WriteHttpError(httplib::Response& res);

// Appends `s` to `out` as a JSON string (quotes included), escaped as
// nlohmann::json's dump escapes it. For answers built as text instead of a
// JSON tree: the issuance answer is mostly PEM, and dump's escaper walks it
// one byte at a time through a UTF-8 decoder (about 60k instructions per
// answer under callgrind), where runs of plain ASCII are copied here whole.
// Bytes of 0x80 and above are left to nlohmann (which replaces what is not
// UTF-8, as WriteJson does).
void AppendJsonString(std::string* out, std::string_view s);

// Parses a JSON object body; invalid_argument "bad_json" otherwise.
Result<nlohmann::json> ParseJsonBody(const httplib::Request& req);

}  // namespace hostca::server
