// Admin commands: cert (inventory and revocation), level, mode.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/output.h"
#include "cli/p12_export.h"
#include "cli/times.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/pkcs12.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

struct CertListArgs {
  std::string status;
  std::string host;
  std::string name;
  std::string expires_before;
  int64_t expires_within = 0;
  int64_t limit = 0;
};

std::string CertListPath(const CertListArgs& a) {
  std::string before = a.expires_before;
  if (a.expires_within > 0) {
    before = FormatRfc3339(SystemClock::Instance().NowSeconds() + a.expires_within);
  }
  return "/v1/certs" + QueryString({{"status", a.status},
                                    {"host", a.host},
                                    {"name", a.name},
                                    {"expires_before", before},
                                    {"limit", a.limit > 0 ? std::to_string(a.limit) : ""}});
}

void RenderCertList(const json& r) {
  std::vector<Row> rows;
  for (const json& c : r.value("certificates", json::array())) {
    rows.push_back({Cell(c, "serial"), Cell(c, "host_id"), Cell(c, "status"), Cell(c, "not_after"),
                    Cell(c, "source"), Cell(c, "names")});
  }
  std::cout << FormatTable({"SERIAL", "HOST_ID", "STATUS", "NOT_AFTER", "SOURCE", "NAMES"}, rows);
}

void RenderCert(const json& c) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"serial", Cell(c, "serial")},         {"host ID", Cell(c, "host_id")},
      {"names", Cell(c, "names")},           {"status", Cell(c, "status")},
      {"not before", Cell(c, "not_before")}, {"not after", Cell(c, "not_after")},
      {"source", Cell(c, "source")}};
  if (c.contains("revoked_at")) {
    fields.emplace_back("revoked at", Cell(c, "revoked_at"));
    fields.emplace_back("reason", Cell(c, "revocation_reason"));
  }
  std::cout << FormatFields(fields);
}

// A check that accepts only RFC 3339 UTC times.
CLI::Validator Rfc3339() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto t = ParseRfc3339(value);
        return t.ok() ? "" : "bad RFC 3339 time '" + value + "' (example 2026-01-31T00:00:00Z)";
      },
      "RFC3339", "rfc3339");
}

void AddExportCommand(CLI::App* cert, const Globals& g, Action* action);

void AddCertCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* cert = app.add_subcommand("cert", "certificate inventory (admin)");
  cert->require_subcommand(1);
  auto l = std::make_shared<CertListArgs>();
  CLI::App* list = cert->add_subcommand("list", "list certificates");
  list->add_option("--status", l->status, "valid, revoked or expired")
      ->check(CLI::IsMember({"valid", "revoked", "expired"}));
  list->add_option("--host", l->host, "host ID or name");
  list->add_option("--name", l->name, "DNS name in the certificate");
  CLI::Option* before =
      list->add_option("--expires-before", l->expires_before, "RFC 3339 time")->check(Rfc3339());
  list->add_option("--expires-within", l->expires_within, "duration from now: 30d, 12h")
      ->type_name("DURATION")
      ->transform(DurationSeconds())
      ->excludes(before);
  list->add_option("--limit", l->limit, "at most this many")->check(CLI::PositiveNumber);
  OnRun(list, action, [&g, l] {
    return RunAdmin(g, Method::kGet, CertListPath(*l), json(), 200, RenderCertList);
  });

  auto serial = std::make_shared<std::string>();
  auto pem = std::make_shared<bool>(false);
  CLI::App* show = cert->add_subcommand("show", "one certificate");
  show->add_option("serial", *serial, "serial (hex)")->required();
  show->add_flag("--pem", *pem, "print only the certificate, PEM");
  OnRun(show, action, [&g, serial, pem] {
    return RunAdmin(g, Method::kGet, "/v1/certs/" + UrlEncode(*serial), json(), 200,
                    [pem](const json& c) {
                      *pem ? void(std::cout << c.value("certificate", "")) : RenderCert(c);
                    });
  });

  auto reason = std::make_shared<std::string>();
  CLI::App* revoke = cert->add_subcommand("revoke", "revoke one certificate");
  auto revoke_serial = std::make_shared<std::string>();
  revoke->add_option("serial", *revoke_serial, "serial (hex)")->required();
  revoke->add_option("--reason", *reason, "RFC 5280 reason name (default unspecified)");
  OnRun(revoke, action, [&g, revoke_serial, reason] {
    return RunAdmin(g, Method::kPost, "/v1/certs/" + UrlEncode(*revoke_serial) + "/revoke",
                    ReasonBody(*reason), 200, [](const json& r) {
                      std::cout << "revoked certificate " << Cell(r, "serial") << "\n";
                    });
  });
  AddExportCommand(cert, g, action);
}

struct ExportArgs {
  std::string serial, p12, passphrase_file, data, key_dir;
};

// `cert export`: local files only, no server call (cli/p12_export.h).
int RunExport(const Globals& g, const ExportArgs& a) {
  auto pass = ReadPassphraseFile(a.passphrase_file);
  if (!pass.ok()) {
    return ReportError(pass.status(), g.json);
  }
  auto report = ExportP12({g.dir, a.data, a.key_dir}, a.serial, a.p12, *pass);
  if (!report.ok()) {
    return ReportError(report.status(), g.json);
  }
  if (g.json) {
    PrintJson({{"serial", report->serial},
               {"subject", report->subject},
               {"source", report->cert_path},
               {"file", a.p12},
               {"chain_certificates", report->chain_certs}});
  } else {
    std::cout << "exported certificate " << report->serial << " (" << report->subject
              << ") with its key and " << report->chain_certs << " chain certificates to " << a.p12
              << " (PKCS#12, 0600)\n";
  }
  return 0;
}

void AddExportCommand(CLI::App* cert, const Globals& g, Action* action) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* exp = cert->add_subcommand(
      "export", "write a certificate whose key is on this machine, with its chain, as PKCS#12");
  exp->add_option("serial", a->serial, "serial (hex) or SHA-256 fingerprint")->required();
  exp->add_option("--p12", a->p12, "the PKCS#12 file to write (0600)")->required();
  exp->add_option("--passphrase-file", a->passphrase_file,
                  "file holding the PKCS#12 passphrase (trailing newline ignored; not empty)")
      ->required();
  exp->add_option("--data", a->data,
                  "also look in this hostca-server data directory (tls/server.crt, tls/sni/)");
  exp->add_option("--key-dir", a->key_dir,
                  "also look for NAME.crt + NAME.key pairs here (hostca-server admin-cert --out)");
  OnRun(exp, action, [&g, a] { return RunExport(g, *a); });
}

void RenderLevel(const json& r) {
  const std::string refresh =
      r.contains("crl_refresh_seconds") && r["crl_refresh_seconds"].is_number()
          ? FormatDuration(r["crl_refresh_seconds"].get<int64_t>())
          : "-";
  std::cout << "security level: " << Cell(r, "level") << " (hosts refresh the CRL every " << refresh
            << ")\n";
}

// A domain setting with `NAME get` and `NAME set VALUE` subcommands.
struct Setting {
  std::string name;         // the subcommand
  std::string description;  // its help line
  std::string path;         // GET/PUT here
  std::string key;          // the JSON member holding the value
  std::vector<std::string> values;
  std::function<void(const json&)> render;
};

void AddSetting(CLI::App& app, const Globals& g, Action* action, const Setting& setting) {
  auto s = std::make_shared<Setting>(setting);
  CLI::App* cmd = app.add_subcommand(s->name, s->description);
  cmd->require_subcommand(1);
  CLI::App* get = cmd->add_subcommand("get", "show the " + s->key);
  OnRun(get, action,
        [&g, s] { return RunAdmin(g, Method::kGet, s->path, json(), 200, s->render); });
  auto value = std::make_shared<std::string>();
  CLI::App* set = cmd->add_subcommand("set", "change the " + s->key);
  set->add_option(s->key, *value, s->key)->required()->check(CLI::IsMember(s->values));
  OnRun(set, action, [&g, s, value] {
    return RunAdmin(g, Method::kPut, s->path, {{s->key, *value}}, 200, s->render);
  });
}

void RenderMode(const json& r) { std::cout << "mode: " << Cell(r, "mode") << "\n"; }

}  // namespace

void AddInventoryCommands(CLI::App& app, const Globals& g, Action* action) {
  AddCertCommands(app, g, action);
  AddSetting(app, g, action,
             {"level",
              "the domain's security level (admin)",
              "/v1/security-level",
              "level",
              {"very-high", "high", "medium"},
              RenderLevel});
  AddSetting(app, g, action,
             {"mode",
              "internal, mixed or external CA (admin)",
              "/v1/mode",
              "mode",
              {"internal", "mixed", "external"},
              RenderMode});
}

}  // namespace hostca::cli
