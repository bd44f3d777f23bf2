#include "server/http_util.h"

#include <algorithm>

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

void WriteJsonText(httplib::Response& res, int http_status, std::string json_text) {
  res.status = http_status;
  res.body = std::move(json_text);
  res.set_header("Content-Type", "application/json");
}

void WriteKeptBody(httplib::Response& res, std::shared_ptr<const void> owner, std::string_view body,
                   const std::string& content_type, size_t slice) {
  res.set_content_provider(body.size(), content_type,
                           [owner = std::move(owner), body, slice](size_t offset, size_t length,
                                                                   httplib::DataSink& sink) {
                             return sink.write(body.data() + offset, std::min(length, slice));
                           });
}

namespace {

// The letter of a character's two-character JSON escape (\n for '\n'), or 0
// when it is plain or takes the \u00XX form.
char ShortEscape(unsigned char c) {
  switch (c) {
    case '"':
    case '\\':
      return static_cast<char>(c);
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    default:
      return 0;
  }
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  const size_t start = out->size();
  out->reserve(start + s.size() + s.size() / 32 + 2);
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Not ASCII: nlohmann's escaper, which replaces what is not UTF-8.
      out->resize(start);
      out->append(nlohmann::json(std::string(s))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out->append(s.substr(run, i - run));
    if (const char letter = ShortEscape(c); letter != 0) {
      const char esc[] = {'\\', letter};
      out->append(esc, sizeof(esc));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out->append(esc, sizeof(esc));
    }
    run = i + 1;
  }
  out->append(s.substr(run));
  out->push_back('"');
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
