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
  json j = {{"serial", ca::SerialToHex(rec.serial)},
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
             WriteJson(res, 201, IssuedJson(*issued));
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
             WriteJson(res, 201, IssuedJson(*issued));
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

}  // namespace

void RegisterAdminRoutes(httplib::Server& srv, ApiContext& ctx);  // api_admin.cpp

void RegisterApi(httplib::Server& srv, ApiContext& ctx) {
  RegisterHostRoutes(srv, ctx);
  RegisterAdminRoutes(srv, ctx);
}

}  // namespace hostca::server
