#include "server/api.h"

#include <openssl/ssl.h>

#include <chrono>

#include "ca/issuer.h"
#include "common/encoding.h"
#include "common/pem.h"
#include "server/api_util.h"
#include "server/http_util.h"

namespace hostca::server {

using nlohmann::json;

json CertJson(const storage::CertRecord& rec, int64_t now, bool with_pem) {
  // External records are keyed by their SHA-256 fingerprint
  // (enrollment/external.h): that key is what GET /v1/certs/{serial} takes.
  const bool external = rec.source == "external";
  json j = {{"serial", external ? HexEncode(rec.serial) : ca::SerialToHex(rec.serial)},
            {"host_id", rec.host_id},
            {"names", rec.names},
            {"not_before", FormatRfc3339(rec.not_before)},
            {"not_after", FormatRfc3339(rec.not_after)},
            {"status", enrollment::CertStatusAt(rec, now)},
            {"source", rec.source}};
  if (rec.status == storage::CertStatus::kRevoked) {
    j["revocation_reason"] = enrollment::RevocationReasonName(rec.revocation_reason);
    j["revoked_at"] = FormatRfc3339(rec.revoked_at);
  }
  if (external) {
    j["fingerprint_sha256"] = HexEncode(rec.serial);
    if (auto cert = CertFromDer(rec.der); cert.ok()) {
      j["external_serial"] = ca::SerialToHex(ca::SerialOf(cert->get()));
      char issuer[512];
      X509_NAME_oneline(X509_get_issuer_name(cert->get()), issuer, sizeof(issuer));
      j["issuer"] = issuer;
    }
  }
  if (with_pem) {
    j["certificate"] = DerToPem(rec.der, "CERTIFICATE");
  }
  return j;
}

namespace {

void RegisterHostRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Post("/v1/enroll", Instrument(ctx, "enroll", [&ctx](const auto& req, auto& res) {
             auto body = ParseJsonBody(req);
             if (!body.ok()) {
               return WriteError(res, body.status());
             }
             enrollment::EnrollRequest er;
             for (auto [field, out, required] :
                  {std::tuple{"csr", &er.csr, true}, std::tuple{"hostname", &er.hostname, true},
                   std::tuple{"token", &er.token, false}}) {
               auto v = StringField(*body, field, required);
               if (!v.ok()) {
                 return WriteError(res, v.status());
               }
               *out = std::move(*v);
             }
             er.source_address = req.remote_addr;
             auto issued = ctx.enroll.Enroll(er);
             if (!issued.ok()) {
               if (issued.status().reason() == "rate_limited") {
                 res.set_header("Retry-After", "60");
               }
               return WriteError(res, issued.status());
             }
             issued->reissue ? ctx.metrics.CountReissued() : ctx.metrics.CountIssued();
             WriteJsonText(res, 201, IssuedAnswer(*issued, ctx.chain_json));
           }));
  srv.Post("/v1/renew", Instrument(ctx, "renew", [&ctx](const auto& req, auto& res) {
             auto who = ClientIdentity(ctx, req);
             if (!who.ok()) {
               return WriteError(res, who.status());
             }
             auto body = ParseJsonBody(req);
             auto csr =
                 body.ok() ? StringField(*body, "csr", true) : Result<std::string>(body.status());
             if (!csr.ok()) {
               return WriteError(res, csr.status());
             }
             auto issued = ctx.enroll.Renew(*who, *csr);
             if (!issued.ok()) {
               return WriteError(res, issued.status());
             }
             ctx.metrics.CountRenewed();
             WriteJsonText(res, 201, IssuedAnswer(*issued, ctx.chain_json));
           }));
  srv.Post("/v1/revoke", Instrument(ctx, "revoke", [&ctx](const auto& req, auto& res) {
             auto who = ClientIdentity(ctx, req);
             if (!who.ok()) {
               return WriteError(res, who.status());
             }
             auto body = req.body.empty() ? Result<json>(json::object()) : ParseJsonBody(req);
             auto reason =
                 body.ok() ? ReasonField(*body, "keyCompromise") : Result<int>(body.status());
             if (!reason.ok()) {
               return WriteError(res, reason.status());
             }
             if (Status st = ctx.enroll.RevokeOwn(*who, *reason); !st.ok()) {
               return WriteError(res, st);
             }
             ctx.metrics.CountRevoked();
             WriteJson(res, 200,
                       {{"serial", ca::SerialToHex(who->record.serial)}, {"status", "revoked"}});
           }));
}

void RegisterExternalRoutes(httplib::Server& srv, ApiContext& ctx) {
  // DESIGN.md section 7: a host proves possession of its external
  // certificate by presenting it, and names the host it belongs to.
  srv.Post(
      "/v1/external/enroll", Instrument(ctx, "external.enroll", [&ctx](const auto& req, auto& res) {
        if (ctx.external == nullptr) {
          return WriteError(res, Conflict("this server trusts no external CA: set [external] "
                                          "trust_bundle in its configuration",
                                          "external_not_configured"));
        }
        auto body = ParseJsonBody(req);
        auto hostname =
            body.ok() ? StringField(*body, "hostname", true) : Result<std::string>(body.status());
        if (!hostname.ok()) {
          return WriteError(res, hostname.status());
        }
        const auto [cert, chain] = PeerCertificateOf(req);
        auto done = ctx.external->Enroll(cert.get(), chain, *hostname);
        if (!done.ok()) {
          return WriteError(res, done.status());
        }
        WriteJson(res, 200,
                  {{"host_id", done->host_id},
                   {"fingerprint_sha256", done->fingerprint_sha256},
                   {"not_after", FormatRfc3339(done->not_after)},
                   {"replaced", done->replaced}});
      }));
  // `hostca external remove`: the host, authenticated by either of its
  // certificates, forgets its external one.
  srv.Delete("/v1/external", Instrument(ctx, "external.remove", [&ctx](const auto& req, auto& res) {
               if (ctx.external == nullptr) {
                 return WriteError(
                     res, Conflict("this server trusts no external CA", "external_not_configured"));
               }
               // The external certificate itself may always ask for its
               // removal, whatever the mode (ClientIdentity accepts it in
               // mixed and external mode only).
               const auto [cert, chain] = PeerCertificateOf(req);
               auto who = cert && ctx.external->IsExternal(cert.get(), chain)
                              ? ctx.external->Authenticate(cert.get(), chain)
                              : ClientIdentity(ctx, req);
               if (!who.ok()) {
                 return WriteError(res, who.status());
               }
               const std::string host = who->record.host_id;
               if (Status st = ctx.external->Remove(host, "host:" + host); !st.ok()) {
                 return WriteError(res, st);
               }
               WriteJson(res, 200, {{"host_id", host}, {"removed", true}});
             }));
  // Which identity a client certificate gives in the current mode: what
  // `hostca status` shows and how operators check a switch.
  srv.Get("/v1/whoami", Instrument(ctx, "whoami", [&ctx](const auto& req, auto& res) {
            auto who = ClientIdentity(ctx, req);
            if (!who.ok()) {
              return WriteError(res, who.status());
            }
            json j = CertJson(who->record, ctx.clock.NowSeconds(), false);
            j["mode"] = enrollment::DomainModeName(ctx.mode.Get());
            WriteJson(res, 200, j);
          }));
}

}  // namespace

void RegisterAdminRoutes(httplib::Server& srv, ApiContext& ctx);  // api_admin.cpp

void RegisterApi(httplib::Server& srv, ApiContext& ctx) {
  RegisterHostRoutes(srv, ctx);
  RegisterExternalRoutes(srv, ctx);
  RegisterAdminRoutes(srv, ctx);
}

}  // namespace hostca::server
