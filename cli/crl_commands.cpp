// CRL commands: `crl fetch` and `crl show` on the host side (DIR/crl.pem, see
// cli/crl_ops.h), `crl publish` for admins (POST /v1/crl/publish).
#include <iostream>

#include "cli/commands.h"
#include "cli/crl_ops.h"
#include "cli/output.h"
#include "common/clock.h"
#include "common/encoding.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

json CrlJson(const CrlInfo& info) {
  return {{"crl_number", info.number},
          {"this_update", FormatRfc3339(info.this_update)},
          {"next_update",
           info.next_update != 0 ? json(FormatRfc3339(info.next_update)) : json(nullptr)},
          {"entries", info.entries}};
}

std::string Summary(const CrlInfo& info) {
  return "CRL number " + std::to_string(info.number) + ", " + std::to_string(info.entries) +
         " revoked, next update " +
         (info.next_update != 0 ? FormatRfc3339(info.next_update) : std::string("none"));
}

int Fetch(const Globals& g) {
  auto r = FetchCrl(g, SystemClock::Instance().NowSeconds());
  if (!r.ok()) {
    return ReportError(r.status(), g.json);
  }
  const std::string path = StatePaths(g.dir).crl_pem();
  if (g.json) {
    json out = CrlJson(r->info);
    out["updated"] = r->updated;
    out["not_modified"] = r->not_modified;
    out["previous_crl_number"] = r->previous_number >= 0 ? json(r->previous_number) : json(nullptr);
    out["path"] = path;
    PrintJson(out);
  } else if (r->updated) {
    std::cout << "wrote " << path << ": " << Summary(r->info) << "\n";
  } else {
    std::cout << "unchanged" << (r->not_modified ? " (304 Not Modified)" : "") << ": "
              << Summary(r->info) << "\n";
  }
  return 0;
}

int Show(const Globals& g) {
  const StatePaths paths(g.dir);
  auto ca = LoadPinnedCa(paths);
  auto local = ca.ok() ? LoadLocalCrl(paths, *ca) : Result<std::optional<LocalCrl>>(ca.status());
  if (local.ok() && !local->has_value()) {
    local = NotFound("no valid CRL in " + paths.crl_pem() + "; run `hostca crl fetch`", "no_crl");
  }
  if (!local.ok()) {
    return ReportError(local.status(), g.json);
  }
  const LocalCrl& l = **local;
  json out = CrlJson(l.info);
  out["path"] = paths.crl_pem();
  out["etag"] = l.etag;
  out["fetched_at"] = l.fetched_at != 0 ? json(FormatRfc3339(l.fetched_at)) : json(nullptr);
  out["checked_at"] = l.checked_at != 0 ? json(FormatRfc3339(l.checked_at)) : json(nullptr);
  const int64_t now = SystemClock::Instance().NowSeconds();
  out["expired"] = l.info.next_update != 0 && now >= l.info.next_update;
  if (g.json) {
    PrintJson(out);
    return 0;
  }
  std::cout << FormatFields({{"file", Cell(out, "path")},
                             {"CRL number", Cell(out, "crl_number")},
                             {"revoked entries", Cell(out, "entries")},
                             {"this update", Cell(out, "this_update")},
                             {"next update", Cell(out, "next_update")},
                             {"expired", Cell(out, "expired")},
                             {"fetched at", Cell(out, "fetched_at")},
                             {"last checked", Cell(out, "checked_at")}});
  return 0;
}

}  // namespace

void AddCrlCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* crl = app.add_subcommand("crl", "the CA's certificate revocation list");
  crl->require_subcommand(1);

  CLI::App* f = crl->add_subcommand(
      "fetch",
      "download the CRL into DIR/crl.pem (checked against the pinned CA; 304 when unchanged)");
  OnRun(f, action, [&g] { return Fetch(g); });

  CLI::App* s = crl->add_subcommand("show", "show the local CRL in DIR/crl.pem");
  OnRun(s, action, [&g] { return Show(g); });

  CLI::App* p = crl->add_subcommand("publish", "admin: make the server publish a new CRL now");
  OnRun(p, action, [&g] {
    return RunAdmin(g, Method::kPost, "/v1/crl/publish", json::object(), 200, [](const json& r) {
      std::cout << "published CRL number " << Cell(r, "number") << ": " << Cell(r, "entries")
                << " revoked, " << Cell(r, "bytes") << " bytes, next update "
                << Cell(r, "next_update") << "\n";
    });
  });
}

}  // namespace hostca::cli
