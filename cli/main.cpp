// hostca: the client of a hostca server, for hosts and administrators.
// Exit codes: 0 ok, 1 error, 2 usage.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli/client.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

struct Globals {
  std::string server = "https://localhost:8443";
  std::string dir = "/var/lib/hostca";
  bool json = false;
};

std::string NormalizeFingerprint(std::string fp) {
  fp.erase(std::remove(fp.begin(), fp.end(), ':'), fp.end());
  std::transform(fp.begin(), fp.end(), fp.begin(), [](unsigned char c) { return std::tolower(c); });
  return fp;
}

int Fail(const Status& st) {
  std::cerr << "hostca: " << st.ToString() << "\n";
  return 1;
}

// `hostca ca get [--fingerprint SHA256]`: fetches the CA certificate, checks
// it against the fingerprint the operator got out of band (or the CA pinned
// earlier in DIR/ca.crt), then talks to the server again with the CA pinned
// so its TLS certificate must chain to it. Writes DIR/ca.crt only when every
// check passed.
int CaGet(const Globals& g, const std::string& fingerprint_flag) {
  const std::string ca_path = g.dir + "/ca.crt";
  std::string expected = NormalizeFingerprint(fingerprint_flag);
  if (expected.empty()) {
    auto pinned = ReadFile(ca_path);
    if (!pinned.ok()) {
      return Fail(InvalidArgument("no CA pinned in " + g.dir +
                                  " yet: give --fingerprint SHA256 (from the CA operator)"));
    }
    auto cert = CertFromPem(*pinned);
    if (!cert.ok()) {
      return Fail(cert.status().WithContext(ca_path));
    }
    expected = *CertFingerprintSha256(cert->get());
  }
  auto url = ParseServerUrl(g.server);
  if (!url.ok()) {
    return Fail(url.status());
  }
  auto unpinned = ApiClient::Create(*url, "");
  auto res = (*unpinned)->Get("/v1/ca");
  if (!res.ok()) {
    return Fail(res.status());
  }
  if (res->status != 200 || !res->body.is_object() || !res->body["certificate"].is_string()) {
    return Fail(ErrorFromResponse(*res));
  }
  const std::string ca_pem = res->body["certificate"].get<std::string>();
  auto cert = CertFromPem(ca_pem);
  if (!cert.ok()) {
    return Fail(cert.status().WithContext("the server sent a CA certificate that does not parse"));
  }
  const std::string actual = *CertFingerprintSha256(cert->get());
  if (actual != expected) {
    return Fail(PermissionDenied("CA fingerprint mismatch: expected " + expected +
                                     ", the server presented " + actual + "; nothing was saved",
                                 "fingerprint_mismatch"));
  }
  auto pinned = ApiClient::Create(*url, ca_pem);
  if (!pinned.ok()) {
    return Fail(pinned.status());
  }
  auto again = (*pinned)->Get("/v1/ca");
  if (!again.ok()) {
    return Fail(again.status());
  }
  if (Status st = MakeDirs(g.dir, 0700); !st.ok()) {
    return Fail(st);
  }
  if (Status st = WriteFileAtomic(ca_path, ca_pem, 0644); !st.ok()) {
    return Fail(st);
  }
  if (g.json) {
    std::cout << nlohmann::json{{"fingerprint_sha256", actual},
                                {"security_level", again->body.value("security_level", "")},
                                {"mode", again->body.value("mode", "")},
                                {"path", ca_path}}
                     .dump()
              << "\n";
  } else {
    std::cout << "CA pinned: " << ca_path << "\n"
              << "  fingerprint (SHA-256): " << actual << "\n"
              << "  security level:        " << again->body.value("security_level", "?") << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace hostca::cli

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  hostca::cli::Globals g;
  CLI::App app{"hostca: client of a hostca certificate authority"};
  app.require_subcommand(1);
  app.add_option("--server", g.server, "server URL, https://HOST:PORT")
      ->envname("HOSTCA_SERVER");
  app.add_option("--dir", g.dir, "host state directory (default /var/lib/hostca)");
  app.add_flag("--json", g.json, "machine-readable output");
  app.fallthrough();  // global options may follow the subcommand

  CLI::App* ca = app.add_subcommand("ca", "the CA certificate");
  ca->require_subcommand(1);
  std::string fingerprint;
  CLI::App* ca_get = ca->add_subcommand("get", "fetch and pin the CA certificate");
  ca_get->add_option("--fingerprint", fingerprint,
                     "SHA-256 fingerprint of the CA (hex, colons allowed) to pin on first contact");
  ca->fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (ca_get->parsed()) {
    return hostca::cli::CaGet(g, fingerprint);
  }
  return 2;
}
