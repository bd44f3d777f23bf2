// `hostca-server admin-cert` and `tidy` beside a running server: the store
// has one writing process (the server, through its redo log by default),
// so these commands ask that server through its admin API
// (server/running_server.h), and work on the store themselves when no server
// holds it, including after a crash. The real binaries, checked with
// `openssl verify` and curl.
#include <algorithm>
#include <catch2/catch.hpp>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/pem.h"
#include "tests/external_ca.h"
#include "tests/server_process.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

using nlohmann::json;

std::string Server() { return ShellQuote(BinaryPath("hostca-server")); }

struct World {
  World() {
    data = tmp.Sub("ca");
    const auto init = Run(Server() + " init --data " + ShellQuote(data));
    if (init.exit_code != 0) {
      throw std::runtime_error(init.output);
    }
  }
  // `trust` verifies the certificate the listener presents (default:
  // DATA/ca.crt); `name` is what curl reaches it by.
  void Start(std::vector<std::string> args = {}, const std::string& trust = "",
             const std::string& name = "localhost") {
    server.reset();
    curl_trust = trust.empty() ? data + "/ca.crt" : trust;
    curl_name = name;
    server = std::make_unique<ServerProcess>(
        data, tmp.Sub("server" + std::to_string(++starts) + ".log"), std::move(args));
    if (!server->WaitReady(curl_trust)) {
      throw std::runtime_error("server not ready: " + server->Log());
    }
  }
  SplitResult AdminCert(const std::string& name) {
    return RunSplit(Server() + " admin-cert --data " + ShellQuote(data) + " --name " + name +
                    " --out " + ShellQuote(tmp.Sub("keys")));
  }
  SplitResult Tidy(const std::string& extra = "") {
    return RunSplit(Server() + " tidy --data " + ShellQuote(data) + " " + extra);
  }
  // HTTP status of an admin call made with NAME's admin certificate.
  std::string StatusWithCert(const std::string& name, const std::string& path) {
    const std::string keys = tmp.Sub("keys") + "/" + name;
    return RunShell("curl -s -o /dev/null -w '%{http_code}' " + CurlTarget() + " --cert " +
                    ShellQuote(keys + ".crt") + " --key " + ShellQuote(keys + ".key") + " " +
                    Url(path))
        .output;
  }
  json Audit() {
    const auto out = RunShell("curl -s " + CurlTarget() + " -H \"Authorization: Bearer $(cat " +
                              ShellQuote(data + "/admin.token") + ")\" " + Url("/v1/audit"));
    return json::parse(out.output);
  }
  std::string CurlTarget() const {
    return "--cacert " + ShellQuote(curl_trust) + " --resolve " + curl_name + ":" +
           std::to_string(server->https_port()) + ":127.0.0.1";
  }
  std::string Url(const std::string& path) const {
    return "https://" + curl_name + ":" + std::to_string(server->https_port()) + path;
  }
  bool Verifies(const std::string& name) {
    return Run("openssl verify -CAfile " + ShellQuote(data + "/ca.crt") + " " +
               ShellQuote(tmp.Sub("keys") + "/" + name + ".crt"))
               .exit_code == 0;
  }
  TempDir tmp;
  std::string data;
  std::string curl_trust, curl_name;
  std::unique_ptr<ServerProcess> server;
  int starts = 0;
};

bool AuditHas(const json& audit, const std::string& action, const std::string& detail) {
  for (const json& e : audit["entries"]) {
    if (e.value("action", "") == action &&
        e.value("detail", "").find(detail) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST_CASE("admin-cert and tidy go through the server that holds the store") {
  World w;
  w.Start();
  REQUIRE(FileExists(w.data + "/serve.json"));
  const json where = json::parse(*ReadFile(w.data + "/serve.json"));
  REQUIRE(where["https_port"] == w.server->https_port());

  const auto alice = w.AdminCert("alice");
  INFO(alice.out << alice.err);
  REQUIRE(alice.exit_code == 0);
  REQUIRE_THAT(alice.out, Catch::Contains("issued by the running server"));
  REQUIRE(std::filesystem::status(w.tmp.Sub("keys") + "/alice.key").permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  REQUIRE(w.Verifies("alice"));
  REQUIRE(w.StatusWithCert("alice", "/v1/tokens") == "200");
  REQUIRE(AuditHas(w.Audit(), "admin_cert.issue", "name=alice"));

  const auto tidy = w.Tidy("--retention-days 0");
  INFO(tidy.out << tidy.err);
  REQUIRE(tidy.exit_code == 0);
  REQUIRE_THAT(tidy.out, Catch::Contains("by the running server"));

  // The server's refusals come back with their codes, and nothing is written.
  const auto bad = w.AdminCert("not/a/name");
  REQUIRE(bad.exit_code != 0);
  const auto bad_days = w.Tidy("--retention-days 99999");
  REQUIRE(bad_days.exit_code == 1);
  REQUIRE_THAT(bad_days.err, Catch::Contains("retention_days"));
  const std::string token = *ReadFile(w.data + "/admin.token");
  REQUIRE(WriteFileAtomic(w.data + "/admin.token", "not-the-token\n", 0600).ok());
  const auto refused = w.AdminCert("mallory");
  REQUIRE(refused.exit_code == 1);
  REQUIRE_THAT(refused.err, Catch::Contains("unauthenticated") || Catch::Contains("admin"));
  REQUIRE_FALSE(FileExists(w.tmp.Sub("keys") + "/mallory.key"));
  REQUIRE(WriteFileAtomic(w.data + "/admin.token", token, 0600).ok());

  // Without serve.json the command cannot find the server and says so.
  std::filesystem::rename(w.data + "/serve.json", w.tmp.Sub("serve.json"));
  const auto lost = w.AdminCert("bob");
  REQUIRE(lost.exit_code == 1);
  REQUIRE_THAT(lost.err, Catch::Contains("server_unreachable"));
  REQUIRE_FALSE(FileExists(w.tmp.Sub("keys") + "/bob.key"));
  std::filesystem::rename(w.tmp.Sub("serve.json"), w.data + "/serve.json");

  // A clean stop removes serve.json; the commands then open the store.
  REQUIRE(w.server->Terminate() == 0);
  REQUIRE_FALSE(FileExists(w.data + "/serve.json"));
  const auto offline = w.AdminCert("carol");
  INFO(offline.out << offline.err);
  REQUIRE(offline.exit_code == 0);
  REQUIRE_THAT(offline.out, !Catch::Contains("running server"));
  REQUIRE(w.Verifies("carol"));
  const auto offline_tidy = w.Tidy();
  REQUIRE(offline_tidy.exit_code == 0);
  REQUIRE_THAT(offline_tidy.out, !Catch::Contains("running server"));
  w.Start();
  REQUIRE(w.StatusWithCert("carol", "/v1/tokens") == "200");
  REQUIRE(AuditHas(w.Audit(), "admin_cert.issue", "name=carol"));
}

TEST_CASE("after a crash of the server, admin-cert recovers the store and writes it") {
  World w;
  w.Start();
  REQUIRE(w.AdminCert("alice").exit_code == 0);
  REQUIRE(w.server->Kill() == -1);
  REQUIRE(FileExists(w.data + "/serve.json"));  // stale: nobody holds the store now
  const auto after = w.AdminCert("dave");
  INFO(after.out << after.err);
  REQUIRE(after.exit_code == 0);
  REQUIRE_THAT(after.out, !Catch::Contains("running server"));
  const auto check = Run(Server() + " check --data " + ShellQuote(w.data));
  INFO(check.output);
  REQUIRE(check.exit_code == 0);
  w.Start();
  const json audit = w.Audit();
  REQUIRE(AuditHas(audit, "admin_cert.issue", "name=alice"));
  REQUIRE(AuditHas(audit, "admin_cert.issue", "name=dave"));
  REQUIRE(w.StatusWithCert("dave", "/v1/tokens") == "200");
}

// The listener may present another CA's certificate ([tls]
// default_certificate here; [external] server_cert and SNI certificates
// alike): the command then trusts the certificates serve.json names, which
// the server wrote, instead of a chain to DATA/ca.crt.
TEST_CASE("admin-cert and tidy reach a server that presents another CA's certificate") {
  World w;
  ExternalCa ext(w.tmp.Sub("ext"), "Acme");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const auto leaf = ext.IssueLeaf("default", "default.example.test",
                                  {"default.example.test,IP:127.0.0.1"}, now - 3600, now + 86400);
  REQUIRE(WriteFileAtomic(w.tmp.Sub("default.pem"),
                          leaf.cert_pem + ext.intermediate_pem() + leaf.key_pem, 0600)
              .ok());
  const auto sni =
      ext.IssueLeaf("sni", "sni.example.test", {"sni.example.test"}, now - 3600, now + 86400);
  REQUIRE(WriteFileAtomic(w.tmp.Sub("sni.pem"), sni.cert_pem + sni.key_pem, 0600).ok());
  const std::string conf = w.tmp.Sub("hostca.toml");
  REQUIRE(WriteFileAtomic(conf,
                          "[tls]\ndefault_certificate = \"default.pem\"\n"
                          "sni_certificates = [\"sni.pem\"]\n",
                          0644)
              .ok());
  const std::string trust = w.tmp.Sub("trust.pem");
  REQUIRE(WriteFileAtomic(trust, ext.root_pem(), 0644).ok());
  w.Start({"--config", conf}, trust, "default.example.test");

  const auto ops = w.AdminCert("ops");
  INFO(ops.out << ops.err);
  REQUIRE(ops.exit_code == 0);
  REQUIRE_THAT(ops.out, Catch::Contains("issued by the running server"));
  REQUIRE(w.Verifies("ops"));  // issued by this CA, whatever the listener presents
  REQUIRE(w.StatusWithCert("ops", "/v1/tokens") == "200");
  const auto tidy = w.Tidy();
  INFO(tidy.out << tidy.err);
  REQUIRE(tidy.exit_code == 0);
  REQUIRE_THAT(tidy.out, Catch::Contains("by the running server"));

  // A listener presenting a certificate serve.json does not name gets
  // neither the admin token nor the CSR.
  json where = json::parse(*ReadFile(w.data + "/serve.json"));
  REQUIRE(where["tls_sha256"].is_array());
  REQUIRE(where["tls_sha256"].size() == 3);  // the internal, the SNI and the default one
  for (const std::string& pem :
       {*ReadFile(w.data + "/tls/server.crt"), sni.cert_pem, leaf.cert_pem}) {
    auto cert = CertFromPem(pem);
    REQUIRE(cert.ok());
    const auto fp = CertFingerprintSha256(cert->get());
    REQUIRE(fp.ok());
    REQUIRE(std::find(where["tls_sha256"].begin(), where["tls_sha256"].end(), *fp) !=
            where["tls_sha256"].end());
  }
  where["tls_sha256"] = json::array({std::string(64, '0')});
  REQUIRE(WriteFileAtomic(w.data + "/serve.json", where.dump(), 0644).ok());
  const auto refused = w.AdminCert("eve");
  INFO(refused.out << refused.err);
  REQUIRE(refused.exit_code == 1);
  REQUIRE_THAT(refused.err, Catch::Contains("server_unreachable"));
  REQUIRE_THAT(refused.err, Catch::Contains("serve.json"));
  REQUIRE_FALSE(FileExists(w.tmp.Sub("keys") + "/eve.key"));
  // One with no list at all (an older server's) is refused the same way.
  where.erase("tls_sha256");
  REQUIRE(WriteFileAtomic(w.data + "/serve.json", where.dump(), 0644).ok());
  const auto old = w.AdminCert("eve");
  REQUIRE(old.exit_code == 1);
  REQUIRE_THAT(old.err, Catch::Contains("names none of its certificates"));
  REQUIRE_FALSE(FileExists(w.tmp.Sub("keys") + "/eve.key"));
  REQUIRE_FALSE(AuditHas(w.Audit(), "admin_cert.issue", "name=eve"));
}

}  // namespace
}  // namespace hostca::testing
