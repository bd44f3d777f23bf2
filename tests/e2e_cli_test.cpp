// End-to-end with the real binaries: an admin and a host drive a real
// server with nothing but the `hostca` client.
#include <httplib.h>

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file.h"
#include "common/pem.h"
#include "tests/cli_world.h"
#include "tests/external_ca.h"
#include "tests/server_process.h"
#include "tests/systemd_unit.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

using nlohmann::json;

TEST_CASE("a wrong fingerprint at ca get stops the client before it enrolls") {
  CliWorld w;
  const auto wrong =
      w.Host("h", "ca get --fingerprint " + std::string(64, 'b') + " && echo SHOULD-NOT-RUN");
  REQUIRE(wrong.exit_code == 1);
  REQUIRE_THAT(wrong.err, Catch::Contains("fingerprint_mismatch"));
  REQUIRE(wrong.out.find("SHOULD-NOT-RUN") == std::string::npos);
  // Without a pinned CA, enroll refuses to talk to the server at all.
  const auto enroll = w.Host("h", "enroll --hostname web.example --token x");
  REQUIRE(enroll.exit_code == 1);
  REQUIRE(w.server().Log().find("/v1/enroll") == std::string::npos);
}

TEST_CASE("admin and host workflow through the hostca client") {
  CliWorld w;
  REQUIRE(w.Admin("ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  REQUIRE(w.Host("h", "ca get --fingerprint " + w.fingerprint()).exit_code == 0);

  const auto token = w.Admin("token create web --max-uses 2 --ttl 1h --json");
  INFO(token.err);
  REQUIRE(token.exit_code == 0);
  const std::string value = json::parse(token.out)["token"];
  REQUIRE(value.size() == 43);

  const auto enrolled = w.Host("h", "enroll --hostname web.example --token " + value + " --json");
  INFO(enrolled.err);
  REQUIRE(enrolled.exit_code == 0);
  const json e = json::parse(enrolled.out);
  const std::string host_id = e["host_id"];
  REQUIRE(*FileMode(w.tmp().Sub("h") + "/host.key") == 0600);
  const auto verify =
      Run("openssl verify -x509_strict -purpose sslclient -CAfile " +
          ShellQuote(w.data() + "/ca.crt") + " " + ShellQuote(w.tmp().Sub("h") + "/host.crt"));
  INFO(verify.output);
  REQUIRE(verify.exit_code == 0);

  const auto status = w.Host("h", "status --json");
  INFO(status.err);
  REQUIRE(status.exit_code == 0);
  const json st = json::parse(status.out);
  REQUIRE(st.dump().find(host_id) != std::string::npos);
  REQUIRE(st.dump().find("high") != std::string::npos);

  // Not due yet: renew does nothing; --force renews over TLS client auth.
  REQUIRE(json::parse(w.Host("h", "renew --json").out)["renewed"] == false);
  const auto renewed = w.Host("h", "renew --force --json");
  INFO(renewed.err);
  REQUIRE(renewed.exit_code == 0);
  REQUIRE(json::parse(renewed.out)["host_id"] == host_id);
  REQUIRE(w.Host("h", "agent --once").exit_code == 0);

  // Admin views and the level.
  REQUIRE(w.Admin("cert list --host web.example --json").out.find(host_id) != std::string::npos);
  REQUIRE(w.Admin("host show web.example").exit_code == 0);
  REQUIRE(w.Admin("level set very-high").exit_code == 0);
  REQUIRE(json::parse(w.Admin("level get --json").out)["level"] == "very-high");
  const auto no_token =
      w.Host("h2", "ca get --fingerprint " + w.fingerprint() + " && " +
                       ShellQuote(BinaryPath("hostca")) + " --server " + w.server().https_url() +
                       " --dir " + ShellQuote(w.tmp().Sub("h2")) + " enroll --hostname db.example");
  REQUIRE(no_token.exit_code == 1);
  REQUIRE_THAT(no_token.err, Catch::Contains("token_required"));

  // The host revokes its own certificate; renewal is then refused.
  REQUIRE(w.Host("h", "revoke --reason keyCompromise").exit_code == 0);
  const auto refused = w.Host("h", "renew --force");
  REQUIRE(refused.exit_code == 1);
  REQUIRE_THAT(refused.err, Catch::Contains("certificate_revoked"));

  // Every action is in the audit log, and the chain verifies.
  const auto audit = w.Admin("audit verify");
  INFO(audit.out << audit.err);
  REQUIRE(audit.exit_code == 0);
  REQUIRE_THAT(audit.out, Catch::Contains("audit chain OK"));
  const std::string log_json = w.Admin("audit list --json").out;
  for (const char* action :
       {"token.create", "cert.enroll", "cert.renew", "level.set", "cert.revoke"}) {
    INFO(action);
    REQUIRE(log_json.find(action) != std::string::npos);
  }

  // Metrics in Prometheus text.
  httplib::SSLClient cli("localhost", w.server().https_port());
  cli.set_ca_cert_path(w.data() + "/ca.crt");
  cli.enable_server_certificate_verification(true);
  auto metrics = cli.Get("/metrics");
  REQUIRE(metrics);
  REQUIRE_THAT(metrics->body,
               Catch::Contains("hostca_certificates_issued_total 1") &&
                   Catch::Contains("hostca_certificates_renewed_total 1") &&
                   Catch::Contains("hostca_refused_total{code=\"token_required\"} 1") &&
                   Catch::Contains("hostca_request_duration_seconds_bucket") &&
                   Catch::Contains("hostca_store_batch_size_bucket") &&
                   Catch::Contains("hostca_store_commit_duration_seconds_bucket{le=\"+Inf\"} ") &&
                   Catch::Contains("hostca_store_apply_seconds_total ") &&
                   Catch::Contains("hostca_store_free_bytes ") &&
                   Catch::Contains("\nhostca_store_writebacks_total ") &&
                   // a store under storage.mapped_mib keeps fault-around
                   Catch::Contains("hostca_store_single_page_faults 0\n"));

  // The server cannot dump core (keys and tokens are in its memory).
  const std::string limits = *ReadFile("/proc/" + std::to_string(w.server().pid()) + "/limits");
  const auto core = limits.find("Max core file size");
  REQUIRE(core != std::string::npos);
  std::istringstream fields(limits.substr(core + 18, limits.find('\n', core) - core - 18));
  std::string soft, hard;
  fields >> soft >> hard;
  REQUIRE(soft == "0");
  REQUIRE(hard == "0");

  // No secret it was given or made (token values, the admin token, the CA
  // key passphrase, the CA and TLS private keys) in its log, the store, the
  // metrics or the client's output.
  REQUIRE(w.server().Terminate() == 0);
  const std::string log = w.server().Log();
  std::string admin = *ReadFile(w.data() + "/admin.token");
  admin.pop_back();
  std::string pass = *ReadFile(w.data() + "/ca.pass");
  while (!pass.empty() && (pass.back() == '\n' || pass.back() == '\r')) {
    pass.pop_back();
  }
  auto key_body = [](const std::string& pem) {  // one base64 line of the key
    const auto start = pem.find('\n') + 1;
    return pem.substr(start, 40);
  };
  const std::string tls_key = key_body(*ReadFile(w.data() + "/tls/server.key"));
  const std::string ca_key = key_body(*ReadFile(w.data() + "/ca.key"));
  const std::string db = *ReadFile(w.data() + "/db/data.mdb");
  REQUIRE(pass.size() >= 16);
  for (const std::string& secret : {value, admin, pass, tls_key, ca_key}) {
    REQUIRE(log.find(secret) == std::string::npos);
    REQUIRE(db.find(secret) == std::string::npos);
    REQUIRE(metrics->body.find(secret) == std::string::npos);
    REQUIRE(log_json.find(secret) == std::string::npos);
  }
}

// DESIGN.md sections 6 and 8: a host keeps the CRL in its state with
// `hostca crl fetch` (304 when unchanged) and the agent; OpenSSL checks peers
// against that file.
TEST_CASE("hosts fetch the CRL into their state and OpenSSL checks peers against it") {
  CliWorld w;
  REQUIRE(w.Admin("ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  const std::string token =
      json::parse(w.Admin("token create two --max-uses 2 --json").out)["token"];
  std::string bad_serial;
  for (const std::string h : {"good", "bad"}) {
    REQUIRE(w.Host(h, "ca get --fingerprint " + w.fingerprint()).exit_code == 0);
    const auto e = w.Host(h, "enroll --hostname " + h + ".example --token " + token + " --json");
    INFO(e.err);
    REQUIRE(e.exit_code == 0);
    bad_serial = json::parse(e.out)["serial"];
  }

  const auto first = w.Host("good", "crl fetch --json");
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const json f1 = json::parse(first.out);
  REQUIRE(f1["updated"] == true);
  REQUIRE(f1["previous_crl_number"].is_null());
  const int64_t n1 = f1["crl_number"];
  const std::string crl = w.tmp().Sub("good") + "/crl.pem";
  REQUIRE_THAT(*ReadFile(crl), Catch::StartsWith("-----BEGIN X509 CRL-----"));

  // Unchanged: the ETag goes back and the server answers 304.
  const json f2 = json::parse(w.Host("good", "crl fetch --json").out);
  REQUIRE(f2["not_modified"] == true);
  REQUIRE(f2["updated"] == false);
  REQUIRE(f2["crl_number"] == n1);

  // An admin revokes "bad" and forces a publish; the host picks it up.
  REQUIRE(w.Admin("cert revoke " + bad_serial + " --reason keyCompromise").exit_code == 0);
  const auto published = w.Admin("crl publish --json");
  INFO(published.err);
  REQUIRE(published.exit_code == 0);
  const int64_t n2 = json::parse(published.out)["number"];
  REQUIRE(n2 > n1);
  REQUIRE_THAT(w.Admin("crl publish").out, Catch::Contains("published CRL number"));
  const json f3 = json::parse(w.Host("good", "crl fetch --json").out);
  REQUIRE(f3["updated"] == true);
  REQUIRE(f3["previous_crl_number"] == n1);
  REQUIRE(f3["crl_number"].get<int64_t>() > n2);
  REQUIRE(f3["entries"] == 1);
  const json shown = json::parse(w.Host("good", "crl show --json").out);
  REQUIRE(shown["crl_number"] == f3["crl_number"]);
  REQUIRE(shown["expired"] == false);

  const std::string verify = "openssl verify -crl_check -CAfile " +
                             ShellQuote(w.data() + "/ca.crt") + " -CRLfile " + ShellQuote(crl) +
                             " ";
  const auto revoked = Run(verify + ShellQuote(w.tmp().Sub("bad") + "/host.crt"));
  REQUIRE(revoked.exit_code != 0);
  REQUIRE_THAT(revoked.output, Catch::Contains("certificate revoked"));
  const auto valid = Run(verify + ShellQuote(w.tmp().Sub("good") + "/host.crt"));
  INFO(valid.output);
  REQUIRE(valid.exit_code == 0);

  // The agent: a host without a CRL fetches one; right after, it is not due;
  // once an interval has passed (checked_at moved back) it asks with the
  // ETag and gets a 304.
  const auto a1 = w.Host("bad", "agent --once --json");
  INFO(a1.err);
  REQUIRE(a1.exit_code == 0);
  const json j1 = json::parse(a1.out);
  REQUIRE(j1["crl"] == "updated");
  REQUIRE(j1["crl_number"].get<int64_t>() >= f3["crl_number"].get<int64_t>());
  REQUIRE(json::parse(w.Host("bad", "agent --once --json").out)["crl"] == "not_due");
  const std::string state = w.tmp().Sub("bad") + "/crl.json";
  json cached = json::parse(*ReadFile(state));
  cached["checked_at"] = cached["checked_at"].get<int64_t>() - 5 * 3600;
  REQUIRE(WriteFileAtomic(state, cached.dump(), 0644).ok());
  const json a3 = json::parse(w.Host("bad", "agent --once --json").out);
  REQUIRE(a3["crl"] == "not_modified");
  REQUIRE(a3["crl_number"] == j1["crl_number"]);
}

// The CRL number and entries of the CRL on the plain-HTTP listener.
std::string CrlText(CliWorld& w) {
  httplib::Client cli("127.0.0.1", w.server().http_port());
  auto res = cli.Get("/crl");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const std::string path = w.tmp().Sub("crl.der");
  std::ofstream(path, std::ios::binary) << res->body;
  return Run("openssl crl -inform DER -noout -text -in " + ShellQuote(path)).output;
}

long CrlNumberOf(const std::string& text) {
  const auto pos = text.find("CRL Number:");
  REQUIRE(pos != std::string::npos);
  return std::stol(text.substr(text.find_first_not_of(" \n", pos + 11)), nullptr, 16);
}

TEST_CASE(
    "SIGKILL right after a revocation: the restarted server's CRL has it with a higher number") {
  CliWorld w;
  REQUIRE(w.Admin("ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  REQUIRE(w.Host("h", "ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  const std::string token = json::parse(w.Admin("token create k --json").out)["token"];
  const auto enrolled = w.Host("h", "enroll --hostname k.example --token " + token + " --json");
  REQUIRE(enrolled.exit_code == 0);
  std::string serial = json::parse(enrolled.out)["serial"];
  const long before = CrlNumberOf(CrlText(w));
  const auto revoked = w.Admin("cert revoke " + serial + " --reason keyCompromise");
  INFO(revoked.err);
  REQUIRE(revoked.exit_code == 0);
  REQUIRE(w.server().Kill() == -1);
  w.Restart();
  const std::string text = CrlText(w);
  if (serial.size() % 2 != 0) {
    serial.insert(serial.begin(), '0');
  }
  for (char& c : serial) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  REQUIRE_THAT(text,
               Catch::Contains("Serial Number: " + serial) && Catch::Contains("Key Compromise"));
  REQUIRE(CrlNumberOf(text) > before);
}

}  // namespace
TEST_CASE("a host enrolls an external certificate with the hostca client and the domain switches") {
  TempDir ext_tmp;
  ExternalCa ext(ext_tmp.Sub("ext"), "Acme");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const auto server_cert =
      ext.IssueLeaf("server", "localhost", {"localhost"}, now - 3600, now + 30 * 86400);
  const auto web = ext.IssueLeaf("web", "web.example", {"web.example"}, now - 3600, now + 86400);
  REQUIRE(WriteFileAtomic(ext_tmp.Sub("bundle.pem"), ext.bundle_pem(), 0644).ok());
  REQUIRE(MakeDirs(ext_tmp.Sub("crls"), 0700).ok());
  REQUIRE(WriteFileAtomic(ext_tmp.Sub("crls/acme.crl"), ext.IntermediateCrlPem(), 0644).ok());
  // Relative paths in the configuration are taken from its directory.
  REQUIRE(WriteFileAtomic(ext_tmp.Sub("hostca.toml"),
                          "[external]\n"
                          "trust_bundle = \"bundle.pem\"\n"
                          "crl_check = \"leaf\"\n"
                          "crl_dir = \"crls\"\n"
                          "cdp_download = false\n"
                          "server_cert = \"ext/server.pem\"\n"
                          "server_key = \"ext/server.key\"\n"
                          "server_chain = \"ext/server-chain.pem\"\n",
                          0644)
              .ok());
  CliWorld w({"--config", ext_tmp.Sub("hostca.toml")});
  REQUIRE(w.Admin("ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  REQUIRE(w.Host("h", "ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  REQUIRE(w.Admin("host add web.example").exit_code == 0);

  // The chain file ends with the intermediate; the root to trust for the
  // server's external certificate is given with --trust.
  const auto enrolled = w.Host(
      "h", "external enroll --hostname web.example --cert " + ShellQuote(web.cert_path) +
               " --key " + ShellQuote(web.key_path) + " --chain " + ShellQuote(web.chain_path) +
               " --trust " + ShellQuote(ext.root_path()) + " --json");
  INFO(enrolled.err);
  REQUIRE(enrolled.exit_code == 0);
  const std::string fingerprint = json::parse(enrolled.out)["fingerprint_sha256"];
  REQUIRE(*FileMode(w.tmp().Sub("h") + "/external/host.key") == 0600);
  const auto shown = w.Admin("host show web.example");
  INFO(shown.out);
  REQUIRE_THAT(shown.out, Catch::Contains("external"));
  REQUIRE(json::parse(w.Admin("host show web.example --json").out)["source"] == "external");
  REQUIRE_THAT(w.Host("h", "external show").out, Catch::Contains(fingerprint));
  const auto status = w.Host("h", "status --json");
  INFO(status.err);
  REQUIRE(status.exit_code == 0);
  REQUIRE(json::parse(status.out)["external"]["fingerprint_sha256"] == fingerprint);

  // Mode switches through the client; in external mode the server presents
  // its external certificate, which the host (trusting the external root)
  // accepts, and enrollment is refused as the mode says.
  REQUIRE(w.Admin("mode set external").exit_code == 0);
  const auto served =
      Run("openssl s_client -connect 127.0.0.1:" + std::to_string(w.server().https_port()) +
          " </dev/null 2>/dev/null | openssl x509 -noout -issuer");
  REQUIRE_THAT(served.output, Catch::Contains("Acme Intermediate"));
  const auto refused = w.Host("h", "enroll --hostname web.example");
  INFO(refused.err);
  REQUIRE(refused.exit_code == 1);
  REQUIRE_THAT(refused.err, Catch::Contains("external_mode"));

  // The admin's client pinned only the internal CA: it refuses the
  // external certificate until it trusts the external root too.
  REQUIRE(w.Admin("mode get").exit_code == 1);
  REQUIRE(w.Admin("external trust " + ShellQuote(ext.root_path())).exit_code == 0);
  REQUIRE(json::parse(w.Admin("mode get --json").out)["mode"] == "external");

  // Back to internal; the host drops its external certificate and enrolls
  // internally (pre-registered: no token at the default level).
  REQUIRE(w.Admin("mode set internal").exit_code == 0);
  const auto removed = w.Host("h", "external remove");
  INFO(removed.err);
  REQUIRE(removed.exit_code == 0);
  REQUIRE(!FileExists(w.tmp().Sub("h") + "/external/host.crt"));
  REQUIRE(json::parse(w.Admin("host show web.example --json").out)["source"] == "internal");
  const auto internal = w.Host("h", "enroll --hostname web.example");
  INFO(internal.err);
  REQUIRE(internal.exit_code == 0);
  REQUIRE(Run("openssl verify -CAfile " + ShellQuote(w.data() + "/ca.crt") + " " +
              ShellQuote(w.tmp().Sub("h") + "/host.crt"))
              .exit_code == 0);
}

// conf/hostca-agent.service's command, run as systemd would run it: the
// unit's ExecStart (on this host's state directory) with HOSTCA_SERVER in
// its environment (the unit's Environment= line, set to this server). The
// long-running agent fetches the CRL on its first pass, and SIGTERM ends it
// with exit 0, which systemd takes as a clean stop.
TEST_CASE("the agent unit's ExecStart keeps a host's CRL and stops cleanly on SIGTERM") {
  const auto keys = ServiceKeys(ReadUnit("hostca-agent.service"));
  const std::vector<std::string> command = Words(keys.at("ExecStart"));
  REQUIRE(command == std::vector<std::string>{"/usr/local/bin/hostca", "--dir",
                                              "/var/lib/" + keys.at("StateDirectory"), "agent"});
  REQUIRE_THAT(keys.at("Environment"), Catch::StartsWith("HOSTCA_SERVER=https://"));
  CHECK(keys.count("KillSignal") == 0);  // SIGTERM, systemd's default

  CliWorld w;
  REQUIRE(w.Admin("ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  REQUIRE(w.Host("h", "ca get --fingerprint " + w.fingerprint()).exit_code == 0);
  const std::string token = json::parse(w.Admin("token create web --json").out)["token"];
  REQUIRE(w.Host("h", "enroll --hostname web.example --token " + token).exit_code == 0);
  const std::string dir = w.tmp().Sub("h");
  REQUIRE(!std::filesystem::exists(dir + "/crl.pem"));

  const std::string log = w.tmp().Sub("agent.log");
  const pid_t pid = SpawnLogged({BinaryPath("hostca"), "--dir", dir, "agent"},
                                {"HOSTCA_SERVER=" + w.server().https_url()}, log);
  // The agent's first pass; it keeps running after it.
  const bool fetched = PollUntil([&] { return std::filesystem::exists(dir + "/crl.pem"); },
                                 std::chrono::seconds(30));
  int status = 0;
  const bool still_running = ::waitpid(pid, &status, WNOHANG) == 0;
  ::kill(pid, SIGTERM);
  if (still_running) {
    ::waitpid(pid, &status, 0);
  }
  INFO("agent log:\n" << *ReadFile(log));
  REQUIRE(fetched);
  REQUIRE(still_running);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The CRL it keeps, checked by OpenSSL against the CA.
  const auto crl = Run("openssl crl -noout -in " + ShellQuote(dir + "/crl.pem") + " -CAfile " +
                       ShellQuote(w.data() + "/ca.crt"));
  INFO(crl.output);
  CHECK(crl.exit_code == 0);
  CHECK_THAT(crl.output, Catch::Contains("verify OK"));
}

}  // namespace hostca::testing
