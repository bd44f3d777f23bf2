// External certificates over the real HTTPS API (DESIGN.md section 7): the
// external CA is built with the openssl command line (tests/external_ca.h),
// hosts present its certificates over TLS client authentication, and the
// domain switches internal -> mixed -> external -> internal.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/api_fixture.h"
#include "tests/external_ca.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

using nlohmann::json;

constexpr char kWeb1[] = "web1.example.com";
constexpr char kWeb2[] = "web2.example.com";

void WriteText(const std::string& path, const std::string& text) {
  REQUIRE(WriteFileAtomic(path, text, 0644).ok());
}

HostCreds CredsOf(const ExternalCa::Leaf& leaf) {
  HostCreds c;
  c.cert_pem = leaf.cert_pem;
  c.cert = std::move(*CertFromPem(leaf.cert_pem));
  c.key = std::move(*PrivateKeyFromPem(leaf.key_pem));
  return c;
}

// The external CA, a CRL directory holding its intermediate's CRL, and the
// server's own external certificate for "localhost".
struct ExternalSetup {
  explicit ExternalSetup(const std::string& leaf_cdp = "")
      : ca(tmp.Sub("ext"), "Acme", leaf_cdp), now(RealNow()) {
    bundle = tmp.Sub("bundle.pem");
    WriteText(bundle, ca.bundle_pem());
    crl_dir = tmp.Sub("crls");
    REQUIRE(MakeDirs(crl_dir, 0700).ok());
    server = ca.IssueLeaf("server", "localhost", {"localhost"}, now - 3600, now + 30 * 86400);
    // Clients trust both the internal CA and the external root for the server.
    trust = tmp.Sub("trust.pem");
  }
  void PublishIntermediateCrl() {
    WriteText(crl_dir + "/acme-intermediate.crl", ca.IntermediateCrlPem());
  }
  server::ServerOptions Options(const std::string& crl_check = "leaf",
                                bool with_server_cert = true) {
    server::ServerOptions o;
    o.external_trust_bundle = bundle;
    o.external_crl_check = crl_check;
    o.external_crl_dir = crl_dir;
    o.external_cdp_download = false;
    if (with_server_cert) {
      o.external_server_cert = server.cert_path;
      o.external_server_key = server.key_path;
      o.external_server_chain = server.chain_path;
    }
    return o;
  }
  void TrustBoth(ApiFixture& api) {
    WriteText(trust, *ReadFile(api.ca_path()) + ca.root_pem());
    api.SetServerTrust(trust);
  }
  static int64_t RealNow() { return static_cast<int64_t>(std::time(nullptr)); }

  TempDir tmp;
  ExternalCa ca;
  int64_t now;
  std::string bundle, crl_dir, trust;
  ExternalCa::Leaf server;
};

HttpResult ExternalEnroll(ApiFixture& api, const HostCreds& creds, const std::string& hostname) {
  return api.Call("POST", "/v1/external/enroll", {{"hostname", hostname}}, &creds);
}

// The issuer CN of the certificate the HTTPS listener serves, as OpenSSL's
// s_client sees it.
std::string ServedIssuer(int port) {
  const CommandResult r = RunShell("openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                   " -servername localhost </dev/null 2>/dev/null | openssl x509 "
                                   "-noout -issuer -nameopt RFC2253");
  return r.output;
}

}  // namespace

TEST_CASE("external certificates enroll and bad ones are refused with distinct codes") {
  ExternalSetup ext;
  ext.PublishIntermediateCrl();
  ApiFixture api(ext.Options());
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb2}}).status == 201);
  const int64_t now = ext.now;

  const auto good = ext.ca.IssueLeaf("good", kWeb1, {kWeb1}, now - 3600, now + 90 * 86400);
  const auto expired = ext.ca.IssueLeaf("expired", kWeb1, {kWeb1}, now - 90 * 86400, now - 3600);
  const auto other_host = ext.ca.IssueLeaf("other", kWeb2, {kWeb2}, now - 3600, now + 86400);
  const auto both_hosts = ext.ca.IssueLeaf("both", kWeb1, {kWeb1, kWeb2}, now - 3600, now + 86400);
  const auto revoked = ext.ca.IssueLeaf("revoked", kWeb1, {kWeb1}, now - 3600, now + 86400);
  ext.ca.Revoke(revoked);
  ext.PublishIntermediateCrl();
  ExternalCa stranger(ext.tmp.Sub("stranger"), "Stranger");
  const auto untrusted = stranger.IssueLeaf("untrusted", kWeb1, {kWeb1}, now - 3600, now + 86400);

  // An independent verifier agrees about the good and the revoked one.
  const std::string verify = "openssl verify -crl_check -CAfile " + ShellQuote(ext.ca.root_path()) +
                             " -untrusted " + ShellQuote(ext.ca.intermediate_path()) +
                             " -CRLfile " + ShellQuote(ext.crl_dir + "/acme-intermediate.crl");
  REQUIRE(Run(verify + " " + ShellQuote(good.cert_path)).exit_code == 0);
  REQUIRE(Run(verify + " " + ShellQuote(revoked.cert_path)).exit_code != 0);

  const HttpResult ok = ExternalEnroll(api, CredsOf(good), kWeb1);
  INFO(ok.raw);
  REQUIRE(ok.status == 200);
  const std::string fingerprint = ok.body["fingerprint_sha256"];
  REQUIRE(fingerprint.size() == 64);
  // Enrolling the same certificate again changes nothing.
  REQUIRE(ExternalEnroll(api, CredsOf(good), kWeb1).status == 200);

  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(untrusted), kWeb1), 401, "external_untrusted");
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(expired), kWeb1), 403, "external_expired");
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(other_host), kWeb1), 403,
                 "external_identity_mismatch");
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(both_hosts), kWeb1), 403,
                 "external_identity_mismatch");
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(revoked), kWeb1), 403, "external_revoked");
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(good), kWeb2), 403, "external_identity_mismatch");
  const auto stray = ext.ca.IssueLeaf("stray", "stray.example.com", {"stray.example.com"},
                                      now - 3600, now + 86400);
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(stray), "stray.example.com"), 404, "unknown_host");
  REQUIRE_ANSWER(api.Call("POST", "/v1/external/enroll", {{"hostname", kWeb1}}), 401,
                 "client_cert_required");

  // The host shows source external, and the certificate is in the inventory
  // with its expiry like an internal one.
  const HttpResult host = api.AdminCall("GET", std::string("/v1/hosts/") + kWeb1);
  REQUIRE(host.status == 200);
  REQUIRE(host.body["source"] == "external");
  REQUIRE(host.body["certificates"].size() == 1);
  REQUIRE(host.body["certificates"][0]["source"] == "external");
  REQUIRE(host.body["certificates"][0]["not_after"] == FormatRfc3339(now + 90 * 86400));
  const HttpResult expiring = api.AdminCall(
      "GET", "/v1/certs?expires_before=" + FormatRfc3339(now + 91 * 86400) + "&host=" + kWeb1);
  REQUIRE(expiring.status == 200);
  REQUIRE(expiring.raw.find(fingerprint) != std::string::npos);
  const HttpResult record = api.AdminCall("GET", "/v1/certs/" + fingerprint);
  REQUIRE(record.status == 200);
  REQUIRE(record.body["status"] == "valid");
  REQUIRE(record.body["external_serial"] == good.serial_hex);
  // hostca does not revoke what it did not sign.
  REQUIRE_ANSWER(api.AdminCall("POST", "/v1/certs/" + fingerprint + "/revoke", json::object()), 409,
                 "external_cert");
  const HttpResult audit = api.AdminCall("GET", "/v1/audit");
  REQUIRE(audit.raw.find("external.enroll") != std::string::npos);
}

TEST_CASE("chain mode refuses a certificate under a revoked intermediate that leaf mode accepts") {
  ExternalSetup ext;
  const auto leaf = ext.ca.IssueLeaf("leaf", kWeb1, {kWeb1}, ext.now - 3600, ext.now + 86400);
  ext.ca.RevokeIntermediate();
  ext.PublishIntermediateCrl();
  WriteText(ext.crl_dir + "/root.crl", ext.ca.RootCrlPem());
  {
    ApiFixture chain(ext.Options("chain"));
    REQUIRE(chain.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
    REQUIRE_ANSWER(ExternalEnroll(chain, CredsOf(leaf), kWeb1), 403, "external_chain_revoked");
  }
  ApiFixture leaf_only(ext.Options("leaf"));
  REQUIRE(leaf_only.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
  REQUIRE(ExternalEnroll(leaf_only, CredsOf(leaf), kWeb1).status == 200);
}

TEST_CASE("a missing CRL refuses external certificates until one is there") {
  ExternalSetup ext;  // no CRL published, no CDP
  ApiFixture api(ext.Options());
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
  const auto leaf = ext.ca.IssueLeaf("leaf", kWeb1, {kWeb1}, ext.now - 3600, ext.now + 86400);
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(leaf), kWeb1), 503, "external_crl_unavailable");
  ext.PublishIntermediateCrl();
  REQUIRE(ExternalEnroll(api, CredsOf(leaf), kWeb1).status == 200);
}

TEST_CASE("CRLs from the distribution point are cached and refreshed on the clock") {
  // A loopback HTTP server plays the external CA's CRL distribution point.
  httplib::Server cdp;
  std::mutex mu;
  std::string served;
  std::atomic<int> downloads{0};
  cdp.Get("/acme.crl", [&](const httplib::Request&, httplib::Response& res) {
    ++downloads;
    const std::lock_guard<std::mutex> lock(mu);
    res.set_content(served, "application/pkix-crl");
  });
  const int port = cdp.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  // Bound means listening: connections queue until the thread accepts them.
  std::thread cdp_thread([&] { cdp.listen_after_bind(); });
  struct Stop {
    httplib::Server& s;
    std::thread& t;
    ~Stop() {
      s.stop();
      t.join();
    }
  } stop{cdp, cdp_thread};

  ExternalSetup ext("http://127.0.0.1:" + std::to_string(port) + "/acme.crl");
  {
    const std::lock_guard<std::mutex> lock(mu);
    served = ext.ca.IntermediateCrlPem();
  }
  server::ServerOptions o = ext.Options();
  o.external_crl_dir.clear();
  o.external_cdp_download = true;
  o.external_cdp_refresh_seconds = 3600;
  ApiFixture api(o);
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
  const auto leaf = ext.ca.IssueLeaf("leaf", kWeb1, {kWeb1}, ext.now - 3600, ext.now + 86400);

  REQUIRE(ExternalEnroll(api, CredsOf(leaf), kWeb1).status == 200);
  REQUIRE(downloads == 1);
  // The CA revokes it; until the refresh interval passed, the cached CRL
  // stands and nothing is downloaded again.
  ext.ca.Revoke(leaf);
  {
    const std::lock_guard<std::mutex> lock(mu);
    served = ext.ca.IntermediateCrlPem();
  }
  api.clock().Advance(1800);
  REQUIRE(ExternalEnroll(api, CredsOf(leaf), kWeb1).status == 200);
  REQUIRE(downloads == 1);
  api.clock().Advance(1801);
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(leaf), kWeb1), 403, "external_revoked");
  REQUIRE(downloads == 2);
  const std::string metrics = api.Call("GET", "/metrics").raw;
  REQUIRE_THAT(metrics, Catch::Contains("hostca_external_crl_downloads_total 2"));
  REQUIRE_THAT(metrics, Catch::Contains("hostca_external_certificates 1"));
}

TEST_CASE("identity by subject matches the common name instead of the SAN names") {
  ExternalSetup ext;
  ext.PublishIntermediateCrl();
  server::ServerOptions o = ext.Options();
  o.external_identity = "subject";
  ApiFixture api(o);
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
  const auto by_cn = ext.ca.IssueLeaf("cn", kWeb1, {}, ext.now - 3600, ext.now + 86400);
  const auto by_san =
      ext.ca.IssueLeaf("san", "someone else", {kWeb1}, ext.now - 3600, ext.now + 86400);
  REQUIRE_ANSWER(ExternalEnroll(api, CredsOf(by_san), kWeb1), 403, "external_identity_mismatch");
  REQUIRE(ExternalEnroll(api, CredsOf(by_cn), kWeb1).status == 200);
}

TEST_CASE("a self-signed external server certificate refuses the start") {
  ExternalSetup ext;
  const std::string cert = ext.tmp.Sub("self.pem"), key = ext.tmp.Sub("self.key");
  REQUIRE(Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
              "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
              ShellQuote(key) + " -out " + ShellQuote(cert))
              .exit_code == 0);
  server::ServerOptions o = ext.Options();
  o.external_server_cert = cert;
  o.external_server_key = key;
  o.external_server_chain.clear();
  REQUIRE_THROWS_WITH(ApiFixture(o), Catch::Contains("self_signed_default"));
}

TEST_CASE("a switch to external mode is refused until the server and a host are ready") {
  ExternalSetup ext;
  ext.PublishIntermediateCrl();
  {
    ApiFixture no_server_cert(ext.Options("leaf", /*with_server_cert=*/false));
    REQUIRE(no_server_cert.AdminCall("PUT", "/v1/mode", {{"mode", "mixed"}}).status == 200);
    REQUIRE_ANSWER(no_server_cert.AdminCall("PUT", "/v1/mode", {{"mode", "external"}}), 409,
                   "external_server_cert_missing");
  }
  ApiFixture api(ext.Options());
  REQUIRE_ANSWER(api.AdminCall("PUT", "/v1/mode", {{"mode", "external"}}), 409,
                 "no_external_hosts");
  REQUIRE(api.AdminCall("GET", "/v1/mode").body["mode"] == "internal");
}

TEST_CASE("internal to mixed to external and back: certificates served and accepted per mode") {
  ExternalSetup ext;
  ext.PublishIntermediateCrl();
  ApiFixture api(ext.Options());
  ext.TrustBoth(api);
  const std::string internal_issuer = ServedIssuer(api.https_port());
  REQUIRE(internal_issuer.find("issuer=") != std::string::npos);
  REQUIRE(internal_issuer.find("Acme") == std::string::npos);

  // Internal mode: web1 enrolls internally, web2 holds only an external
  // certificate (enrolled ahead of the switch).
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb1}}).status == 201);
  REQUIRE(api.AdminCall("POST", "/v1/hosts", {{"hostname", kWeb2}}).status == 201);
  HostCreds web1;
  REQUIRE(api.Enroll(kWeb1, "", &web1).status == 201);
  const HostCreds web2 =
      CredsOf(ext.ca.IssueLeaf("web2", kWeb2, {kWeb2}, ext.now - 3600, ext.now + 90 * 86400));
  const HostCreds web1_ext =
      CredsOf(ext.ca.IssueLeaf("web1", kWeb1, {kWeb1}, ext.now - 3600, ext.now + 90 * 86400));
  REQUIRE(ExternalEnroll(api, web2, kWeb2).status == 200);
  REQUIRE(api.Call("GET", "/v1/whoami", nullptr, &web1).status == 200);
  REQUIRE_ANSWER(api.Call("GET", "/v1/whoami", nullptr, &web2), 401, "client_cert_invalid");

  // Mixed: the listener presents the external certificate; both kinds of
  // client certificate are accepted; issuance and renewal go on.
  REQUIRE(api.AdminCall("PUT", "/v1/mode", {{"mode", "mixed"}}).status == 200);
  REQUIRE(ServedIssuer(api.https_port()).find("CN=Acme Intermediate") != std::string::npos);
  const HttpResult who1 = api.Call("GET", "/v1/whoami", nullptr, &web1);
  REQUIRE(who1.status == 200);
  REQUIRE(who1.body["source"] == "internal");
  const HttpResult who2 = api.Call("GET", "/v1/whoami", nullptr, &web2);
  REQUIRE(who2.status == 200);
  REQUIRE(who2.body["source"] == "external");
  REQUIRE(api.Renew(&web1).status == 201);
  // web1 gets an external certificate too and then counts as external.
  REQUIRE(ExternalEnroll(api, web1_ext, kWeb1).status == 200);
  REQUIRE(api.AdminCall("GET", std::string("/v1/hosts/") + kWeb1).body["source"] == "external");
  REQUIRE(api.AdminCall("GET", std::string("/v1/ca")).body["mode"] == "mixed");

  // External: only external client certificates; no issuance, no renewal;
  // admin calls with the bearer token still work.
  REQUIRE(api.AdminCall("PUT", "/v1/mode", {{"mode", "external"}}).status == 200);
  REQUIRE(ServedIssuer(api.https_port()).find("CN=Acme Intermediate") != std::string::npos);
  REQUIRE_ANSWER(api.Call("GET", "/v1/whoami", nullptr, &web1), 401, "internal_cert_refused");
  REQUIRE(api.Call("GET", "/v1/whoami", nullptr, &web2).status == 200);
  REQUIRE_ANSWER(api.Enroll("web3.example.com", api.CreateToken("t3")), 409, "external_mode");
  REQUIRE_ANSWER(api.Renew(&web1), 401, "internal_cert_refused");
  KeyAndCsr kc = MakeCsr("renew");
  REQUIRE_ANSWER(api.Call("POST", "/v1/renew", {{"csr", kc.csr_pem}}, &web2), 409, "external_mode");
  REQUIRE_ANSWER(api.Call("POST", "/v1/revoke", json::object(), &web2), 409, "external_cert");
  REQUIRE(api.AdminCall("GET", "/v1/mode").body["mode"] == "external");
  REQUIRE_THAT(api.Call("GET", "/metrics").raw,
               Catch::Contains("hostca_mode{mode=\"external\"} 1"));

  // Back to internal: the internal certificate is served again, internal
  // client certificates work, external ones no longer authenticate, and new
  // hosts enroll under the current level (a token at the default level).
  REQUIRE(api.AdminCall("PUT", "/v1/mode", {{"mode", "internal"}}).status == 200);
  REQUIRE(ServedIssuer(api.https_port()).find("Acme") == std::string::npos);
  REQUIRE(api.Call("GET", "/v1/whoami", nullptr, &web1).status == 200);
  REQUIRE_ANSWER(api.Call("GET", "/v1/whoami", nullptr, &web2), 401, "client_cert_invalid");
  REQUIRE_ANSWER(api.Enroll("web3.example.com"), 403, "token_required");
  REQUIRE(api.Enroll("web3.example.com", api.CreateToken("t3b")).status == 201);
  // web2 never had an internal certificate: as a pre-registered host it
  // enrolls without a token at the default level.
  REQUIRE(api.Enroll(kWeb2).status == 201);
  // The host drops its external certificate.
  REQUIRE(api.AdminCall("PUT", "/v1/mode", {{"mode", "mixed"}}).status == 200);
  REQUIRE(api.Call("DELETE", "/v1/external", nullptr, &web1_ext).status == 200);
  REQUIRE(api.AdminCall("GET", std::string("/v1/hosts/") + kWeb1).body["source"] == "internal");
}

}  // namespace hostca::testing
