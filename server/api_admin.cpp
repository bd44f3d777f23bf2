// Admin routes of DESIGN.md section 8. Every handler: authenticate (Admin),
// parse, call AdminService, render.
#include <charconv>

#include "ca/csr.h"
#include "common/encoding.h"
#include "enrollment/security_level.h"
#include "enrollment/tidy.h"
#include "server/api.h"
#include "server/api_util.h"
#include "server/http_util.h"
#include "server/tls_identity.h"

namespace hostca::server {
namespace {

using nlohmann::json;
constexpr char kActor[] = "admin";

template <typename T>
bool Fail(httplib::Response& res, const Result<T>& r) {
  if (!r.ok()) {
    WriteError(res, r.status());
    return true;
  }
  return false;
}

bool Fail(httplib::Response& res, const Status& st) {
  if (!st.ok()) {
    WriteError(res, st);
    return true;
  }
  return false;
}

Result<json> Body(const httplib::Request& req) {
  return req.body.empty() ? Result<json>(json::object()) : ParseJsonBody(req);
}

void RegisterTokenRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Post("/v1/tokens",
           Instrument(ctx, "tokens.create", Admin(ctx, [&ctx](const auto& req, auto& res) {
                        auto body = Body(req);
                        if (Fail(res, body)) {
                          return;
                        }
                        enrollment::TokenSpec spec;
                        auto name = StringField(*body, "name", true);
                        auto uses = IntField(*body, "max_uses", 1);
                        auto ttl = IntField(*body, "ttl_seconds", 86400);
                        auto reason = StringField(*body, "reason", false);
                        auto host = StringField(*body, "host_id", false);
                        if (Fail(res, name) || Fail(res, uses) || Fail(res, ttl) ||
                            Fail(res, reason) || Fail(res, host)) {
                          return;
                        }
                        if (*uses < 1 || *uses > 100000) {
                          return WriteError(
                              res, InvalidArgument("max_uses must be between 1 and 100000"));
                        }
                        spec.name = *name;
                        spec.max_uses = static_cast<uint32_t>(*uses);
                        spec.ttl_seconds = *ttl;
                        spec.reason = *reason;
                        spec.host_id = *host;
                        auto created = ctx.admin.CreateToken(spec, kActor);
                        if (Fail(res, created)) {
                          return;
                        }
                        WriteJson(res, 201,
                                  {{"name", created->name},
                                   {"token", created->value},
                                   {"expires_at", FormatRfc3339(created->expires_at)}});
                      })));
  srv.Get("/v1/tokens", Instrument(ctx, "tokens.list", Admin(ctx, [&ctx](const auto&, auto& res) {
                                     auto tokens = ctx.admin.ListTokens();
                                     if (Fail(res, tokens)) {
                                       return;
                                     }
                                     json out = json::array();
                                     for (const auto& t : *tokens) {
                                       out.push_back(TokenJson(t, ctx.clock.NowSeconds()));
                                     }
                                     WriteJson(res, 200, {{"tokens", out}});
                                   })));
  srv.Delete(R"(/v1/tokens/([A-Za-z0-9._-]+))",
             Instrument(ctx, "tokens.delete", Admin(ctx, [&ctx](const auto& req, auto& res) {
                          if (!Fail(res, ctx.admin.DeleteToken(req.matches[1], kActor))) {
                            WriteJson(res, 200, {{"deleted", std::string(req.matches[1])}});
                          }
                        })));
  srv.Post("/v1/tokens/cleanup",
           Instrument(ctx, "tokens.cleanup", Admin(ctx, [&ctx](const auto&, auto& res) {
                        auto removed = ctx.admin.CleanupTokens(kActor);
                        if (!Fail(res, removed)) {
                          WriteJson(res, 200, {{"removed", *removed}});
                        }
                      })));
}

void RegisterHostRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Post("/v1/hosts",
           Instrument(
               ctx, "hosts.add", Admin(ctx, [&ctx](const auto& req, auto& res) {
                 auto body = Body(req);
                 if (Fail(res, body)) {
                   return;
                 }
                 auto hostname = StringField(*body, "hostname", true);
                 if (Fail(res, hostname)) {
                   return;
                 }
                 std::vector<std::string> aliases;
                 if (body->contains("aliases")) {
                   const json& a = (*body)["aliases"];
                   if (!a.is_array() || !std::all_of(a.begin(), a.end(),
                                                     [](const json& v) { return v.is_string(); })) {
                     return WriteError(
                         res, InvalidArgument("aliases must be an array of strings", "bad_field"));
                   }
                   aliases = a.get<std::vector<std::string>>();
                 }
                 auto id = ctx.admin.AddHost(*hostname, aliases, kActor);
                 if (!Fail(res, id)) {
                   WriteJson(res, 201, {{"host_id", *id}});
                 }
               })));
  srv.Get("/v1/hosts", Instrument(ctx, "hosts.list", Admin(ctx, [&ctx](const auto&, auto& res) {
                                    auto hosts = ctx.admin.ListHosts();
                                    if (Fail(res, hosts)) {
                                      return;
                                    }
                                    json out = json::array();
                                    for (const auto& h : *hosts) {
                                      out.push_back(HostJson(h));
                                    }
                                    WriteJson(res, 200, {{"hosts", out}});
                                  })));
  srv.Get(R"(/v1/hosts/([^/]+))",
          Instrument(ctx, "hosts.get", Admin(ctx, [&ctx](const auto& req, auto& res) {
                       auto view = ctx.admin.GetHost(req.matches[1]);
                       if (Fail(res, view)) {
                         return;
                       }
                       json j = HostJson(view->host, &view->certs, ctx.clock.NowSeconds());
                       j["certificates"] = json::array();
                       for (const auto& c : view->certs) {
                         j["certificates"].push_back(CertJson(c, ctx.clock.NowSeconds(), false));
                       }
                       WriteJson(res, 200, j);
                     })));
  srv.Post(R"(/v1/hosts/([^/]+)/allow-reissue)",
           Instrument(ctx, "hosts.allow_reissue", Admin(ctx, [&ctx](const auto& req, auto& res) {
                        auto body = Body(req);
                        auto seconds = body.ok() ? IntField(*body, "seconds", 48 * 3600)
                                                 : Result<int64_t>(body.status());
                        if (Fail(res, seconds) ||
                            Fail(res, ctx.admin.AllowReissue(req.matches[1], *seconds, kActor))) {
                          return;
                        }
                        WriteJson(
                            res, 200,
                            {{"host", std::string(req.matches[1])},
                             {"reissue_until", FormatRfc3339(ctx.clock.NowSeconds() + *seconds)}});
                      })));
  srv.Post(R"(/v1/hosts/([^/]+)/revoke)",
           Instrument(ctx, "hosts.revoke", Admin(ctx, [&ctx](const auto& req, auto& res) {
                        auto body = Body(req);
                        auto reason = body.ok() ? ReasonField(*body, "unspecified")
                                                : Result<int>(body.status());
                        if (Fail(res, reason)) {
                          return;
                        }
                        auto n = ctx.admin.RevokeHost(req.matches[1], *reason, kActor);
                        if (!Fail(res, n)) {
                          ctx.metrics.CountRevoked(static_cast<uint64_t>(*n));
                          WriteJson(res, 200, {{"revoked", *n}});
                        }
                      })));
}

void RegisterMappingRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Get("/v1/mappings",
          Instrument(ctx, "mappings.list", Admin(ctx, [&ctx](const auto&, auto& res) {
                       auto mappings = ctx.admin.ListMappings();
                       if (Fail(res, mappings)) {
                         return;
                       }
                       json out = json::array();
                       for (const auto& m : *mappings) {
                         json j = {{"id", m.id},
                                   {"host_id", m.host_id},
                                   {"name", m.name},
                                   {"requested_at", FormatRfc3339(m.requested_at)}};
                         // Show a conflict with another host so the admin sees it before approving.
                         if (auto owner = ctx.admin.GetHost(m.name);
                             owner.ok() && owner->host.host_id != m.host_id) {
                           j["conflict_host_id"] = owner->host.host_id;
                         }
                         out.push_back(j);
                       }
                       WriteJson(res, 200, {{"mappings", out}});
                     })));
  srv.Post(R"(/v1/mappings/([0-9a-f]+)/(approve|reject))",
           Instrument(
               ctx, "mappings.decide", Admin(ctx, [&ctx](const auto& req, auto& res) {
                 const std::string id = req.matches[1];
                 const bool approve = req.matches[2] == "approve";
                 const Status st = approve ? ctx.admin.ApproveMapping(id, kActor)
                                           : ctx.admin.RejectMapping(id, kActor);
                 if (!Fail(res, st)) {
                   WriteJson(res, 200, {{"id", id}, {"result", approve ? "approved" : "rejected"}});
                 }
               })));
}

void RegisterCertRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Get(
      "/v1/certs",
      Instrument(ctx, "certs.list", Admin(ctx, [&ctx](const auto& req, auto& res) {
                   enrollment::CertFilter f;
                   f.status = req.get_param_value("status");
                   f.host = req.get_param_value("host");
                   f.name = req.get_param_value("name");
                   if (req.has_param("expires_before")) {
                     auto t = ParseRfc3339(req.get_param_value("expires_before"));
                     if (Fail(res, t)) {
                       return;
                     }
                     f.expires_before = *t;
                   }
                   if (req.has_param("limit")) {
                     const std::string v = req.get_param_value("limit");
                     size_t limit = 0;
                     if (std::from_chars(v.data(), v.data() + v.size(), limit).ec != std::errc() ||
                         limit == 0) {
                       return WriteError(res, InvalidArgument("limit must be a positive integer"));
                     }
                     f.limit = std::min<size_t>(limit, 10000);
                   }
                   auto certs = ctx.admin.ListCerts(f);
                   if (Fail(res, certs)) {
                     return;
                   }
                   json out = json::array();
                   for (const auto& c : *certs) {
                     out.push_back(CertJson(c, ctx.clock.NowSeconds(), false));
                   }
                   WriteJson(res, 200, {{"certificates", out}});
                 })));
  srv.Get(R"(/v1/certs/([0-9a-fA-F]+))",
          Instrument(ctx, "certs.get", Admin(ctx, [&ctx](const auto& req, auto& res) {
                       auto rec = ctx.admin.GetCert(req.matches[1]);
                       if (!Fail(res, rec)) {
                         WriteJson(res, 200, CertJson(*rec, ctx.clock.NowSeconds(), true));
                       }
                     })));
  srv.Post(
      R"(/v1/certs/([0-9a-fA-F]+)/revoke)",
      Instrument(
          ctx, "certs.revoke", Admin(ctx, [&ctx](const auto& req, auto& res) {
            auto body = Body(req);
            auto reason =
                body.ok() ? ReasonField(*body, "unspecified") : Result<int>(body.status());
            if (Fail(res, reason) ||
                Fail(res, ctx.admin.RevokeCert(req.matches[1], *reason, kActor))) {
              return;
            }
            ctx.metrics.CountRevoked();
            WriteJson(res, 200, {{"serial", std::string(req.matches[1])}, {"status", "revoked"}});
          })));
}

void RegisterSettingRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Get("/v1/security-level",
          Instrument(ctx, "level.get", Admin(ctx, [&ctx](const auto&, auto& res) {
                       auto level = ctx.admin.GetLevel();
                       if (!Fail(res, level)) {
                         WriteJson(
                             res, 200,
                             {{"level", enrollment::SecurityLevelName(*level)},
                              {"crl_refresh_seconds", enrollment::CrlRefreshSeconds(*level)}});
                       }
                     })));
  srv.Put("/v1/security-level",
          Instrument(ctx, "level.set", Admin(ctx, [&ctx](const auto& req, auto& res) {
                       auto body = Body(req);
                       auto name = body.ok() ? StringField(*body, "level", true)
                                             : Result<std::string>(body.status());
                       if (Fail(res, name)) {
                         return;
                       }
                       auto level = enrollment::ParseSecurityLevel(*name);
                       if (Fail(res, level) || Fail(res, ctx.admin.SetLevel(*level, kActor))) {
                         return;
                       }
                       WriteJson(res, 200,
                                 {{"level", enrollment::SecurityLevelName(*level)},
                                  {"crl_refresh_seconds", enrollment::CrlRefreshSeconds(*level)}});
                     })));
  srv.Get("/v1/mode", Instrument(ctx, "mode.get", Admin(ctx, [&ctx](const auto&, auto& res) {
                                   auto mode = ctx.admin.GetMode();
                                   if (!Fail(res, mode)) {
                                     WriteJson(res, 200, {{"mode", *mode}});
                                   }
                                 })));
  srv.Put("/v1/mode",
          Instrument(ctx, "mode.set", Admin(ctx, [&ctx](const auto& req, auto& res) {
                       auto body = Body(req);
                       auto mode = body.ok() ? StringField(*body, "mode", true)
                                             : Result<std::string>(body.status());
                       if (Fail(res, mode) || Fail(res, ctx.admin.SetMode(*mode, kActor))) {
                         return;
                       }
                       WriteJson(res, 200, {{"mode", *mode}});
                     })));
  srv.Get(
      "/v1/audit",
      Instrument(ctx, "audit", Admin(ctx, [&ctx](const auto& req, auto& res) {
                   uint64_t from = 1;
                   size_t limit = 1000;
                   const std::string f = req.get_param_value("from");
                   const std::string l = req.get_param_value("limit");
                   if ((!f.empty() &&
                        std::from_chars(f.data(), f.data() + f.size(), from).ec != std::errc()) ||
                       (!l.empty() &&
                        std::from_chars(l.data(), l.data() + l.size(), limit).ec != std::errc())) {
                     return WriteError(res, InvalidArgument("from and limit must be integers"));
                   }
                   auto entries = ctx.admin.ReadAudit(from, limit);
                   if (Fail(res, entries)) {
                     return;
                   }
                   json out = json::array();
                   for (const auto& e : *entries) {
                     out.push_back({{"seq", e.seq},
                                    {"time", FormatRfc3339(e.time)},
                                    {"time_unix", e.time},
                                    {"actor", e.actor},
                                    {"action", e.action},
                                    {"detail", e.detail},
                                    {"prev_hash", HexEncode(e.prev_hash)},
                                    {"hash", HexEncode(e.hash)}});
                   }
                   WriteJson(res, 200, {{"entries", out}});
                 })));
}

void RegisterCrlRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Post("/v1/crl/publish",
           Instrument(ctx, "crl.publish", Admin(ctx, [&ctx](const auto&, auto& res) {
                        auto crl = ctx.crl.PublishNow();
                        if (Fail(res, crl)) {
                          return;
                        }
                        WriteJson(res, 200,
                                  {{"number", (*crl)->number},
                                   {"entries", (*crl)->entries},
                                   {"this_update", FormatRfc3339((*crl)->this_update)},
                                   {"next_update", FormatRfc3339((*crl)->next_update)},
                                   {"bytes", (*crl)->der.size()}});
                      })));
}

// The writes of `hostca-server admin-cert` and `tidy` when this server
// holds the store (running_server.h); any admin may call them.
void RegisterMaintenanceRoutes(httplib::Server& srv, ApiContext& ctx) {
  srv.Post("/v1/admin-certs",
           Instrument(ctx, "admin_certs.issue", Admin(ctx, [&ctx](const auto& req, auto& res) {
                        auto body = Body(req);
                        if (Fail(res, body)) {
                          return;
                        }
                        auto name = StringField(*body, "name", true);
                        auto csr = StringField(*body, "csr", true);
                        auto days = IntField(*body, "days", 365);
                        if (Fail(res, name) || Fail(res, csr) || Fail(res, days)) {
                          return;
                        }
                        auto checked = ca::ParseAndCheckCsr(*csr, ca::CsrPolicy{});
                        if (Fail(res, checked)) {
                          return;
                        }
                        auto files = IssueAdminIdentity(ctx.issuer, *name, *days, ctx.clock,
                                                        checked->public_key.get());
                        if (Fail(res, files) ||
                            Fail(res, RecordAdminCert(ctx.store, files->record, *name, kActor,
                                                      ctx.clock.NowSeconds()))) {
                          return;
                        }
                        WriteJson(res, 201,
                                  {{"serial", ca::SerialToHex(files->record.serial)},
                                   {"certificate", files->cert_chain_pem},
                                   {"not_after", FormatRfc3339(files->record.not_after)}});
                      })));
  srv.Post("/v1/tidy",
           Instrument(ctx, "tidy", Admin(ctx, [&ctx](const auto& req, auto& res) {
                        auto body = Body(req);
                        if (Fail(res, body)) {
                          return;
                        }
                        auto days = IntField(*body, "retention_days", ctx.tidy_retention_days);
                        if (Fail(res, days)) {
                          return;
                        }
                        if (*days < 0 || *days > 36500) {
                          return WriteError(
                              res, InvalidArgument("retention_days must be 0..36500", "bad_field"));
                        }
                        enrollment::TidyOptions to;
                        to.retention_seconds = *days * 86400;
                        auto removed =
                            enrollment::TidyExpired(ctx.store, ctx.clock.NowSeconds(), to, kActor);
                        if (!Fail(res, removed)) {
                          WriteJson(res, 200, {{"removed", *removed}, {"retention_days", *days}});
                        }
                      })));
}

}  // namespace

void RegisterAdminRoutes(httplib::Server& srv, ApiContext& ctx) {
  RegisterTokenRoutes(srv, ctx);
  RegisterHostRoutes(srv, ctx);
  RegisterMappingRoutes(srv, ctx);
  RegisterCertRoutes(srv, ctx);
  RegisterSettingRoutes(srv, ctx);
  RegisterCrlRoutes(srv, ctx);
  RegisterMaintenanceRoutes(srv, ctx);
}

}  // namespace hostca::server
