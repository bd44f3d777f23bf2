// `hostca ca get`: fetch and pin the CA certificate.
#include <algorithm>
#include <cctype>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

std::string NormalizeFingerprint(std::string fp) {
  fp.erase(std::remove(fp.begin(), fp.end(), ':'), fp.end());
  std::transform(fp.begin(), fp.end(), fp.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return fp;
}

// The fingerprint to compare with: the flag, else the CA pinned earlier.
Result<std::string> ExpectedFingerprint(const Globals& g, const std::string& flag) {
  if (!flag.empty()) {
    return NormalizeFingerprint(flag);
  }
  const StatePaths paths(g.dir);
  auto pinned = ReadFile(paths.ca_crt());
  if (!pinned.ok()) {
    return InvalidArgument("no CA pinned in " + g.dir +
                           " yet: give --fingerprint SHA256 (from the CA operator)");
  }
  auto cert = CertFromPem(*pinned);
  if (!cert.ok()) {
    return cert.status().WithContext(paths.ca_crt());
  }
  return CertFingerprintSha256(cert->get());
}

// Fetches the CA unpinned and checks its fingerprint; returns its PEM.
Result<std::string> FetchCa(const ServerUrl& url, const std::string& expected) {
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> unpinned, ApiClient::Create(url, ""));
  HOSTCA_ASSIGN_OR_RETURN(ApiResponse res, ExpectStatus(unpinned->Get("/v1/ca"), 200));
  if (!res.body.is_object() || !res.body.contains("certificate") ||
      !res.body["certificate"].is_string()) {
    return ErrorFromResponse(res);
  }
  const std::string ca_pem = res.body["certificate"].get<std::string>();
  auto cert = CertFromPem(ca_pem);
  if (!cert.ok()) {
    return cert.status().WithContext("the server sent a CA certificate that does not parse");
  }
  HOSTCA_ASSIGN_OR_RETURN(std::string actual, CertFingerprintSha256(cert->get()));
  if (actual != expected) {
    return PermissionDenied("CA fingerprint mismatch: expected " + expected +
                                ", the server presented " + actual + "; nothing was saved",
                            "fingerprint_mismatch");
  }
  return ca_pem;
}

// `hostca ca get [--fingerprint SHA256]`: fetches the CA certificate, checks
// it against the fingerprint the operator got out of band (or the CA pinned
// earlier in DIR/ca.crt), then talks to the server again with the CA pinned
// so its TLS certificate must chain to it. Writes DIR/ca.crt only when every
// check passed.
int CaGet(const Globals& g, const std::string& fingerprint_flag) {
  const auto fail = [&](const Status& st) { return ReportError(st, g.json); };
  auto expected = ExpectedFingerprint(g, fingerprint_flag);
  auto url = ParseServerUrl(g.server);
  if (!expected.ok() || !url.ok()) {
    return fail(expected.ok() ? url.status() : expected.status());
  }
  auto ca_pem = FetchCa(*url, *expected);
  if (!ca_pem.ok()) {
    return fail(ca_pem.status());
  }
  auto pinned = ApiClient::Create(*url, *ca_pem);
  auto again = pinned.ok() ? ExpectStatus((*pinned)->Get("/v1/ca"), 200)
                           : Result<ApiResponse>(pinned.status());
  if (!again.ok()) {
    return fail(again.status());
  }
  const StatePaths paths(g.dir);
  if (Status st = MakeDirs(g.dir, 0700); !st.ok()) {
    return fail(st);
  }
  if (Status st = WriteFileAtomic(paths.ca_crt(), *ca_pem, 0644); !st.ok()) {
    return fail(st);
  }
  const std::string level = again->body.is_object() ? again->body.value("security_level", "") : "";
  const std::string mode = again->body.is_object() ? again->body.value("mode", "") : "";
  if (g.json) {
    PrintJson({{"fingerprint_sha256", *expected},
               {"security_level", level},
               {"mode", mode},
               {"path", paths.ca_crt()}});
  } else {
    std::cout << "CA pinned: " << paths.ca_crt() << "\n"
              << FormatFields({{"  fingerprint (SHA-256)", *expected},
                               {"  security level", level},
                               {"  mode", mode}});
  }
  return 0;
}

}  // namespace

void AddCaCommands(CLI::App& app, const Globals& g, Action* action) {
  CLI::App* ca = app.add_subcommand("ca", "the CA certificate");
  ca->require_subcommand(1);
  auto fingerprint = std::make_shared<std::string>();
  CLI::App* get = ca->add_subcommand("get", "fetch and pin the CA certificate into DIR/ca.crt");
  get->add_option("--fingerprint", *fingerprint,
                  "SHA-256 fingerprint of the CA (hex, colons allowed) to pin on first contact");
  OnRun(get, action, [&g, fingerprint] { return CaGet(g, *fingerprint); });
}

}  // namespace hostca::cli
