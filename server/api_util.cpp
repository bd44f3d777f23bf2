#include "server/api_util.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>

#include "common/encoding.h"
#include "server/http_util.h"

namespace hostca::server {

using nlohmann::json;

// Times a handler into the metrics and counts refusals by their code (an
// exception counts as a 500 "internal" and is rethrown to the server's
// exception handler).
Handler Instrument(ApiContext& ctx, std::string route, Handler h) {
  return [&ctx, route = std::move(route), h = std::move(h)](const httplib::Request& req,
                                                            httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&start] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    try {
      h(req, res);
    } catch (...) {
      // The server's exception handler answers 500 internal; count it here.
      ctx.metrics.ObserveRequest(route, 500, elapsed());
      ctx.metrics.CountRefused("internal");
      throw;
    }
    ctx.metrics.ObserveRequest(route, res.status, elapsed());
    if (res.status >= 400) {
      const json body = json::parse(res.body, nullptr, false);
      if (body.is_object() && body.contains("error")) {
        ctx.metrics.CountRefused(body["error"].value("code", "unknown"));
      }
    }
  };
}

// An admin call: Bearer token checked in constant time against the stored hash.
Handler Admin(ApiContext& ctx, Handler h) {
  return [&ctx, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    const std::string token = auth.rfind(prefix, 0) == 0 ? auth.substr(prefix.size()) : "";
    if (token.empty() && req.ssl != nullptr) {
      // An admin client certificate (hostca-server admin-cert): issued by
      // this CA, stored with host ID "admin:<name>", valid and unrevoked.
      if (auto who = ClientIdentity(ctx, req);
          who.ok() && who->record.host_id.rfind(kAdminCertPrefix, 0) == 0) {
        h(req, res);
        return;
      }
    }
    if (Status st = ctx.admin.CheckAdminToken(token); !st.ok()) {
      res.set_header("WWW-Authenticate", "Bearer");
      WriteError(res, st);
      return;
    }
    h(req, res);
  };
}

// The peer's client certificate and chain from the TLS connection, checked
// by the mode's rules (DESIGN.md section 7): external certificates in mixed
// and external mode, this CA's certificates except in external mode.
PeerCertificate PeerCertificateOf(const httplib::Request& req) {
  // httplib exposes the connection as const; OpenSSL's getters take it mutable.
  SSL* ssl = const_cast<SSL*>(req.ssl);
  PeerCertificate peer;
  if (ssl != nullptr) {
    peer.cert.reset(SSL_get1_peer_certificate(ssl));
    peer.chain = SSL_get_peer_cert_chain(ssl);
  }
  return peer;
}

Result<enrollment::ClientIdentity> ClientIdentity(ApiContext& ctx, const httplib::Request& req) {
  const auto [cert, chain] = PeerCertificateOf(req);
  const enrollment::DomainMode mode = ctx.mode.Get();
  if (cert && ctx.external != nullptr && mode != enrollment::DomainMode::kInternal &&
      ctx.external->IsExternal(cert.get(), chain)) {
    return ctx.external->Authenticate(cert.get(), chain);
  }
  if (cert && mode == enrollment::DomainMode::kExternal) {
    return Unauthenticated(
        "the domain is in external mode: only certificates signed by the external CA are "
        "accepted",
        "internal_cert_refused");
  }
  return ctx.enroll.Authenticate(cert.get(), chain);
}

std::string JsonStringArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) {
      out.push_back(',');
    }
    AppendJsonString(&out, item);
  }
  out.push_back(']');
  return out;
}

std::string IssuedAnswer(const enrollment::IssuedResponse& r, const std::string& chain_json) {
  std::string out;
  out.reserve(r.certificate_pem.size() + r.certificate_pem.size() / 48 + chain_json.size() + 192);
  out.append("{\"certificate\":");
  AppendJsonString(&out, r.certificate_pem);
  out.append(",\"chain\":").append(chain_json).append(",\"host_id\":");
  AppendJsonString(&out, r.host_id);
  out.append(",\"not_after\":");
  AppendJsonString(&out, FormatRfc3339(r.not_after));
  out.append(",\"serial\":");
  AppendJsonString(&out, r.serial_hex);
  out.push_back('}');
  return out;
}

// A string field; empty when absent; invalid_argument when of another type.
Result<std::string> StringField(const json& body, const char* name, bool required) {
  if (!body.contains(name) || body[name].is_null()) {
    if (required) {
      return InvalidArgument(std::string("missing field '") + name + "'", "missing_field");
    }
    return std::string();
  }
  if (!body[name].is_string()) {
    return InvalidArgument(std::string("field '") + name + "' must be a string", "bad_field");
  }
  return body[name].get<std::string>();
}

Result<int64_t> IntField(const json& body, const char* name, int64_t def) {
  if (!body.contains(name) || body[name].is_null()) {
    return def;
  }
  if (!body[name].is_number_integer()) {
    return InvalidArgument(std::string("field '") + name + "' must be an integer", "bad_field");
  }
  return body[name].get<int64_t>();
}

Result<int> ReasonField(const json& body, const char* def) {
  HOSTCA_ASSIGN_OR_RETURN(std::string name, StringField(body, "reason", false));
  return enrollment::ParseRevocationReason(name.empty() ? def : name);
}

json TokenJson(const storage::TokenRecord& t, int64_t now) {
  json j = {{"name", t.name},
            {"max_uses", t.max_uses},
            {"uses", t.uses},
            {"created_at", FormatRfc3339(t.created_at)},
            {"expires_at", FormatRfc3339(t.expires_at)},
            {"state", now >= t.expires_at    ? "expired"
                      : t.uses >= t.max_uses ? "used_up"
                                             : "active"}};
  if (!t.reason.empty()) {
    j["reason"] = t.reason;
  }
  if (!t.host_id.empty()) {
    j["host_id"] = t.host_id;
  }
  return j;
}

json HostJson(const storage::HostRecord& h, const std::vector<storage::CertRecord>* certs,
              int64_t now) {
  json j = {{"host_id", h.host_id},
            {"hostname", h.primary_name},
            {"aliases", h.aliases},
            {"created_at", FormatRfc3339(h.created_at)},
            {"preregistered", h.preregistered}};
  if (certs != nullptr) {
    // A host holding a valid external certificate uses it (DESIGN.md 7).
    const bool external = std::any_of(certs->begin(), certs->end(), [&](const auto& c) {
      return c.source == "external" && enrollment::CertStatusAt(c, now) == "valid";
    });
    j["source"] = external ? "external" : "internal";
  }
  if (h.reissue_until != 0) {
    j["reissue_until"] = FormatRfc3339(h.reissue_until);
  }
  return j;
}

}  // namespace hostca::server
