// External certificates (DESIGN.md section 7): `hostca external enroll`,
// `external remove`, `external show`.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/external_state.h"
#include "cli/output.h"
#include "cli/state.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

struct ExternalEnrollArgs {
  std::string cert, key, chain, trust, hostname;
};

// The hostname to enroll for: --hostname, else the one the host enrolled
// with internally (host.json).
Result<std::string> HostnameFor(const Globals& g, const std::string& given) {
  if (!given.empty()) {
    return given;
  }
  auto host = LoadHostState(StatePaths(g.dir));
  if (host.ok() && !host->hostname.empty()) {
    return host->hostname;
  }
  return InvalidArgument(
      "--hostname is required: this host has no internal enrollment to "
      "take its name from",
      "missing_hostname");
}

int Enroll(const Globals& g, const ExternalEnrollArgs& args) {
  auto hostname = HostnameFor(g, args.hostname);
  if (!hostname.ok()) {
    return ReportError(hostname.status(), g.json);
  }
  auto id = LoadExternalIdentity(args.cert, args.key, args.chain);
  if (!id.ok()) {
    return ReportError(id.status(), g.json);
  }
  // Trust for the server's external certificate: --trust, else the roots
  // the chain file carries, else what an earlier enrollment stored.
  std::string trust;
  if (!args.trust.empty()) {
    auto pem = ReadFile(args.trust);
    if (!pem.ok()) {
      return ReportError(pem.status(), g.json);
    }
    trust = *pem;
  } else if (auto roots = SelfSignedOf(id->chain_pem); roots.ok() && !roots->empty()) {
    trust = *roots;
  } else {
    trust = ExternalTrustPem(g.dir);
  }
  auto client = ExternalClient(g, id->tls);
  auto res =
      client.ok()
          ? ExpectStatus((*client)->Post("/v1/external/enroll", {{"hostname", *hostname}}), 200)
          : Result<ApiResponse>(client.status());
  if (!res.ok()) {
    return ReportError(res.status(), g.json);
  }
  const json meta = {{"host_id", res->body.value("host_id", "")},
                     {"hostname", *hostname},
                     {"fingerprint_sha256", res->body.value("fingerprint_sha256", "")},
                     {"not_after", res->body.value("not_after", "")}};
  if (Status st = SaveExternal(g.dir, *id, trust, meta); !st.ok()) {
    return ReportError(st, g.json);
  }
  if (g.json) {
    PrintJson(res->body);
    return 0;
  }
  std::cout << "enrolled the external certificate for " << *hostname << "\n"
            << FormatFields({{"  host ID", Cell(res->body, "host_id")},
                             {"  fingerprint", Cell(res->body, "fingerprint_sha256")},
                             {"  expires", Cell(res->body, "not_after")},
                             {"  state", ExternalPaths(g.dir).dir}});
  return 0;
}

int Remove(const Globals& g, bool local_only) {
  auto id = LoadInstalledExternal(g.dir);
  if (!id.ok()) {
    return ReportError(id.status(), g.json);
  }
  json out = {{"removed_local", true}, {"removed_on_server", false}};
  if (!local_only) {
    auto client = ExternalClient(g, id->tls);
    auto res = client.ok() ? ExpectStatus((*client)->Delete("/v1/external"), 200)
                           : Result<ApiResponse>(client.status());
    // An expired or revoked external certificate cannot authenticate its
    // own removal: the host's internal certificate can.
    if (!res.ok() && (res.status().code() == Code::kUnauthenticated ||
                      res.status().code() == Code::kPermissionDenied)) {
      if (auto host = LoadHostState(StatePaths(g.dir)); host.ok()) {
        auto internal = HostClient(g, *host);
        if (internal.ok()) {
          res = ExpectStatus((*internal)->Delete("/v1/external"), 200);
        }
      }
    }
    if (!res.ok()) {
      // Keep the files: the server still knows the certificate.
      return ReportError(res.status(), g.json);
    }
    out["removed_on_server"] = true;
  }
  if (Status st = RemoveExternal(g.dir); !st.ok()) {
    return ReportError(st, g.json);
  }
  if (g.json) {
    PrintJson(out);
  } else {
    std::cout << "removed the external certificate"
              << (local_only ? " from this host only (--local)" : "") << "\n";
  }
  return 0;
}

int Show(const Globals& g) {
  auto id = LoadInstalledExternal(g.dir);
  if (!id.ok()) {
    return ReportError(id.status(), g.json);
  }
  auto meta_text = ReadFile(ExternalPaths(g.dir).meta());
  json meta = meta_text.ok() ? json::parse(*meta_text, nullptr, false) : json::object();
  if (!meta.is_object()) {
    meta = json::object();
  }
  auto info = InspectCertificate(id->tls.cert.get());
  if (info.ok()) {
    meta["names"] = info->dns_names;
    meta["serial"] = info->serial_hex;
  }
  if (g.json) {
    PrintJson(meta);
    return 0;
  }
  std::cout << FormatFields({{"host ID", Cell(meta, "host_id")},
                             {"hostname", Cell(meta, "hostname")},
                             {"names", Cell(meta, "names")},
                             {"external serial", Cell(meta, "serial")},
                             {"fingerprint", Cell(meta, "fingerprint_sha256")},
                             {"expires", Cell(meta, "not_after")}});
  return 0;
}

// Stores external roots to trust for the server's external certificate
// (admins, and hosts that enrolled with --trust omitted).
int Trust(const Globals& g, const std::string& file) {
  auto pem = ReadFile(file);
  if (!pem.ok()) {
    return ReportError(pem.status(), g.json);
  }
  auto certs = CertsFromPemBundle(*pem);
  if (!certs.ok() || certs->empty()) {
    return ReportError(InvalidArgument(file + " holds no PEM certificate", "bad_external_cert"),
                       g.json);
  }
  std::string normalized;
  for (const X509Ptr& c : *certs) {
    auto one = CertToPem(c.get());
    if (!one.ok()) {
      return ReportError(one.status(), g.json);
    }
    normalized += *one;
  }
  const ExternalPaths p(g.dir);
  Status st = MakeDirs(p.dir, 0700);
  if (st.ok()) {
    st = WriteFileAtomic(p.trust(), normalized, 0644);
  }
  if (!st.ok()) {
    return ReportError(st, g.json);
  }
  if (g.json) {
    PrintJson({{"trusted", certs->size()}, {"file", p.trust()}});
  } else {
    std::cout << "trusting " << certs->size() << " external certificate(s) for the server ("
              << p.trust() << ")\n";
  }
  return 0;
}

}  // namespace

void AddExternalCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* ext = app.add_subcommand("external", "this host's certificate from an external CA");
  ext->require_subcommand(1);
  auto args = std::make_shared<ExternalEnrollArgs>();
  CLI::App* e = ext->add_subcommand(
      "enroll", "prove possession of an externally signed certificate and enroll it");
  e->add_option("--cert", args->cert, "the certificate (PEM; more certificates = its chain)")
      ->required();
  e->add_option("--key", args->key, "its private key (PEM, unencrypted)")->required();
  e->add_option("--chain", args->chain, "intermediates to send with it (PEM)");
  e->add_option("--trust", args->trust,
                "external root(s) to trust for the server's external certificate (PEM; "
                "default: the self-signed certificates in --chain)");
  e->add_option("--hostname", args->hostname,
                "the host it belongs to (default: the hostname of this host's enrollment)");
  OnRun(e, action, [&g, args] { return Enroll(g, *args); });

  auto local_only = std::make_shared<bool>(false);
  CLI::App* r = ext->add_subcommand("remove", "forget the external certificate");
  r->add_flag("--local", *local_only, "only delete the local files, do not tell the server");
  OnRun(r, action, [&g, local_only] { return Remove(g, *local_only); });

  auto trust_file = std::make_shared<std::string>();
  CLI::App* t = ext->add_subcommand(
      "trust", "trust an external root for the server's external certificate (mixed/external)");
  t->add_option("file", *trust_file, "PEM file of the external root(s)")->required();
  OnRun(t, action, [&g, trust_file] { return Trust(g, *trust_file); });

  CLI::App* s = ext->add_subcommand("show", "the installed external certificate");
  OnRun(s, action, [&g] { return Show(g); });
}

}  // namespace hostca::cli
