// Every JSON request body the HTTPS API parses (DESIGN.md section 8), as
// far as it is reachable without a socket and a store: ParseJsonBody, the
// field helpers of server/api_util.h in the order each handler calls them,
// and the pure validators the handlers and policy objects apply next
// (hostnames, token specs and values, reasons, levels, times). Each input
// goes through every handler's extraction; errors are rendered with
// WriteError as the server would answer them.
#include <httplib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "enrollment/names.h"
#include "enrollment/security_level.h"
#include "enrollment/service.h"
#include "enrollment/tokens.h"
#include "fuzz/fuzz_check.h"
#include "server/api_util.h"
#include "server/http_util.h"

namespace {

using hostca::Result;
using hostca::Status;
using nlohmann::json;
namespace server = hostca::server;
namespace enrollment = hostca::enrollment;

// The answer the server would send for a refusal; must be valid JSON with
// the error code (Instrument parses it back to count refusals).
void Refuse(const Status& st) {
  FUZZ_CHECK(!st.ok());
  httplib::Response res;
  server::WriteError(res, st);
  FUZZ_CHECK(res.status >= 400 && res.status < 600);
  const json back = json::parse(res.body, nullptr, false);
  FUZZ_CHECK(back.is_object() && back.contains("error"));
  FUZZ_CHECK(back["error"].value("code", "") == st.reason());
}

template <typename T>
bool Failed(const Result<T>& r) {
  if (!r.ok()) {
    Refuse(r.status());
    return true;
  }
  return false;
}

bool Failed(const Status& st) {
  if (!st.ok()) {
    Refuse(st);
    return true;
  }
  return false;
}

// POST /v1/enroll {csr, hostname, token?}
void Enroll(const json& body) {
  auto csr = server::StringField(body, "csr", true);
  auto hostname = server::StringField(body, "hostname", true);
  auto token = server::StringField(body, "token", false);
  if (Failed(csr) || Failed(hostname) || Failed(token)) {
    return;
  }
  if (Failed(enrollment::NormalizeHostname(*hostname))) {
    return;
  }
  if (!token->empty()) {
    (void)Failed(enrollment::TokenHashOf(*token));
  }
}

// POST /v1/renew {csr}
void Renew(const json& body) { (void)Failed(server::StringField(body, "csr", true)); }

// POST /v1/revoke {reason?}; POST /v1/hosts/{id}/revoke and
// POST /v1/certs/{serial}/revoke {reason?}
void Revoke(const json& body) {
  auto own = server::ReasonField(body, "keyCompromise");
  if (!Failed(own)) {
    FUZZ_CHECK(*own >= 0 && *own <= 10);
    FUZZ_CHECK(!enrollment::RevocationReasonName(*own).empty());
  }
  auto admin = server::ReasonField(body, "unspecified");
  if (!Failed(admin)) {
    FUZZ_CHECK(*admin >= 0 && *admin <= 10);
  }
}

// POST /v1/tokens {name, max_uses?, ttl_seconds?, reason?, host_id?}
void CreateToken(const json& body) {
  auto name = server::StringField(body, "name", true);
  auto uses = server::IntField(body, "max_uses", 1);
  auto ttl = server::IntField(body, "ttl_seconds", 86400);
  auto reason = server::StringField(body, "reason", false);
  auto host = server::StringField(body, "host_id", false);
  if (Failed(name) || Failed(uses) || Failed(ttl) || Failed(reason) || Failed(host)) {
    return;
  }
  if (*uses < 1 || *uses > 100000) {
    return Refuse(hostca::InvalidArgument("max_uses must be between 1 and 100000"));
  }
  enrollment::TokenSpec spec;
  spec.name = *name;
  spec.max_uses = static_cast<uint32_t>(*uses);
  spec.ttl_seconds = *ttl;
  spec.reason = *reason;
  spec.host_id = *host;
  if (Failed(enrollment::ValidateTokenSpec(spec))) {
    return;
  }
  hostca::storage::TokenRecord rec;
  const enrollment::CreatedToken created = enrollment::NewToken(spec, 1'800'000'000, &rec);
  FUZZ_CHECK(enrollment::TokenHashOf(created.value).ok());
  (void)hostca::FormatRfc3339(created.expires_at);
}

// POST /v1/hosts {hostname, aliases[]?}
void AddHost(const json& body) {
  auto hostname = server::StringField(body, "hostname", true);
  if (Failed(hostname)) {
    return;
  }
  std::vector<std::string> aliases;
  if (body.contains("aliases")) {
    const json& a = body["aliases"];
    if (!a.is_array() ||
        !std::all_of(a.begin(), a.end(), [](const json& v) { return v.is_string(); })) {
      return Refuse(hostca::InvalidArgument("aliases must be an array of strings", "bad_field"));
    }
    aliases = a.get<std::vector<std::string>>();
  }
  (void)Failed(enrollment::NormalizeHostname(*hostname));
  for (const auto& alias : aliases) {
    (void)Failed(enrollment::NormalizeHostname(alias));
  }
}

// POST /v1/hosts/{id}/allow-reissue {seconds?}
void AllowReissue(const json& body) {
  auto seconds = server::IntField(body, "seconds", 48 * 3600);
  if (Failed(seconds)) {
    return;
  }
  // AdminService::AllowReissue's range check comes before any arithmetic.
  if (*seconds < 60 || *seconds > 30LL * 86400) {
    return Refuse(hostca::InvalidArgument("seconds must be between 60 and 2592000 (30 days)"));
  }
  (void)hostca::FormatRfc3339(1'800'000'000 + *seconds);
}

// PUT /v1/security-level {level}
void SetLevel(const json& body) {
  auto name = server::StringField(body, "level", true);
  if (Failed(name)) {
    return;
  }
  auto level = enrollment::ParseSecurityLevel(*name);
  if (!Failed(level)) {
    FUZZ_CHECK(enrollment::SecurityLevelName(*level) == *name);
    FUZZ_CHECK(enrollment::CrlRefreshSeconds(*level) > 0);
  }
}

// PUT /v1/mode {mode}
void SetMode(const json& body) { (void)Failed(server::StringField(body, "mode", true)); }

// Strings that other calls take as times (GET /v1/certs?expires_before=):
// any string field of the body.
void Times(const json& body) {
  for (const auto& [key, value] : body.items()) {
    if (value.is_string()) {
      (void)hostca::ParseRfc3339(value.get<std::string>());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  httplib::Request req;
  req.body.assign(reinterpret_cast<const char*>(data), size);
  auto parsed = server::ParseJsonBody(req);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().reason() == "bad_json");
    Refuse(parsed.status());
    return 0;
  }
  const json& body = *parsed;
  FUZZ_CHECK(body.is_object());
  Enroll(body);
  Renew(body);
  Revoke(body);
  CreateToken(body);
  AddHost(body);
  AllowReissue(body);
  SetLevel(body);
  SetMode(body);
  Times(body);
  // Success answers echo request strings back (names, modes): rendering
  // them must not throw, whatever they hold.
  json echo = json::object();
  for (const auto& [key, value] : body.items()) {
    if (value.is_string()) {
      echo[key] = value;
    }
  }
  httplib::Response res;
  server::WriteJson(res, 200, echo);
  FUZZ_CHECK(!res.body.empty());
  return 0;
}
