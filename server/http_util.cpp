#include "server/http_util.h"

namespace hostca::server {

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kConflict:
      return 409;
    case Code::kResourceExhausted:
      return status.reason() == "rate_limited" ? 429 : 507;
    case Code::kUnavailable:
      return 503;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

void WriteError(httplib::Response& res, const Status& status) {
  const nlohmann::json body = {
      {"error", {{"code", status.reason()}, {"message", status.message()}}}};
  WriteJson(res, HttpStatusFor(status), body);
}

void WriteJson(httplib::Response& res, int http_status, const nlohmann::json& body) {
  res.status = http_status;
  // Messages may quote request bytes that are not UTF-8 (a path, a query
  // parameter): replace them with U+FFFD rather than throwing.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void WriteHttpError(httplib::Response& res) {
  const int status = res.status;
  const char* code = "bad_request";
  const char* message = "malformed request";
  switch (status) {
    case 400:
      break;
    case 404:
      code = "not_found";
      message = "no such resource";
      break;
    case 408:
      code = "request_timeout";
      message = "the request was not received in time";
      break;
    case 413:
      code = "body_too_large";
      message = "request body too large";
      break;
    case 414:
      code = "uri_too_long";
      message = "request URI too long";
      break;
    case 416:
      code = "range_not_satisfiable";
      message = "requested range not satisfiable";
      break;
    default:
      if (status >= 500) {
        code = "internal";
        message = "internal error";
      }
      break;
  }
  res.headers.erase("EXCEPTION_WHAT");
  WriteJson(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

Result<nlohmann::json> ParseJsonBody(const httplib::Request& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return InvalidArgument("request body is not a JSON object", "bad_json");
  }
  return body;
}

}  // namespace hostca::server
