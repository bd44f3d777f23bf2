// End-to-end: the real hostca-server and hostca binaries on loopback.
#include <httplib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/server_process.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

CommandResult Init(const std::string& data, const std::string& extra = "") {
  return Run(ShellQuote(BinaryPath("hostca-server")) + " init --data " + ShellQuote(data) + " " +
             extra);
}

// Every file under `dir` with its content hash, to prove nothing changed.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      out[e.path().string()] = HexEncode(Sha256(*ReadFile(e.path().string())));
    }
  }
  return out;
}

TEST_CASE("init writes the data directory with private files at 0600") {
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  const CommandResult init = Init(data, "--name Example");
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  for (const char* f : {"ca.key", "ca.pass", "admin.token", "tls/server.key"}) {
    INFO(f);
    REQUIRE(*FileMode(data + "/" + f) == 0600);
  }
  REQUIRE(FileExists(data + "/ca.crt"));
  REQUIRE(FileExists(data + "/tls/server.crt"));
  REQUIRE(FileExists(data + "/db/data.mdb"));
  // The admin token is not in the store in clear.
  const std::string token = *ReadFile(data + "/admin.token");
  const std::string db = *ReadFile(data + "/db/data.mdb");
  REQUIRE(db.find(token.substr(0, 43)) == std::string::npos);
  // The fingerprint printed is the CA certificate's.
  auto ca = CertFromPem(*ReadFile(data + "/ca.crt"));
  REQUIRE(ca.ok());
  REQUIRE_THAT(init.output, Catch::Contains(*CertFingerprintSha256(ca->get())));
  // The server's TLS certificate chains to the CA for its default names.
  const CommandResult verify =
      Run("openssl verify -x509_strict -purpose sslserver -CAfile " + ShellQuote(data + "/ca.crt") +
          " " + ShellQuote(data + "/tls/server.crt"));
  INFO(verify.output);
  REQUIRE(verify.exit_code == 0);
  const CommandResult text =
      Run("openssl x509 -noout -ext subjectAltName -in " + ShellQuote(data + "/tls/server.crt"));
  REQUIRE_THAT(text.output,
               Catch::Contains("DNS:localhost") && Catch::Contains("IP Address:127.0.0.1"));
}

TEST_CASE("init twice on the same directory refuses the second time and changes nothing") {
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  REQUIRE(Init(data).exit_code == 0);
  const auto before = Snapshot(data);
  const CommandResult again = Init(data, "--key-type p384");
  REQUIRE(again.exit_code == 1);
  REQUIRE_THAT(again.output, Catch::Contains("ca_exists"));
  REQUIRE(Snapshot(data) == before);
}

TEST_CASE("hostca-server tidy runs on a data directory and refuses an empty one") {
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  REQUIRE(Init(data).exit_code == 0);
  const CommandResult tidy = Run(ShellQuote(BinaryPath("hostca-server")) + " tidy --data " +
                                 ShellQuote(data) + " --retention-days 30");
  INFO(tidy.output);
  REQUIRE(tidy.exit_code == 0);
  REQUIRE_THAT(tidy.output, Catch::Contains("removed 0 records"));
  REQUIRE(
      Run(ShellQuote(BinaryPath("hostca-server")) + " tidy --data " + ShellQuote(tmp.Sub("none")))
          .exit_code == 1);
}

TEST_CASE("init refuses bad options with usage or clear errors") {
  TempDir tmp;
  REQUIRE(Init(tmp.Sub("a"), "--key-type dsa").exit_code == 1);
  REQUIRE_FALSE(FileExists(tmp.Sub("a") + "/ca.key"));
  REQUIRE(Run(ShellQuote(BinaryPath("hostca-server")) + " init").exit_code == 2);
  REQUIRE(Run(ShellQuote(BinaryPath("hostca-server")) + " frobnicate").exit_code == 2);
}

TEST_CASE("serve: /v1/ca over pinned TLS, /ca.crt over plain HTTP, ca get pins, SIGTERM exits 0") {
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  REQUIRE(Init(data).exit_code == 0);
  const std::string ca_path = data + "/ca.crt";
  const std::string ca_pem = *ReadFile(ca_path);
  auto ca = CertFromPem(ca_pem);
  const std::string fingerprint = *CertFingerprintSha256(ca->get());

  ServerProcess server(data, tmp.Sub("server.log"));
  REQUIRE(server.WaitReady(ca_path));

  httplib::SSLClient tls("localhost", server.https_port());
  tls.set_ca_cert_path(ca_path);
  tls.enable_server_certificate_verification(true);
  auto res = tls.Get("/v1/ca");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const auto body = nlohmann::json::parse(res->body);
  REQUIRE(body["fingerprint_sha256"] == fingerprint);
  REQUIRE(body["certificate"] == ca_pem);
  REQUIRE(body["chain"] == nlohmann::json::array({ca_pem}));
  REQUIRE(body["security_level"] == "high");
  REQUIRE(body["crl_refresh_seconds"] == 14400);
  REQUIRE(body["mode"] == "internal");
  REQUIRE_FALSE(res->get_header_value("X-Request-Id").empty());

  httplib::Client plain("127.0.0.1", server.http_port());
  auto der = plain.Get("/ca.crt");
  REQUIRE(der);
  REQUIRE(der->status == 200);
  REQUIRE(der->get_header_value("Content-Type") == "application/pkix-cert");
  REQUIRE(*CertToDer(ca->get()) == der->body);
  // The plain listener serves nothing else.
  REQUIRE(plain.Get("/v1/ca")->status == 404);

  // The client pins the CA on first contact and refuses a mismatch.
  const std::string hostca = ShellQuote(BinaryPath("hostca"));
  const std::string url = server.https_url();
  CommandResult wrong = Run(hostca + " ca get --server " + url + " --dir " +
                            ShellQuote(tmp.Sub("h1")) + " --fingerprint " + std::string(64, 'a'));
  REQUIRE(wrong.exit_code == 1);
  REQUIRE_THAT(wrong.output, Catch::Contains("fingerprint_mismatch"));
  REQUIRE_FALSE(FileExists(tmp.Sub("h1") + "/ca.crt"));
  // Options may stand after the subcommand, and colons are accepted.
  std::string colon_fp;
  for (size_t i = 0; i < fingerprint.size(); i += 2) {
    colon_fp += (i ? ":" : "") + fingerprint.substr(i, 2);
  }
  CommandResult right = Run(hostca + " ca get --fingerprint " + colon_fp + " --server " + url +
                            " --dir " + ShellQuote(tmp.Sub("h2")) + " --json");
  INFO(right.output);
  REQUIRE(right.exit_code == 0);
  REQUIRE(nlohmann::json::parse(right.output)["fingerprint_sha256"] == fingerprint);
  REQUIRE(*ReadFile(tmp.Sub("h2") + "/ca.crt") == ca_pem);

  // One log line per request with a request ID; no secret in the log.
  const std::string log = server.Log();
  REQUIRE_THAT(log, Catch::Contains("GET /v1/ca 200") && Catch::Contains("req="));
  REQUIRE(log.find(*ReadFile(data + "/admin.token")) == std::string::npos);

  REQUIRE(server.Terminate() == 0);
  REQUIRE_THAT(server.Log(), Catch::Contains("stopped"));
}

TEST_CASE("serve refuses a wrong passphrase and a directory without a CA, with clear errors") {
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  REQUIRE(Init(data).exit_code == 0);
  const CommandResult wrong =
      Run("HOSTCA_KEY_PASSPHRASE=wrong " + ShellQuote(BinaryPath("hostca-server")) +
          " serve --data " + ShellQuote(data) + " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0");
  REQUIRE(wrong.exit_code == 1);
  REQUIRE_THAT(wrong.output, Catch::Contains("bad_passphrase"));
  const CommandResult empty = Run(ShellQuote(BinaryPath("hostca-server")) + " serve --data " +
                                  ShellQuote(tmp.Sub("empty")) + " --listen 127.0.0.1:0");
  REQUIRE(empty.exit_code == 1);
  REQUIRE_THAT(empty.output, Catch::Contains("holds no CA"));
}

// Voluntary context switches of all of `pid`'s threads so far: how often
// they went to sleep, so the difference over a window counts wake-ups.
uint64_t Wakeups(pid_t pid) {
  uint64_t sum = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream status(task.path().string() + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
        sum += std::stoull(line.substr(line.find(':') + 1));
      }
    }
  }
  return sum;
}

TEST_CASE("an idle server stops looking at its mapped store pages until the store is used") {
  // While the store is in use the maintenance thread looks at the mapped
  // pages every 10 ms (server/mapped_pages.h); a second without growth and
  // it sleeps until the next use. Idle, the whole server here wakes a few
  // times a second; looking, a hundred times more. The half-second windows
  // are the measurement, not a wait for the server.
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  REQUIRE(Init(data).exit_code == 0);
  ServerProcess server(data, tmp.Sub("server.log"));
  REQUIRE(server.WaitReady(data + "/ca.crt"));
  constexpr uint64_t kIdle = 10;     // most wake-ups in a half-second window when idle
  constexpr uint64_t kLooking = 25;  // fewest when looking (about 50)
  const auto window = [&] {
    const uint64_t before = Wakeups(server.pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return Wakeups(server.pid()) - before;
  };
  // Polls the windows until two in a row are idle (the first may hold the
  // last looks); at most 20 (10 s).
  const auto becomes_idle = [&] {
    int quiet = 0;
    for (int i = 0; i < 20 && quiet < 2; ++i) {
      const uint64_t n = window();
      UNSCOPED_INFO("window " << i << ": " << n << " wake-ups");
      quiet = n <= kIdle ? quiet + 1 : 0;
    }
    return quiet == 2;
  };
  REQUIRE(becomes_idle());
  // A use of the store (listing the tokens reads it) wakes the thread.
  httplib::SSLClient tls("localhost", server.https_port());
  tls.set_ca_cert_path(data + "/ca.crt");
  tls.enable_server_certificate_verification(true);
  std::string token = *ReadFile(data + "/admin.token");
  while (!token.empty() && token.back() == '\n') {
    token.pop_back();
  }
  tls.set_bearer_token_auth(token);
  const auto res = tls.Get("/v1/tokens");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  const uint64_t looking = window();
  INFO(looking << " wake-ups in the half second after the request");
  REQUIRE(looking >= kLooking);
  REQUIRE(becomes_idle());
  REQUIRE(server.Terminate() == 0);
}

}  // namespace
}  // namespace hostca::testing
