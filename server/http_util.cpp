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
  res.set_content(body.dump(), "application/json");
}

Result<nlohmann::json> ParseJsonBody(const httplib::Request& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return InvalidArgument("request body is not a JSON object", "bad_json");
  }
  return body;
}

}  // namespace hostca::server
