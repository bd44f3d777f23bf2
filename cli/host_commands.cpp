// Host commands: enroll, renew, revoke, status.
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/external_state.h"
#include "cli/host_ops.h"
#include "cli/output.h"
#include "cli/times.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/file.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

int64_t Now() { return SystemClock::Instance().NowSeconds(); }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out.empty() ? "-" : out;
}

struct EnrollArgs {
  std::string hostname;
  std::string token;
  std::string token_file;
  std::string key_type = "p256";
};

int Enroll(const Globals& g, const EnrollArgs& args) {
  EnrollParams params{args.hostname, args.token, *ParseKeyType(args.key_type)};
  if (!args.token_file.empty()) {
    auto token = ReadTokenFile(args.token_file);
    if (!token.ok()) {
      return ReportError(token.status(), g.json);
    }
    params.token = *token;
  }
  auto answer = EnrollHost(g, params);
  if (!answer.ok()) {
    return ReportError(answer.status(), g.json);
  }
  if (g.json) {
    PrintJson(*answer);
    return 0;
  }
  std::cout << "enrolled " << args.hostname << "\n"
            << FormatFields({{"  host ID", Cell(*answer, "host_id")},
                             {"  serial", Cell(*answer, "serial")},
                             {"  expires", Cell(*answer, "not_after")},
                             {"  state", g.dir}});
  return 0;
}

int Renew(const Globals& g, bool force) {
  auto host = LoadHostState(StatePaths(g.dir));
  if (!host.ok()) {
    return ReportError(host.status(), g.json);
  }
  const int64_t due = RenewalDueAt(host->info.not_before, host->info.not_after);
  if (!force && Now() < due) {
    if (g.json) {
      PrintJson({{"renewed", false},
                 {"serial", host->info.serial_hex},
                 {"not_after", FormatRfc3339(host->info.not_after)},
                 {"renew_after", FormatRfc3339(due)}});
    } else {
      std::cout << "not yet due: certificate " << host->info.serial_hex << " renews after "
                << FormatRfc3339(due) << " (--force renews now)\n";
    }
    return 0;
  }
  auto answer = RenewHost(g, *host);
  if (!answer.ok()) {
    return ReportError(answer.status(), g.json);
  }
  if (g.json) {
    json out = *answer;
    out["renewed"] = true;
    PrintJson(out);
  } else {
    std::cout << "renewed: serial " << Cell(*answer, "serial") << ", expires "
              << Cell(*answer, "not_after") << " (was " << host->info.serial_hex << ")\n";
  }
  return 0;
}

int Revoke(const Globals& g, const std::string& reason) {
  auto host = LoadHostState(StatePaths(g.dir));
  auto client =
      host.ok() ? HostClient(g, *host) : Result<std::unique_ptr<ApiClient>>(host.status());
  auto res = client.ok() ? ExpectStatus((*client)->Post("/v1/revoke", {{"reason", reason}}), 200)
                         : Result<ApiResponse>(client.status());
  if (!res.ok()) {
    return ReportError(res.status(), g.json);
  }
  if (g.json) {
    PrintJson(res->body);
  } else {
    std::cout << "revoked certificate " << host->info.serial_hex << " (" << reason << ")\n";
  }
  return 0;
}

// The server's view for `status`: level, CRL interval, mode and clock skew.
json ServerStatus(const Globals& g) {
  const auto t0 = std::chrono::system_clock::now();
  auto ca = GetCaInfo(g);
  const auto t1 = std::chrono::system_clock::now();
  json out = {{"security_level", nullptr},
              {"crl_refresh_seconds", nullptr},
              {"mode", nullptr},
              {"clock_skew_seconds", nullptr}};
  if (!ca.ok()) {
    out["server_error"] = {{"code", ca.status().reason()}, {"message", ca.status().message()}};
    return out;
  }
  for (const char* key : {"security_level", "crl_refresh_seconds", "mode"}) {
    if (ca->body.contains(key)) {
      out[key] = ca->body[key];
    }
  }
  if (auto server_time = ParseHttpDate(ca->date); server_time.ok()) {
    const double local_mid =
        std::chrono::duration<double>((t0 + (t1 - t0) / 2).time_since_epoch()).count();
    out["clock_skew_seconds"] =
        static_cast<int64_t>(std::llround(static_cast<double>(*server_time) - local_mid));
  }
  return out;
}

void PrintStatus(const json& s) {
  const std::string skew =
      s["clock_skew_seconds"].is_number()
          ? FormatDuration(s["clock_skew_seconds"].get<int64_t>()) + " (server minus local)"
          : "unknown (no Date header from the server)";
  const std::string refresh =
      s["crl_refresh_seconds"].is_number()
          ? "every " + FormatDuration(s["crl_refresh_seconds"].get<int64_t>())
          : "-";
  std::vector<std::pair<std::string, std::string>> fields = {
      {"host ID", Cell(s, "host_id")},
      {"hostname", Cell(s, "hostname")},
      {"names", Join(s["names"].get<std::vector<std::string>>())},
      {"serial", Cell(s, "serial")},
      {"not before", Cell(s, "not_before")},
      {"not after", Cell(s, "not_after")},
      {"remaining", FormatDuration(s["remaining_seconds"].get<int64_t>())},
      {"renewal due", std::string(s["renewal_due"].get<bool>() ? "yes" : "no") + " (from " +
                          Cell(s, "renew_after") + ")"},
      {"security level", Cell(s, "security_level")},
      {"CRL refresh", refresh},
      {"mode", Cell(s, "mode")},
      {"clock skew", skew}};
  if (s.contains("external")) {
    // A host holding both uses the external certificate in mixed mode.
    fields.emplace_back("external certificate", Cell(s["external"], "fingerprint_sha256") +
                                                    " (expires " +
                                                    Cell(s["external"], "not_after") + ")");
  }
  if (s.contains("server_error")) {
    fields.emplace_back("server",
                        "unreachable: " + s["server_error"]["message"].get<std::string>());
  }
  std::cout << FormatFields(fields);
}

// The installed external certificate (cli/external_state.h), or null.
json ExternalStatus(const Globals& g) {
  auto meta = ReadFile(ExternalPaths(g.dir).meta());
  if (!meta.ok()) {
    return nullptr;
  }
  json m = json::parse(*meta, nullptr, false);
  return m.is_object() ? m : json(nullptr);
}

int HostStatus(const Globals& g) {
  auto host = LoadHostState(StatePaths(g.dir));
  const json external = ExternalStatus(g);
  if (!host.ok() && host.status().reason() == "not_enrolled" && !external.is_null()) {
    // Only an external certificate: what it is, and the server's view.
    json s = {{"external", external}};
    s.update(ServerStatus(g));
    if (g.json) {
      PrintJson(s);
    } else {
      std::cout << FormatFields({{"host ID", Cell(external, "host_id")},
                                 {"hostname", Cell(external, "hostname")},
                                 {"external certificate", Cell(external, "fingerprint_sha256")},
                                 {"external expires", Cell(external, "not_after")},
                                 {"security level", Cell(s, "security_level")},
                                 {"mode", Cell(s, "mode")}});
    }
    return s.contains("server_error") ? 1 : 0;
  }
  if (!host.ok()) {
    return ReportError(host.status(), g.json);
  }
  const CertInfo& info = host->info;
  const int64_t now = Now();
  const int64_t due = RenewalDueAt(info.not_before, info.not_after);
  json s = {{"host_id", info.host_id},
            {"hostname", host->hostname},
            {"names", info.dns_names},
            {"serial", info.serial_hex},
            {"not_before", FormatRfc3339(info.not_before)},
            {"not_after", FormatRfc3339(info.not_after)},
            {"remaining_seconds", info.not_after - now},
            {"renewal_due", now >= due},
            {"renew_after", FormatRfc3339(due)}};
  s.update(ServerStatus(g));
  if (!external.is_null()) {
    s["external"] = external;
  }
  g.json ? PrintJson(s) : PrintStatus(s);
  if (s.contains("server_error")) {
    std::cerr << "hostca: " << s["server_error"]["code"].get<std::string>() << ": "
              << s["server_error"]["message"].get<std::string>() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddHostCommands(CLI::App& app, const Globals& g, Action* action) {
  auto enroll = std::make_shared<EnrollArgs>();
  CLI::App* e = app.add_subcommand("enroll", "get this host's first certificate (or a reissue)");
  e->add_option("--hostname", enroll->hostname, "the host's primary DNS name")->required();
  CLI::Option* token = e->add_option("--token", enroll->token, "authorization or reissue token");
  e->add_option("--token-file", enroll->token_file, "file holding the token")->excludes(token);
  e->add_option("--key-type", enroll->key_type, "p256 (default), p384, ed25519, rsa2048, rsa3072")
      ->check(CLI::IsMember({"p256", "p384", "ed25519", "rsa2048", "rsa3072"}));
  OnRun(e, action, [&g, enroll] { return Enroll(g, *enroll); });

  auto force = std::make_shared<bool>(false);
  CLI::App* r = app.add_subcommand("renew", "renew the certificate once half its lifetime passed");
  r->add_flag("--force", *force, "renew now, even when not yet due");
  OnRun(r, action, [&g, force] { return Renew(g, *force); });

  auto reason = std::make_shared<std::string>("keyCompromise");
  CLI::App* v = app.add_subcommand("revoke", "revoke this host's certificate");
  v->add_option("--reason", *reason, "RFC 5280 reason name (default keyCompromise)");
  OnRun(v, action, [&g, reason] { return Revoke(g, *reason); });

  CLI::App* s = app.add_subcommand("status", "certificate, renewal, server level and clock skew");
  OnRun(s, action, [&g] { return HostStatus(g); });
}

}  // namespace hostca::cli
