// TLS settings of the real hostca-server's API listener as `openssl
// s_client` sees them (issue 7): TLS 1.2 or newer with forward-secret AEAD
// suites only. The client runs at SECLEVEL=0 so that every refusal below is
// the server's, not the client's own policy.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/server_process.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

// One real server for every case of this file (started on first use).
struct TlsServer {
  TempDir tmp;
  std::string data, ca_path;
  std::unique_ptr<ServerProcess> server;

  TlsServer() {
    data = tmp.Sub("ca");
    const CommandResult init =
        Run(ShellQuote(BinaryPath("hostca-server")) + " init --data " + ShellQuote(data));
    if (init.exit_code != 0) {
      throw std::runtime_error("init failed: " + init.output);
    }
    ca_path = data + "/ca.crt";
    server = std::make_unique<ServerProcess>(data, tmp.Sub("server.log"));
    if (!server->WaitReady(ca_path)) {
      throw std::runtime_error("server not ready: " + server->Log());
    }
  }
  ~TlsServer() {
    if (server && !server->Exited()) {
      server->Terminate();
    }
  }
};

TlsServer& Server() {
  static TlsServer s;
  return s;
}

// `openssl s_client` against the API listener with `args`; stdin closed so it
// quits after the handshake. OPENSSL_CONF=/dev/null keeps the system's
// client policy out of the way.
CommandResult SClient(const std::string& args) {
  TlsServer& s = Server();
  return Run("OPENSSL_CONF=/dev/null timeout 20 openssl s_client -connect 127.0.0.1:" +
             std::to_string(s.server->https_port()) + " -servername localhost -CAfile " +
             ShellQuote(s.ca_path) + " -verify_return_error " + args + " </dev/null");
}

// The handshake failed because the server said no: the client sent its
// hello (SECLEVEL=0, so nothing was refused client-side) and the server
// answered with `alert` ("protocol version" or "handshake failure").
void RequireRefused(const std::string& args, const std::string& alert) {
  const CommandResult r = SClient(args);
  INFO("s_client " << args << "\n" << r.output);
  REQUIRE(r.exit_code != 0);
  REQUIRE_THAT(r.output, !Catch::Contains("no protocols available") &&
                             !Catch::Contains("no ciphers available"));
  REQUIRE_THAT(r.output, Catch::Contains("alert " + alert) && Catch::Contains("Cipher is (NONE)"));
}
const char kProtocol[] = "protocol version";
const char kHandshake[] = "handshake failure";

// The handshake succeeded with `protocol` and `cipher` and the chain verified.
void RequireAccepted(const std::string& args, const std::string& protocol,
                     const std::string& cipher) {
  const CommandResult r = SClient(args);
  INFO("s_client " << args << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Catch::Contains("Protocol  : " + protocol) ||
                             Catch::Contains(", " + protocol + ","));
  REQUIRE_THAT(r.output,
               Catch::Contains("Cipher is " + cipher) || Catch::Contains("Cipher    : " + cipher));
  REQUIRE_THAT(r.output, Catch::Contains("Verify return code: 0 (ok)"));
}

TEST_CASE("TLS 1.0 is refused by the server") {
  RequireRefused("-tls1 -cipher 'DEFAULT:@SECLEVEL=0'", kProtocol);
}

TEST_CASE("TLS 1.1 is refused by the server") {
  RequireRefused("-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'", kProtocol);
}

TEST_CASE("TLS 1.2 without forward secrecy is refused") {
  RequireRefused("-tls1_2 -cipher 'AES256-GCM-SHA384:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'AES128-GCM-SHA256:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'kRSA:@SECLEVEL=0'", kHandshake);
}

TEST_CASE("TLS 1.2 CBC suites are refused even with ECDHE") {
  RequireRefused("-tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'ECDHE-RSA-AES256-SHA:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'CBC:@SECLEVEL=0'", kHandshake);
}

TEST_CASE("TLS 1.2 without encryption or with legacy ciphers is refused") {
  RequireRefused("-tls1_2 -cipher 'eNULL:aNULL:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher '3DES:RC4:CAMELLIA:ARIA:@SECLEVEL=0'", kHandshake);
  RequireRefused("-tls1_2 -cipher 'DHE:!ECDHE:@SECLEVEL=0'", kHandshake);
}

TEST_CASE("TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 is accepted") {
  RequireAccepted("-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2",
                  "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_CASE("TLS 1.2 ECDHE with AES-256-GCM or ChaCha20 is accepted") {
  RequireAccepted("-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2",
                  "ECDHE-ECDSA-AES256-GCM-SHA384");
  RequireAccepted("-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305", "TLSv1.2",
                  "ECDHE-ECDSA-CHACHA20-POLY1305");
}

TEST_CASE("TLS 1.3 is accepted") {
  RequireAccepted("-tls1_3", "TLSv1.3", "TLS_");
  RequireAccepted("-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3",
                  "TLS_CHACHA20_POLY1305_SHA256");
}

TEST_CASE("the server sends its certificate without the self-signed CA, which clients hold") {
  // RFC 8446 section 4.4.2: a trust anchor may be left out of the chain;
  // every certificate sent costs each client a parse.
  const CommandResult r = SClient("-showcerts");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  size_t sent = 0;
  for (size_t at = r.output.find("-----BEGIN CERTIFICATE-----"); at != std::string::npos;
       at = r.output.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++sent;
  }
  REQUIRE(sent == 1);
  REQUIRE_THAT(r.output, Catch::Contains("Verify return code: 0 (ok)"));
  // GnuTLS builds the same path from the CA file.
  TlsServer& s = Server();
  const CommandResult g =
      Run("timeout 20 gnutls-cli --x509cafile " + ShellQuote(s.ca_path) + " --port " +
          std::to_string(s.server->https_port()) + " localhost </dev/null");
  INFO(g.output);
  REQUIRE(g.exit_code == 0);
  REQUIRE_THAT(g.output, Catch::Contains("certificate is trusted") ||
                             Catch::Contains("Handshake was completed"));
  REQUIRE_THAT(g.output, !Catch::Contains("NOT trusted"));
}

TEST_CASE("the server still answers after the refused handshakes") {
  // Refusals, then a normal request: nothing was left wedged.
  RequireRefused("-tls1 -cipher 'DEFAULT:@SECLEVEL=0'", kProtocol);
  RequireRefused("-tls1_2 -cipher 'AES256-GCM-SHA384:@SECLEVEL=0'", kHandshake);
  TlsServer& s = Server();
  const CommandResult r =
      Run("curl -sS --max-time 15 --cacert " + ShellQuote(s.ca_path) +
          " https://localhost:" + std::to_string(s.server->https_port()) + "/healthz");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE_THAT(r.output, Catch::Contains("\"ok\""));
  REQUIRE_FALSE(s.server->Exited());
}

}  // namespace
}  // namespace hostca::testing
