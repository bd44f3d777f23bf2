// Crash consistency (DESIGN.md section 9): clients drive enrollments,
// renewals, revocations and token uses against the real server binary and
// write down every answer they got; the server is killed with SIGKILL at
// random moments and restarted. After every restart and at the end:
//   - every certificate a client received is in the store, with the status
//     the client was told (revoked when a revocation was acknowledged);
//   - no serial was handed out twice;
//   - no token was used more often than its maximum, nor less often than
//     the enrollments it was acknowledged for;
//   - the CRL number never went back, and the CRL holds every acknowledged
//     revocation;
//   - the audit chain verifies (`hostca audit verify`).
// HOSTCA_CRASH_ITERATIONS sets the number of kills (default 20).
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "common/file.h"
#include "common/pem.h"
#include "tests/api_fixture.h"
#include "tests/server_process.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

using nlohmann::json;

int Iterations() {
  const char* env = std::getenv("HOSTCA_CRASH_ITERATIONS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 20;
}

constexpr int kTokenUses = 4;

// What the clients were told. Guarded by mu.
struct Ledger {
  std::mutex mu;
  std::map<std::string, std::string> certs;  // serial -> "valid" | "revoked" | "revoking"
  std::vector<std::string> serials;          // every acknowledged serial, in order
  std::map<std::string, int> token_acks;     // token name -> acknowledged enrollments
  std::set<std::string> token_names;         // every token whose creation was acknowledged
  struct Held {
    std::string serial;
    std::string cert_pem;
    std::string key_pem;
  };
  std::vector<Held> held;  // certificates with their keys, for renewals
};

// The server of one iteration, as the clients reach it.
struct Target {
  int https_port = 0;
  std::string ca_path;
  std::string admin_token;
};

std::unique_ptr<httplib::SSLClient> Client(const Target& t, X509* cert = nullptr,
                                           EVP_PKEY* key = nullptr) {
  auto c = cert != nullptr
               ? std::make_unique<httplib::SSLClient>("127.0.0.1", t.https_port, cert, key)
               : std::make_unique<httplib::SSLClient>("127.0.0.1", t.https_port);
  c->set_ca_cert_path(t.ca_path.c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(std::chrono::seconds(2));
  c->set_read_timeout(std::chrono::seconds(10));
  return c;
}

json Parse(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }

// One client thread: random enrollments (with tokens), renewals and
// revocations until `stop`, recording acknowledged answers only.
void Drive(const Target& t, Ledger& ledger,
           const std::vector<std::pair<std::string, std::string>>& tokens, int worker,
           int iteration, const std::atomic<bool>& stop) {
  std::mt19937 rng(static_cast<unsigned>(iteration * 100 + worker));
  auto admin = Client(t);
  admin->set_bearer_token_auth(t.admin_token.c_str());
  auto anon = Client(t);
  for (int n = 0; !stop.load(); ++n) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 6 && !tokens.empty()) {
      const auto& [name, value] = tokens[rng() % tokens.size()];
      const std::string host = "h" + std::to_string(iteration) + "-" + std::to_string(worker) +
                               "-" + std::to_string(n) + ".crash.test";
      KeyAndCsr kc = MakeCsr(host);
      auto r = anon->Post("/v1/enroll",
                          json{{"csr", kc.csr_pem}, {"hostname", host}, {"token", value}}.dump(),
                          "application/json");
      const json body = Parse(r);
      if (r && (r->status == 403 || r->status == 429)) {
        continue;  // used up or rate-limited: refused, nothing to record
      }
      if (r && r->status == 201 && body.is_object()) {
        std::lock_guard<std::mutex> lock(ledger.mu);
        const std::string serial = body["serial"];
        ledger.certs[serial] = "valid";
        ledger.serials.push_back(serial);
        ++ledger.token_acks[name];
        ledger.held.push_back({serial, body["certificate"], *PrivateKeyToPem(kc.key.get())});
      }
    } else if (op < 8) {
      Ledger::Held h;
      {
        std::lock_guard<std::mutex> lock(ledger.mu);
        if (ledger.held.empty()) {
          continue;
        }
        h = ledger.held[rng() % ledger.held.size()];
        if (ledger.certs[h.serial] != "valid") {
          continue;
        }
      }
      auto cert = CertFromPem(h.cert_pem);
      auto key = PrivateKeyFromPem(h.key_pem);
      auto host = Client(t, cert->get(), key->get());
      KeyAndCsr kc = MakeCsr("renewal");
      auto r = host->Post("/v1/renew", json{{"csr", kc.csr_pem}}.dump(), "application/json");
      const json body = Parse(r);
      if (r && r->status == 201 && body.is_object()) {
        std::lock_guard<std::mutex> lock(ledger.mu);
        const std::string serial = body["serial"];
        ledger.certs[serial] = "valid";
        ledger.serials.push_back(serial);
        ledger.held.push_back({serial, body["certificate"], *PrivateKeyToPem(kc.key.get())});
      }
    } else {
      std::string serial;
      {
        std::lock_guard<std::mutex> lock(ledger.mu);
        if (ledger.held.empty()) {
          continue;
        }
        serial = ledger.held[rng() % ledger.held.size()].serial;
        if (ledger.certs[serial] == "revoked") {
          continue;
        }
        ledger.certs[serial] = "revoking";  // either outcome is right until acknowledged
      }
      auto r = admin->Post("/v1/certs/" + serial + "/revoke",
                           json{{"reason", "keyCompromise"}}.dump(), "application/json");
      if (r && (r->status == 200 || (r->status == 409 && Parse(r).dump().find("already_revoked") !=
                                                             std::string::npos))) {
        std::lock_guard<std::mutex> lock(ledger.mu);
        ledger.certs[serial] = "revoked";
      }
    }
  }
}

// Everything the clients were told, against the restarted server.
void Check(const Target& t, int http_port, Ledger& ledger, int64_t* last_crl_number) {
  std::lock_guard<std::mutex> lock(ledger.mu);
  auto admin = Client(t);
  admin->set_bearer_token_auth(t.admin_token.c_str());
  REQUIRE(std::set<std::string>(ledger.serials.begin(), ledger.serials.end()).size() ==
          ledger.serials.size());
  X509CrlPtr crl = FetchCrl(http_port);
  const int64_t number = CrlNumber(crl.get());
  REQUIRE(number > *last_crl_number);  // a restart publishes a new CRL
  *last_crl_number = number;
  // The whole inventory in one answer (the ledger stays well below the cap).
  REQUIRE(ledger.certs.size() < 10000);
  auto list = admin->Get("/v1/certs?limit=10000");
  REQUIRE(list);
  REQUIRE(list->status == 200);
  std::map<std::string, std::string> stored;
  const json listed_certs =
      json::parse(list->body);  // kept: the loop must not range over a temporary
  for (const json& c : listed_certs["certificates"]) {
    REQUIRE(stored.emplace(c["serial"].get<std::string>(), c["status"].get<std::string>()).second);
  }
  for (auto& [serial, told] : ledger.certs) {
    INFO("serial " << serial << " told " << told);
    const auto it = stored.find(serial);
    REQUIRE(it != stored.end());
    const std::string& status = it->second;
    if (told == "revoking") {
      REQUIRE((status == "valid" || status == "revoked"));
      told = status;  // settled by the store
    } else {
      REQUIRE(status == told);
    }
    if (told == "revoked") {
      BIGNUM* bn = nullptr;
      REQUIRE(BN_hex2bn(&bn, serial.c_str()) > 0);
      Asn1IntegerPtr sn(BN_to_ASN1_INTEGER(bn, nullptr));
      BN_free(bn);
      X509_REVOKED* entry = nullptr;
      REQUIRE(X509_CRL_get0_by_serial(crl.get(), &entry, sn.get()) == 1);
    }
  }
  auto tokens = admin->Get("/v1/tokens");
  REQUIRE(tokens);
  REQUIRE(tokens->status == 200);
  std::set<std::string> listed;
  const json listed_tokens = json::parse(tokens->body);
  for (const json& tk : listed_tokens["tokens"]) {
    const std::string name = tk["name"];
    listed.insert(name);
    INFO("token " << name);
    REQUIRE(tk["uses"].get<int>() <= tk["max_uses"].get<int>());
    REQUIRE(tk["uses"].get<int>() >= ledger.token_acks[name]);
  }
  for (const std::string& name : ledger.token_names) {
    REQUIRE(listed.count(name) == 1);
  }
}

// `config`: the [storage] lines of the server's configuration file.
void KillRepeatedly(const std::string& config, bool redo_log) {
  TempDir tmp;
  const std::string data = tmp.Sub("ca");
  const auto init =
      Run(ShellQuote(BinaryPath("hostca-server")) + " init --data " + ShellQuote(data));
  REQUIRE(init.exit_code == 0);
  const std::string config_path = tmp.Sub("hostca.toml");
  REQUIRE(WriteFileAtomic(config_path, "[storage]\n" + config, 0600).ok());
  const std::vector<std::string> extra = {"--config", config_path};
  Target t;
  t.ca_path = data + "/ca.crt";
  t.admin_token = *ReadFile(data + "/admin.token");
  while (!t.admin_token.empty() && t.admin_token.back() == '\n') {
    t.admin_token.pop_back();
  }
  Ledger ledger;
  int64_t last_crl_number = 0;
  std::mt19937 schedule(20261130);
  const int iterations = Iterations();
  for (int it = 0; it < iterations; ++it) {
    INFO("iteration " << it);
    ServerProcess server(data, tmp.Sub("server-" + std::to_string(it) + ".log"), extra);
    REQUIRE(server.WaitReady(t.ca_path));
    t.https_port = server.https_port();
    if (it > 0) {
      Check(t, server.http_port(), ledger, &last_crl_number);
    }
    // Two tokens per round, fewer uses than the clients will try.
    std::vector<std::pair<std::string, std::string>> tokens;
    auto admin = Client(t);
    admin->set_bearer_token_auth(t.admin_token.c_str());
    for (int k = 0; k < 2; ++k) {
      const std::string name = "t" + std::to_string(it) + "-" + std::to_string(k);
      auto r = admin->Post("/v1/tokens", json{{"name", name}, {"max_uses", kTokenUses}}.dump(),
                           "application/json");
      REQUIRE(r);
      REQUIRE(r->status == 201);
      tokens.emplace_back(name, json::parse(r->body)["token"]);
      std::lock_guard<std::mutex> lock(ledger.mu);
      ledger.token_names.insert(name);
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
      workers.emplace_back(Drive, std::cref(t), std::ref(ledger), std::cref(tokens), w, it,
                           std::cref(stop));
    }
    // The crash schedule (not a wait for the server): a random moment while
    // the clients are busy.
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + schedule() % 400));
    REQUIRE(server.Kill() == -1);
    stop = true;
    for (auto& w : workers) {
      w.join();
    }
  }
  // With the redo log, a start after a kill says what it replayed.
  int recovered = 0;
  if (redo_log && iterations >= 2) {
    for (int it = 1; it < iterations; ++it) {
      const auto log = ReadFile(tmp.Sub("server-" + std::to_string(it) + ".log"));
      REQUIRE(log.ok());
      if (log->find("the store was not closed cleanly: replayed ") != std::string::npos) {
        ++recovered;
      }
    }
    INFO("starts that replayed the redo log: " << recovered << " of " << iterations - 1);
    REQUIRE(recovered > 0);
  }
  // What the last kill left, read as an operator would check it (with the
  // redo log, this read recovers the store first).
  const auto check = Run(ShellQuote(BinaryPath("hostca-server")) + " check --data " +
                         ShellQuote(data) + " --config " + ShellQuote(config_path));
  INFO(check.output);
  REQUIRE(check.exit_code == 0);
  ServerProcess server(data, tmp.Sub("server-final.log"), extra);
  REQUIRE(server.WaitReady(t.ca_path));
  t.https_port = server.https_port();
  Check(t, server.http_port(), ledger, &last_crl_number);
  {
    std::lock_guard<std::mutex> lock(ledger.mu);
    INFO("acknowledged certificates: " << ledger.serials.size());
    REQUIRE(ledger.serials.size() >= static_cast<size_t>(iterations));  // the clients got work done
  }
  // The audit chain, verified by the client as an operator would.
  const std::string hostca = ShellQuote(BinaryPath("hostca")) +
                             " --server https://localhost:" + std::to_string(server.https_port()) +
                             " --dir " + ShellQuote(tmp.Sub("admin")) + " --admin-token-file " +
                             ShellQuote(data + "/admin.token");
  auto ca = CertFromPem(*ReadFile(t.ca_path));
  REQUIRE(Run(hostca + " ca get --fingerprint " + *CertFingerprintSha256(ca->get())).exit_code ==
          0);
  const auto audit = Run(hostca + " audit verify");
  INFO(audit.output);
  REQUIRE(audit.exit_code == 0);
  REQUIRE(server.Terminate() == 0);
  // `check` recovered the store, so this start had nothing to replay.
  REQUIRE_THAT(*ReadFile(tmp.Sub("server-final.log")), !Catch::Contains("not closed cleanly"));
  // What the run proved, for long runs (ctest -V, or the binary itself).
  std::lock_guard<std::mutex> lock(ledger.mu);
  size_t revoked = 0;
  for (const auto& [serial, status] : ledger.certs) {
    revoked += status == "revoked" ? 1 : 0;
  }
  int token_uses = 0;
  for (const auto& [name, uses] : ledger.token_acks) {
    token_uses += uses;
  }
  std::printf(
      "%d SIGKILLs (redo log %s): %zu certificates, %zu revocations and %d token uses "
      "acknowledged, every one found after each restart; %d starts replayed the redo log\n",
      iterations, redo_log ? "on" : "off", ledger.serials.size(), revoked, token_uses, recovered);
}

// LMDB syncing its own pages at every commit (the redo log off).
TEST_CASE("SIGKILL at random moments loses nothing acknowledged and breaks no invariant") {
  KillRepeatedly("redo_log = false\n", false);
}

// The default: the redo log, with checkpoints every 20 ms, so kills land
// before, during and after them.
TEST_CASE("SIGKILL with the redo log loses nothing acknowledged and breaks no invariant") {
  KillRepeatedly("checkpoint_ms = 20\n", true);
}

}  // namespace
}  // namespace hostca::testing
