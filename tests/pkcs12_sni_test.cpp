// PKCS#12 and SNI end to end (issue 8): the real hostca-server and hostca
// binaries, checked with the openssl command line. Exports of the server's,
// an admin's and a host's certificate and of the CA read with
// `openssl pkcs12` (PBES2/AES-256-CBC, SHA-256 MAC) only with the
// passphrase; a file made by `openssl pkcs12 -export` is imported with
// import-tls; after a restart `openssl s_client -servername` gets the right
// certificate per name and the default for none or an unknown name.
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
std::string Client() { return ShellQuote(BinaryPath("hostca")); }

// A data directory with a running server.
struct World {
  World() {
    data = tmp.Sub("ca");
    const auto init = Run(Server() + " init --data " + ShellQuote(data));
    if (init.exit_code != 0) {
      throw std::runtime_error(init.output);
    }
    pass = tmp.Sub("p12.pass");
    REQUIRE(WriteFileAtomic(pass, "correct horse battery\n", 0600).ok());
    wrong = tmp.Sub("wrong.pass");
    REQUIRE(WriteFileAtomic(wrong, "not it\n", 0600).ok());
  }
  void Start(std::vector<std::string> args = {}, const std::string& trust = "") {
    server.reset();
    server = std::make_unique<ServerProcess>(
        data, tmp.Sub("server" + std::to_string(++starts) + ".log"), args);
    if (!server->WaitReady(trust.empty() ? data + "/ca.crt" : trust)) {
      throw std::runtime_error("server not ready: " + server->Log());
    }
  }
  SplitResult Hostca(const std::string& dir, const std::string& args) {
    return RunSplit(Client() + " --server " + server->https_url() + " --dir " +
                    ShellQuote(tmp.Sub(dir)) + " --admin-token-file " +
                    ShellQuote(data + "/admin.token") + " " + args);
  }
  // `openssl s_client` against the listener; `sni` "" sends no server name.
  // Returns the served leaf's subject line.
  std::string ServedSubject(const std::string& sni) {
    const std::string name = sni.empty() ? " -noservername" : " -servername " + ShellQuote(sni);
    return RunShell("openssl s_client -connect 127.0.0.1:" + std::to_string(server->https_port()) +
                    name + " </dev/null 2>/dev/null | openssl x509 -noout -subject")
        .output;
  }
  // What `openssl pkcs12 -info -noout` says of `p12` with `pass_file`.
  CommandResult P12Info(const std::string& p12, const std::string& pass_file) {
    return Run("openssl pkcs12 -info -noout -in " + ShellQuote(p12) +
               " -passin file:" + ShellQuote(pass_file));
  }
  void RequireModernP12(const std::string& p12) {
    const CommandResult info = P12Info(p12, pass);
    INFO(info.output);
    REQUIRE(info.exit_code == 0);
    REQUIRE_THAT(info.output, Catch::Contains("MAC: sha256"));
    REQUIRE_THAT(info.output, Catch::Contains("PBES2, PBKDF2, AES-256-CBC"));
    REQUIRE(P12Info(p12, wrong).exit_code != 0);
    REQUIRE(*FileMode(p12) == 0600);
  }

  TempDir tmp;
  std::string data, pass, wrong;
  std::unique_ptr<ServerProcess> server;
  int starts = 0;
};

TEST_CASE("server, admin and host certificates export as PKCS#12 that openssl reads") {
  World w;
  w.Start();
  const std::string fingerprint =
      *CertFingerprintSha256(CertFromPem(*ReadFile(w.data + "/ca.crt"))->get());
  // A host enrolls with a token; an admin certificate is issued.
  REQUIRE(w.Hostca("admin", "ca get --fingerprint " + fingerprint).exit_code == 0);
  REQUIRE(w.Hostca("h", "ca get --fingerprint " + fingerprint).exit_code == 0);
  const auto token = w.Hostca("admin", "token create web --json");
  REQUIRE(token.exit_code == 0);
  const auto enrolled = w.Hostca("h", "enroll --hostname web.example --json --token " +
                                          json::parse(token.out)["token"].get<std::string>());
  INFO(enrolled.err);
  REQUIRE(enrolled.exit_code == 0);
  const std::string host_serial = json::parse(enrolled.out)["serial"];
  const auto admin = Run(Server() + " admin-cert --data " + ShellQuote(w.data) +
                         " --name alice --out " + ShellQuote(w.tmp.Sub("keys")));
  INFO(admin.output);
  REQUIRE(admin.exit_code == 0);

  const std::string keys = " --data " + ShellQuote(w.data) + " --key-dir " +
                           ShellQuote(w.tmp.Sub("keys")) + " --passphrase-file " +
                           ShellQuote(w.pass);
  for (const auto& [name, serial] :
       {std::pair{"host", host_serial},
        std::pair{"server", SerialOfCertFile(w.data + "/tls/server.crt")},
        std::pair{"admin", SerialOfCertFile(w.tmp.Sub("keys") + "/alice.crt")}}) {
    INFO(name);
    const std::string out = w.tmp.Sub(std::string(name) + ".p12");
    const auto exported =
        w.Hostca("h", "cert export " + serial + " --p12 " + ShellQuote(out) + keys + " --json");
    INFO(exported.err);
    REQUIRE(exported.exit_code == 0);
    REQUIRE(json::parse(exported.out)["serial"] == serial);
    w.RequireModernP12(out);
    // The certificate, its key and the chain up to the CA are inside.
    const auto pem =
        Run("openssl pkcs12 -in " + ShellQuote(out) + " -nodes -passin file:" + ShellQuote(w.pass) +
            " | openssl verify -CAfile " + ShellQuote(w.data + "/ca.crt"));
    INFO(pem.output);
    REQUIRE(pem.exit_code == 0);
  }
  // Clear refusals with stable codes.
  const auto unknown =
      w.Hostca("h", "cert export abcdef --p12 " + ShellQuote(w.tmp.Sub("x.p12")) + keys);
  REQUIRE(unknown.exit_code == 1);
  REQUIRE_THAT(unknown.err, Catch::Contains("cert_not_found"));
  REQUIRE(WriteFileAtomic(w.tmp.Sub("empty.pass"), "\n", 0600).ok());
  const auto empty =
      w.Hostca("h", "cert export " + host_serial + " --p12 " + ShellQuote(w.tmp.Sub("x.p12")) +
                        " --passphrase-file " + ShellQuote(w.tmp.Sub("empty.pass")));
  REQUIRE(empty.exit_code == 1);
  REQUIRE_THAT(empty.err, Catch::Contains("empty_passphrase"));
  REQUIRE(w.Hostca("h", "cert export " + host_serial + " --p12 x.p12").exit_code == 2);
  REQUIRE(std::filesystem::remove(w.tmp.Sub("keys") + "/alice.key"));
  const auto no_key =
      w.Hostca("h", "cert export " + SerialOfCertFile(w.tmp.Sub("keys") + "/alice.crt") +
                        " --p12 " + ShellQuote(w.tmp.Sub("x.p12")) + keys);
  REQUIRE(no_key.exit_code == 1);
  REQUIRE_THAT(no_key.err, Catch::Contains("key_missing"));
  REQUIRE_FALSE(FileExists(w.tmp.Sub("x.p12")));
}

TEST_CASE("export-ca writes the CA certificate and its key, only under a passphrase") {
  World w;
  const std::string p12 = w.tmp.Sub("ca.p12");
  const std::string base =
      Server() + " export-ca --data " + ShellQuote(w.data) + " --p12 " + ShellQuote(p12);
  REQUIRE(Run(base).exit_code == 2);  // no passphrase: usage
  REQUIRE_FALSE(FileExists(p12));
  const auto exported = Run(base + " --p12-passphrase-file " + ShellQuote(w.pass));
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  w.RequireModernP12(p12);
  const std::string in =
      "openssl pkcs12 -in " + ShellQuote(p12) + " -passin file:" + ShellQuote(w.pass);
  const auto cert = Run(in + " -nokeys -clcerts | openssl x509 -noout -fingerprint -sha256");
  const auto ca =
      Run("openssl x509 -noout -fingerprint -sha256 -in " + ShellQuote(w.data + "/ca.crt"));
  REQUIRE(cert.exit_code == 0);
  REQUIRE(cert.output == ca.output);
  const auto key_pub = Run(in + " -nodes -nocerts | openssl pkey -pubout");
  const auto cert_pub = Run("openssl x509 -noout -pubkey -in " + ShellQuote(w.data + "/ca.crt"));
  REQUIRE(key_pub.exit_code == 0);
  REQUIRE_THAT(key_pub.output, Catch::Contains("BEGIN PUBLIC KEY"));
  REQUIRE(key_pub.output == cert_pub.output);
}

TEST_CASE("import-tls installs openssl-made PKCS#12 files and SNI picks them by name") {
  World w;
  ExternalCa ext(w.tmp.Sub("ext"), "Acme");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const auto a = ext.IssueLeaf("a", "a.example.test", {"a.example.test"}, now - 3600, now + 86400);
  const auto b = ext.IssueLeaf("b", "b.example.test", {"b.example.test", "*.wild.example.test"},
                               now - 3600, now + 86400);
  const std::string full_chain = w.tmp.Sub("chain.pem");
  REQUIRE(WriteFileAtomic(full_chain, ext.intermediate_pem() + ext.root_pem(), 0644).ok());
  auto export_p12 = [&](const ExternalCa::Leaf& leaf, const std::string& chain,
                        const std::string& out) {
    const auto r = Run("openssl pkcs12 -export -in " + ShellQuote(leaf.cert_path) + " -inkey " +
                       ShellQuote(leaf.key_path) + (chain.empty() ? "" : " -certfile " + chain) +
                       " -passout file:" + ShellQuote(w.pass) + " -out " + ShellQuote(out));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return out;
  };
  auto import = [&](const std::string& p12, const std::string& pass_file) {
    return Run(Server() + " import-tls --data " + ShellQuote(w.data) + " --p12 " + ShellQuote(p12) +
               " --p12-passphrase-file " + ShellQuote(pass_file));
  };
  // Incomplete chain (only the leaf) and a wrong passphrase are refused.
  const auto incomplete = import(export_p12(a, "", w.tmp.Sub("leaf-only.p12")), w.pass);
  REQUIRE(incomplete.exit_code == 1);
  REQUIRE_THAT(incomplete.output, Catch::Contains("incomplete_chain"));
  const std::string a_p12 = export_p12(a, ShellQuote(full_chain), w.tmp.Sub("a.p12"));
  const auto wrong = import(a_p12, w.wrong);
  REQUIRE(wrong.exit_code == 1);
  REQUIRE_THAT(wrong.output, Catch::Contains("pkcs12_bad_passphrase"));
  REQUIRE_FALSE(FileExists(w.data + "/tls/sni"));

  const auto imported_a = import(a_p12, w.pass);
  INFO(imported_a.output);
  REQUIRE(imported_a.exit_code == 0);
  REQUIRE_THAT(imported_a.output, Catch::Contains("next start"));
  REQUIRE(*FileMode(w.data + "/tls/sni/a.example.test.key") == 0600);
  REQUIRE(import(export_p12(b, ShellQuote(full_chain), w.tmp.Sub("b.p12")), w.pass).exit_code == 0);

  w.Start();
  REQUIRE_THAT(w.ServedSubject("a.example.test"), Catch::Contains("CN = a.example.test"));
  REQUIRE_THAT(w.ServedSubject("B.Example.Test"), Catch::Contains("CN = b.example.test"));
  REQUIRE_THAT(w.ServedSubject("x.wild.example.test"), Catch::Contains("CN = b.example.test"));
  REQUIRE_THAT(w.ServedSubject(""),
               Catch::Contains("CN = hostca server"));  // the internal identity
  REQUIRE_THAT(w.ServedSubject("unknown.example.test"), Catch::Contains("CN = hostca server"));
  // The full chain is served: s_client verifies it against the external root.
  const auto verified =
      Run("openssl s_client -connect 127.0.0.1:" + std::to_string(w.server->https_port()) +
          " -servername a.example.test -verify_return_error -verify_hostname "
          "a.example.test -CAfile " +
          ShellQuote(ext.root_path()) + " </dev/null");
  INFO(verified.output);
  REQUIRE(verified.exit_code == 0);

  // A configured default answers clients without (or with an unknown)
  // name; SNI names keep their certificates.
  const auto d = ext.IssueLeaf("d", "default.example.test", {"default.example.test,IP:127.0.0.1"},
                               now - 3600, now + 86400);
  const std::string d_pem = w.tmp.Sub("default.pem");
  REQUIRE(WriteFileAtomic(d_pem, d.cert_pem + ext.intermediate_pem() + d.key_pem, 0600).ok());
  const std::string conf = w.tmp.Sub("hostca.toml");
  REQUIRE(WriteFileAtomic(conf, "[tls]\ndefault_certificate = \"default.pem\"\n", 0644).ok());
  const std::string trust = w.tmp.Sub("trust.pem");
  REQUIRE(WriteFileAtomic(trust, *ReadFile(w.data + "/ca.crt") + ext.root_pem(), 0644).ok());
  w.Start({"--config", conf}, trust);
  REQUIRE_THAT(w.ServedSubject(""), Catch::Contains("CN = default.example.test"));
  REQUIRE_THAT(w.ServedSubject("unknown.example.test"),
               Catch::Contains("CN = default.example.test"));
  REQUIRE_THAT(w.ServedSubject("a.example.test"), Catch::Contains("CN = a.example.test"));
  w.server.reset();

  // A self-signed default refuses the start with a clear error.
  const std::string self = w.tmp.Sub("self.pem");
  REQUIRE(Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
              "-subj /CN=self.example.test -addext subjectAltName=DNS:self.example.test "
              "-keyout " +
              ShellQuote(w.tmp.Sub("self.key")) + " -out " + ShellQuote(self))
              .exit_code == 0);
  REQUIRE(WriteFileAtomic(
              conf, "[tls]\ndefault_certificate = \"self.pem\"\ndefault_key = \"self.key\"\n", 0644)
              .ok());
  ServerProcess refused(w.data, w.tmp.Sub("refused.log"), {"--config", conf});
  REQUIRE_FALSE(refused.WaitReady(w.data + "/ca.crt"));
  REQUIRE(refused.exit_code() == 1);
  REQUIRE_THAT(refused.Log(), Catch::Contains("self_signed_default"));

  // Two certificates for one name refuse the start too.
  REQUIRE(WriteFileAtomic(conf, "[tls]\nsni_certificates = [\"dup.pem\"]\n", 0644).ok());
  const auto dup = ext.IssueLeaf("dup", "dup", {"a.example.test"}, now - 3600, now + 86400);
  REQUIRE(WriteFileAtomic(w.tmp.Sub("dup.pem"), dup.cert_pem + dup.key_pem, 0600).ok());
  ServerProcess duplicate(w.data, w.tmp.Sub("dup.log"), {"--config", conf});
  REQUIRE_FALSE(duplicate.WaitReady(w.data + "/ca.crt"));
  REQUIRE_THAT(duplicate.Log(), Catch::Contains("duplicate_sni_name"));
}

}  // namespace
}  // namespace hostca::testing
