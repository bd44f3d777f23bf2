// Backup and restore end to end (issue 8): the real `hostca-server backup`
// against a real server under load, `restore` into a new directory, and a
// server started on the restored copy; damaged files and wrong passphrases
// refused with nothing written; scheduled backups written and pruned by a
// running server.
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/file.h"
#include "common/pem.h"
#include "tests/api_fixture.h"
#include "tests/server_process.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

std::unique_ptr<httplib::SSLClient> Client(int port, const std::string& ca,
                                           const std::string& bearer = "") {
  auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  c->set_ca_cert_path(ca.c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(std::chrono::seconds(5));
  c->set_read_timeout(std::chrono::seconds(30));
  if (!bearer.empty()) {
    c->set_bearer_token_auth(bearer.c_str());
  }
  return c;
}

// A CA made by the real `hostca-server init`, and a backup passphrase file.
struct World {
  TempDir tmp;
  std::string data = tmp.Sub("ca");
  std::string pass_file = tmp.Sub("backup.pass");
  std::string server_bin = ShellQuote(BinaryPath("hostca-server"));
  World() {
    const auto init = Run(server_bin + " init --data " + ShellQuote(data));
    if (init.exit_code != 0) {
      throw std::runtime_error(init.output);
    }
    std::ofstream(pass_file) << "a long backup passphrase\n";
  }
  std::string admin_token() const { return Trimmed(*ReadFile(data + "/admin.token")); }
  CommandResult Backup(const std::string& out) {
    return Run(server_bin + " backup --data " + ShellQuote(data) + " --out " + ShellQuote(out) +
               " --passphrase-file " + ShellQuote(pass_file));
  }
  CommandResult Restore(const std::string& in, const std::string& dir,
                        const std::string& pass = "") {
    return Run(server_bin + " restore --in " + ShellQuote(in) + " --data " + ShellQuote(dir) +
               " --passphrase-file " + ShellQuote(pass.empty() ? pass_file : pass));
  }
};

struct Acked {
  std::string serial, cert_pem;
  Steady::time_point at;
};

// One client: enrollments with a many-use token until `stop`, recording
// each acknowledged certificate and when its answer arrived.
void Enroll(int port, const std::string& ca, const std::string& token, int worker,
            const std::atomic<bool>& stop, std::mutex& mu, std::vector<Acked>& acked) {
  auto c = Client(port, ca);
  for (int n = 0; !stop.load(); ++n) {
    const std::string host = "w" + std::to_string(worker) + "-" + std::to_string(n) + ".bk.test";
    KeyAndCsr kc = MakeCsr(host);
    auto r = c->Post("/v1/enroll",
                     json{{"csr", kc.csr_pem}, {"hostname", host}, {"token", token}}.dump(),
                     "application/json");
    const Steady::time_point at = Steady::now();
    if (r && r->status == 201) {
      const json body = json::parse(r->body);
      std::lock_guard<std::mutex> lock(mu);
      acked.push_back({body["serial"], body["certificate"], at});
    }
  }
}

TEST_CASE("a backup taken while 8 clients enroll restores every acknowledged certificate") {
  World w;
  const std::string ca = w.data + "/ca.crt";
  auto server = std::make_unique<ServerProcess>(w.data, w.tmp.Sub("server.log"));
  REQUIRE(server->WaitReady(ca));
  auto admin = Client(server->https_port(), ca, w.admin_token());
  auto tok = admin->Post("/v1/tokens", json{{"name", "fleet"}, {"max_uses", 100000}}.dump(),
                         "application/json");
  REQUIRE(tok);
  REQUIRE(tok->status == 201);
  const std::string token = json::parse(tok->body)["token"];

  std::mutex mu;
  std::vector<Acked> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back(Enroll, server->https_port(), ca, token, i, std::cref(stop), std::ref(mu),
                         std::ref(acked));
  }
  auto acked_count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size();
  };
  // Let the fleet get going (polled, bounded), and revoke one certificate
  // so the CRL number has moved before the backup.
  const auto deadline = Steady::now() + std::chrono::seconds(60);
  while (acked_count() < 40 && Steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  }
  REQUIRE(acked_count() >= 40);
  std::string revoked_serial;
  {
    std::lock_guard<std::mutex> lock(mu);
    revoked_serial = acked.front().serial;
  }
  auto rv = admin->Post("/v1/certs/" + revoked_serial + "/revoke",
                        json{{"reason", "keyCompromise"}}.dump(), "application/json");
  REQUIRE(rv);
  REQUIRE(rv->status == 200);
  auto pub = admin->Post("/v1/crl/publish", "", "application/json");
  REQUIRE(pub);
  REQUIRE(pub->status == 200);
  const int64_t crl_before_backup = CrlNumber(FetchCrl(server->http_port()).get());

  const std::string file = w.tmp.Sub("online.hcbak");
  const Steady::time_point backup_started = Steady::now();
  const auto backup = w.Backup(file);
  INFO(backup.output);
  REQUIRE(backup.exit_code == 0);
  const Steady::time_point backup_ended = Steady::now();
  const size_t during = acked_count();
  // The clients go on a little after the backup, then stop.
  while (acked_count() < during + 16 && Steady::now() < deadline + std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  }
  stop = true;
  for (auto& t : clients) {
    t.join();
  }
  REQUIRE(server->Terminate() == 0);
  REQUIRE(*FileMode(file) == 0600);

  const std::string restored = w.tmp.Sub("restored/ca");
  const auto restore = w.Restore(file, restored);
  INFO(restore.output);
  REQUIRE(restore.exit_code == 0);
  for (const char* secret : {"ca.key", "ca.pass", "admin.token", "tls/server.key"}) {
    INFO(secret);
    REQUIRE(*FileMode(restored + "/" + secret) == 0600);
    REQUIRE(*ReadFile(restored + "/" + secret) == *ReadFile(w.data + "/" + secret));
  }
  REQUIRE(*FileMode(restored) == 0700);

  ServerProcess again(restored, w.tmp.Sub("restored.log"));
  REQUIRE(again.WaitReady(restored + "/ca.crt"));
  auto radmin = Client(again.https_port(), restored + "/ca.crt", w.admin_token());
  std::vector<Acked> before;
  size_t while_running = 0;
  for (const Acked& a : acked) {
    if (a.at < backup_started) {
      before.push_back(a);
    } else if (a.at < backup_ended) {
      ++while_running;
    }
  }
  INFO("acknowledged before the backup: " << before.size() << ", while it ran: " << while_running
                                          << ", of " << acked.size());
  REQUIRE(before.size() >= 40);
  REQUIRE(while_running > 0);  // the backup really ran under load
  std::string pems;
  for (const Acked& a : before) {
    INFO(a.serial);
    auto r = radmin->Get("/v1/certs/" + a.serial);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    const json rec = json::parse(r->body);
    REQUIRE(rec["certificate"] == a.cert_pem);
    REQUIRE(rec["status"] == (a.serial == revoked_serial ? "revoked" : "valid"));
    pems += a.cert_pem;
  }
  // Every one verifies under the CA with OpenSSL (one file per certificate).
  std::string files;
  for (size_t i = 0; i < before.size(); ++i) {
    const std::string path = w.tmp.Sub("c" + std::to_string(i) + ".pem");
    std::ofstream(path) << before[i].cert_pem;
    files += " " + ShellQuote(path);
  }
  const auto verify = Run("openssl verify -CAfile " + ShellQuote(restored + "/ca.crt") + files);
  INFO(verify.output);
  REQUIRE(verify.exit_code == 0);

  // The audit chain verifies, as an operator checks it.
  const std::string hostca = ShellQuote(BinaryPath("hostca")) + " --server " + again.https_url() +
                             " --dir " + ShellQuote(w.tmp.Sub("admin")) + " --admin-token-file " +
                             ShellQuote(restored + "/admin.token");
  auto ca_cert = CertFromPem(*ReadFile(restored + "/ca.crt"));
  REQUIRE(
      Run(hostca + " ca get --fingerprint " + *CertFingerprintSha256(ca_cert->get())).exit_code ==
      0);
  const auto audit = Run(hostca + " audit verify");
  INFO(audit.output);
  REQUIRE(audit.exit_code == 0);
  REQUIRE_THAT(audit.output, Catch::Contains("audit chain OK"));

  // The restored CA issues and revokes, and its CRL number goes on upward.
  const int64_t crl_restored = CrlNumber(FetchCrl(again.http_port()).get());
  REQUIRE(crl_restored > crl_before_backup);
  KeyAndCsr kc = MakeCsr("after.bk.test");
  auto anon = Client(again.https_port(), restored + "/ca.crt");
  auto e =
      anon->Post("/v1/enroll",
                 json{{"csr", kc.csr_pem}, {"hostname", "after.bk.test"}, {"token", token}}.dump(),
                 "application/json");
  REQUIRE(e);
  INFO(e->body);
  REQUIRE(e->status == 201);
  const std::string serial = json::parse(e->body)["serial"];
  auto r2 = radmin->Post("/v1/certs/" + serial + "/revoke", json{{"reason", "superseded"}}.dump(),
                         "application/json");
  REQUIRE(r2);
  REQUIRE(r2->status == 200);
  auto pub2 = radmin->Post("/v1/crl/publish", "", "application/json");
  REQUIRE(pub2);
  REQUIRE(pub2->status == 200);
  REQUIRE(CrlNumber(FetchCrl(again.http_port()).get()) > crl_restored);
  REQUIRE(again.Terminate() == 0);
}

TEST_CASE("a damaged backup or a wrong passphrase is refused and nothing is written") {
  World w;
  const std::string file = w.tmp.Sub("ca.hcbak");
  const auto backup = w.Backup(file);
  INFO(backup.output);
  REQUIRE(backup.exit_code == 0);
  const std::string good = *ReadFile(file);
  const std::string parent = w.tmp.Sub("target");
  REQUIRE(MakeDirs(parent, 0700).ok());
  const std::string target = parent + "/ca";
  auto refused = [&](const std::string& bytes, const std::string& pass_file) {
    const std::string bad = w.tmp.Sub("bad.hcbak");
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes;
    const auto r = w.Restore(bad, target, pass_file);
    INFO(r.output);
    REQUIRE(r.exit_code == 1);
    REQUIRE_FALSE(fs::exists(target));
    REQUIRE(fs::is_empty(parent));  // no temporary directory left either
    return r.output;
  };
  std::string header = good, middle = good;
  header[30] ^= 0x01;
  middle[good.size() / 2] ^= 0x01;
  const std::string wrong = w.tmp.Sub("wrong.pass");
  std::ofstream(wrong) << "not the passphrase\n";
  REQUIRE_THAT(refused(header, ""),
               Catch::Contains("backup_header_damaged") && Catch::Contains("header is damaged"));
  REQUIRE_THAT(refused(middle, ""),
               Catch::Contains("backup_damaged") && Catch::Contains("altered or damaged"));
  REQUIRE_THAT(refused(good.substr(0, good.size() - 7), ""),
               Catch::Contains("backup_truncated") && Catch::Contains("truncated"));
  REQUIRE_THAT(refused(good, wrong),
               Catch::Contains("wrong_passphrase") && Catch::Contains("wrong passphrase"));

  // No passphrase at all: a usage error, before anything is read.
  const auto none = Run("env -u HOSTCA_BACKUP_PASSPHRASE " + w.server_bin + " restore --in " +
                        ShellQuote(file) + " --data " + ShellQuote(target));
  REQUIRE(none.exit_code == 2);
  REQUIRE_THAT(none.output, Catch::Contains("HOSTCA_BACKUP_PASSPHRASE"));
  REQUIRE(Run("env -u HOSTCA_BACKUP_PASSPHRASE " + w.server_bin + " backup --data " +
              ShellQuote(w.data) + " --out " + ShellQuote(w.tmp.Sub("x.hcbak")))
              .exit_code == 2);
  // The environment variable works too; an existing non-empty directory is refused.
  const auto env = Run("HOSTCA_BACKUP_PASSPHRASE='a long backup passphrase' " + w.server_bin +
                       " restore --in " + ShellQuote(file) + " --data " + ShellQuote(w.data));
  REQUIRE(env.exit_code == 1);
  REQUIRE_THAT(env.output, Catch::Contains("restore_target_exists"));
  // The good file still restores.
  const auto ok = w.Restore(file, target);
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
}

TEST_CASE("a server with [backup] writes backups on schedule, prunes them, counts them") {
  World w;
  const std::string dir = w.tmp.Sub("backups");
  const std::string config = w.tmp.Sub("hostca.toml");
  std::ofstream(config) << "[backup]\ndirectory = \"" << dir
                        << "\"\ninterval_seconds = 1\nkeep = 2\npassphrase_file = \"" << w.pass_file
                        << "\"\n";
  ServerProcess server(w.data, w.tmp.Sub("server.log"), {"--config", config});
  REQUIRE(server.WaitReady(w.data + "/ca.crt"));
  auto c = Client(server.https_port(), w.data + "/ca.crt");
  // Polled with a deadline until three backups were written (the third
  // pruned the first).
  const auto deadline = Steady::now() + std::chrono::seconds(90);
  std::string metrics;
  while (Steady::now() < deadline) {
    auto m = c->Get("/metrics");
    REQUIRE(m);
    metrics = m->body;
    if (metrics.find("hostca_backups_written_total 3") != std::string::npos ||
        metrics.find("hostca_backups_written_total 4") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
  }
  INFO(server.Log());
  REQUIRE_THAT(metrics, Catch::Contains("hostca_backup_failures_total 0"));
  REQUIRE_THAT(metrics, !Catch::Contains("hostca_backup_last_success_timestamp_seconds 0\n"));
  // Stopping waits for (or cancels) a backup in progress; then exactly
  // `keep` remain.
  REQUIRE(server.Terminate() == 0);
  REQUIRE_THAT(server.Log(), Catch::Contains("backup: wrote") &&
                                 Catch::Contains("backup: removed the old backup"));
  REQUIRE(*FileMode(dir) == 0700);
  const auto list = RunSplit(w.server_bin + " backup --list --dir " + ShellQuote(dir) + " --json");
  INFO(list.err);
  REQUIRE(list.exit_code == 0);
  const json listed = json::parse(list.out);
  REQUIRE(listed["backups"].size() == 2);
  for (const json& b : listed["backups"]) {
    REQUIRE(b["format_version"] == 1);
    REQUIRE_THAT(b["file"].get<std::string>(), Catch::StartsWith("hostca-backup-"));
  }
  const auto table = Run(w.server_bin + " backup --list --config " + ShellQuote(config));
  REQUIRE(table.exit_code == 0);
  REQUIRE_THAT(table.output, Catch::Contains("FORMAT") && Catch::Contains(".hcbak"));
  // A scheduled backup restores, configuration included.
  const std::string newest = dir + "/" + listed["backups"][1]["file"].get<std::string>();
  const auto restore = w.Restore(newest, w.tmp.Sub("from-schedule"));
  INFO(restore.output);
  REQUIRE(restore.exit_code == 0);
  REQUIRE(*ReadFile(w.tmp.Sub("from-schedule") + "/hostca.toml") == *ReadFile(config));
  REQUIRE(FileExists(w.tmp.Sub("from-schedule") + "/db/data.mdb"));

  // Without a passphrase file the server refuses to start, saying why.
  std::ofstream(config, std::ios::trunc) << "[backup]\ndirectory = \"" << dir << "\"\n";
  const auto refused =
      Run(w.server_bin + " serve --data " + ShellQuote(w.data) +
          " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --config " + ShellQuote(config));
  REQUIRE(refused.exit_code == 1);
  REQUIRE_THAT(refused.output, Catch::Contains("backup.passphrase_file"));
}

}  // namespace
}  // namespace hostca::testing
