// Storage faults and bad data directories (issue 7 item 2).
//
// In process: the ApiFixture's store is wrapped in a FaultInjectingStorage.
// Armed with an I/O error or a full disk, every write fails the way the
// LMDB store reports them (unavailable; resource_exhausted "storage_full"):
// the caller gets 503 unavailable or 507 storage_full, nothing stored
// before is lost, no token is spent by a failed request, reads (the CRL,
// the CA, certificates, /healthz) keep working, and once the fault clears
// the same requests succeed without a restart. The real store stopping
// its writes (its redo log's file descriptors broken under it) answers
// every write 503 storage_io and turns /healthz to 503, reads still working.
//
// With the real binary: `hostca-server serve` refuses a corrupt, truncated,
// foreign or incomplete data directory with exit code 1 and a message on
// stderr that says what is wrong, and leaves the store as it was.
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/encoding.h"
#include "tests/api_fixture.h"
#include "tests/server_process.h"

namespace hostca::testing {
namespace {

using nlohmann::json;

// A storage fault as the LMDB store reports it (storage/storage.h, and
// LmdbError in storage/internal/lmdb_kv.cpp), with the answer DESIGN.md
// section 8 gives it.
struct Fault {
  std::string name;
  Status status;
  int http = 0;
  std::string code;
};

Fault IoError() {
  return {"I/O error", Unavailable(std::string("mdb_txn_commit: ") + std::strerror(EIO)), 503,
          "unavailable"};
}
Fault DiskFull() {
  return {
      "disk full",
      ResourceExhausted(std::string("mdb_txn_commit: ") + std::strerror(ENOSPC), "storage_full"),
      507, "storage_full"};
}
Fault AnyFault(bool disk_full) { return disk_full ? DiskFull() : IoError(); }

struct Crl {
  int status = 0;
  std::string body, etag;
};

// The CRL over plain HTTP.
Crl FetchCrl(ApiFixture& ca) {
  httplib::Client cli("127.0.0.1", ca.http_port());
  auto res = cli.Get("/crl");
  REQUIRE(res);
  return Crl{res->status, res->body, res->get_header_value("ETag")};
}

// Whether the DER CRL lists `serial_hex` (lower-case hex, as the API gives
// serials).
bool CrlLists(const std::string& der, const std::string& serial_hex) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(crl);
  BIGNUM* bn = nullptr;
  REQUIRE(BN_hex2bn(&bn, serial_hex.c_str()) > 0);
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, nullptr);
  BN_free(bn);
  X509_REVOKED* entry = nullptr;
  const int found = X509_CRL_get0_by_serial(crl.get(), &entry, serial);
  ASN1_INTEGER_free(serial);
  return found == 1;
}

json TokenNamed(ApiFixture& ca, const std::string& name) {
  const HttpResult r = ca.AdminCall("GET", "/v1/tokens");
  REQUIRE(r.status == 200);
  for (const auto& t : r.body["tokens"]) {
    if (t["name"] == name) {
      return t;
    }
  }
  return nullptr;
}

size_t AuditSize(ApiFixture& ca) {
  const HttpResult r = ca.AdminCall("GET", "/v1/audit");
  REQUIRE(r.status == 200);
  return r.body["entries"].size();
}

// A certificate record that is still stored, valid and unchanged.
void RequireStoredValid(ApiFixture& ca, const HostCreds& creds) {
  const HttpResult r = ca.AdminCall("GET", "/v1/certs/" + creds.serial);
  INFO(r.raw);
  REQUIRE(r.status == 200);
  REQUIRE(r.body["status"] == "valid");
  REQUIRE(r.body["host_id"] == creds.host_id);
  REQUIRE(r.body["certificate"] == creds.cert_pem);
}

// The reads every caller depends on while writes fail.
void RequireReadsServe(ApiFixture& ca, const Crl& crl_before) {
  // /healthz checks that the store answers reads, which it does: the CA
  // keeps serving its certificate and CRL, so it stays 200.
  const HttpResult health = ca.Call("GET", "/healthz");
  REQUIRE(health.status == 200);
  REQUIRE(health.body["status"] == "ok");
  REQUIRE(ca.Call("GET", "/v1/ca").status == 200);
  const Crl crl = FetchCrl(ca);
  REQUIRE(crl.status == 200);
  REQUIRE(crl.etag == crl_before.etag);
  REQUIRE(crl.body == crl_before.body);
  const HttpResult api_crl = ca.Call("GET", "/v1/crl");
  REQUIRE(api_crl.status == 200);
  REQUIRE(api_crl.raw == crl_before.body);
  httplib::Client cli("127.0.0.1", ca.http_port());
  auto ca_crt = cli.Get("/ca.crt");
  REQUIRE(ca_crt);
  REQUIRE(ca_crt->status == 200);
}

TEST_CASE("enroll under a failed commit or a full disk answers 503 or 507 and recovers") {
  const Fault fault = AnyFault(GENERATE(false, true));
  INFO(fault.name);
  ApiFixture ca;
  HostCreds before;
  REQUIRE(ca.Enroll("before.example.org", ca.CreateToken("t0"), &before).status == 201);
  const std::string token = ca.CreateToken("t1");
  const Crl crl = FetchCrl(ca);
  REQUIRE(crl.status == 200);
  const size_t audit = AuditSize(ca);

  ca.faults().FailCommits(fault.status);
  // More failures than the token rate limit allows (10 a minute): a
  // storage fault is not the caller's failed token attempt.
  for (int i = 0; i < 12; ++i) {
    REQUIRE_ANSWER(ca.Enroll("new.example.org", token), fault.http, fault.code);
  }
  RequireStoredValid(ca, before);
  const json t1 = TokenNamed(ca, "t1");
  REQUIRE(t1["uses"] == 0);
  REQUIRE(t1["state"] == "active");
  REQUIRE(ca.AdminCall("GET", "/v1/hosts/new.example.org").status == 404);
  REQUIRE(AuditSize(ca) == audit);
  RequireReadsServe(ca, crl);
  const HttpResult metrics = ca.Call("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  REQUIRE_THAT(metrics.raw,
               Catch::Contains("hostca_refused_total{code=\"" + fault.code + "\"} 12"));

  ca.faults().Clear();
  HostCreds after;
  const HttpResult ok = ca.Enroll("new.example.org", token, &after);
  INFO(ok.raw);
  REQUIRE(ok.status == 201);
  RequireStoredValid(ca, after);
  RequireStoredValid(ca, before);
  REQUIRE(TokenNamed(ca, "t1")["uses"] == 1);
  // The token was spent once, by the request that succeeded.
  REQUIRE_ANSWER(ca.Enroll("other.example.org", token), 403, "token_used_up");
  REQUIRE(AuditSize(ca) > audit);
}

// Points this process's descriptors of the store's redo log files at a
// read-only /dev/null, so the next append fails as on a broken disk (EBADF).
// Returns how many it replaced.
int BreakRedoLogs(const std::string& data_dir) {
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(null_fd >= 0);
  int broken = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target.parent_path() != std::filesystem::path(data_dir) / "db" ||
        target.filename().string().rfind("redo-", 0) != 0) {
      continue;
    }
    REQUIRE(::dup2(null_fd, std::stoi(e.path().filename().string())) >= 0);
    ++broken;
  }
  ::close(null_fd);
  return broken;
}

TEST_CASE("a store that stopped writing makes /healthz answer 503 while reads still work") {
  ApiFixture ca;
  HostCreds before;
  REQUIRE(ca.Enroll("before.example.org", ca.CreateToken("t0"), &before).status == 201);
  const std::string token = ca.CreateToken("t1");
  REQUIRE(ca.Call("GET", "/healthz").status == 200);
  REQUIRE_THAT(ca.Call("GET", "/metrics").raw,
               Catch::Contains("\nhostca_store_writes_stopped 0\n"));

  REQUIRE(BreakRedoLogs(std::filesystem::canonical(ca.data_dir()).string()) == 2);
  REQUIRE_ANSWER(ca.Enroll("new.example.org", token), 503, "storage_io");
  const HttpResult health = ca.Call("GET", "/healthz");
  INFO(health.raw);
  REQUIRE(health.status == 503);
  REQUIRE(health.body["error"]["code"] == "storage_io");
  REQUIRE_THAT(health.body["error"]["message"].get<std::string>(),
               Catch::Contains("restart the server"));
  REQUIRE_THAT(ca.Call("GET", "/metrics").raw,
               Catch::Contains("\nhostca_store_writes_stopped 1\n"));
  // Every later write answers the same; what was stored still reads.
  REQUIRE_ANSWER(ca.Enroll("other.example.org", token), 503, "storage_io");
  RequireStoredValid(ca, before);
  REQUIRE(FetchCrl(ca).status == 200);
}

TEST_CASE("a fault on one commit fails only that request") {
  const Fault fault = AnyFault(GENERATE(false, true));
  INFO(fault.name);
  ApiFixture ca;
  const std::string token = ca.CreateToken("t1");
  ca.faults().FailNextCommits(1, fault.status);
  REQUIRE_ANSWER(ca.Enroll("web1.example.org", token), fault.http, fault.code);
  HostCreds creds;
  REQUIRE(ca.Enroll("web1.example.org", token, &creds).status == 201);
  RequireStoredValid(ca, creds);
}

TEST_CASE("renewal and revocation under a storage fault change nothing and work once it clears") {
  const Fault fault = AnyFault(GENERATE(false, true));
  INFO(fault.name);
  ApiFixture ca;
  HostCreds creds;
  REQUIRE(ca.Enroll("web1.example.org", ca.CreateToken("t1"), &creds).status == 201);
  const Crl crl = FetchCrl(ca);
  REQUIRE_FALSE(CrlLists(crl.body, creds.serial));

  ca.faults().FailCommits(fault.status);
  const HostCreds original{creds.host_id, creds.serial, creds.cert_pem, nullptr, nullptr};
  REQUIRE_ANSWER(ca.Renew(&creds), fault.http, fault.code);
  REQUIRE(creds.serial == original.serial);  // Renew keeps the credentials on failure
  REQUIRE_ANSWER(ca.Call("POST", "/v1/revoke", {{"reason", "keyCompromise"}}, &creds), fault.http,
                 fault.code);
  REQUIRE_ANSWER(
      ca.AdminCall("POST", "/v1/certs/" + creds.serial + "/revoke", {{"reason", "keyCompromise"}}),
      fault.http, fault.code);
  REQUIRE_ANSWER(
      ca.AdminCall("POST", "/v1/hosts/" + creds.host_id + "/revoke", {{"reason", "keyCompromise"}}),
      fault.http, fault.code);
  // Publishing takes a CRL number from the store: refused, and the CRL
  // served stays the last good one.
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/crl/publish"), fault.http, fault.code);
  RequireStoredValid(ca, original);
  RequireReadsServe(ca, crl);
  // The certificate still authenticates its host.
  REQUIRE(ca.Call("POST", "/v1/revoke", {{"reason", "bogus"}}, &creds).code() == "bad_reason");

  ca.faults().Clear();
  const HttpResult renewed = ca.Renew(&creds);
  INFO(renewed.raw);
  REQUIRE(renewed.status == 201);
  REQUIRE(creds.serial != original.serial);
  RequireStoredValid(ca, creds);
  const HttpResult revoked = ca.Call("POST", "/v1/revoke", {{"reason", "keyCompromise"}}, &creds);
  INFO(revoked.raw);
  REQUIRE(revoked.status == 200);
  const HttpResult published = ca.AdminCall("POST", "/v1/crl/publish");
  INFO(published.raw);
  REQUIRE(published.status == 200);
  const Crl after = FetchCrl(ca);
  REQUIRE(after.status == 200);
  REQUIRE(after.etag != crl.etag);
  REQUIRE(CrlLists(after.body, creds.serial));
  const HttpResult rec = ca.AdminCall("GET", "/v1/certs/" + creds.serial);
  REQUIRE(rec.body["status"] == "revoked");
  REQUIRE(rec.body["revocation_reason"] == "keyCompromise");
}

TEST_CASE("admin writes under a storage fault fail cleanly and admin reads keep working") {
  const Fault fault = AnyFault(GENERATE(false, true));
  INFO(fault.name);
  ApiFixture ca;
  ca.CreateToken("kept");
  const size_t audit = AuditSize(ca);

  ca.faults().FailCommits(fault.status);
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/tokens", {{"name", "new"}}), fault.http, fault.code);
  REQUIRE_ANSWER(ca.AdminCall("DELETE", "/v1/tokens/kept"), fault.http, fault.code);
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/tokens/cleanup"), fault.http, fault.code);
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/hosts", {{"hostname", "db1.example.org"}}), fault.http,
                 fault.code);
  REQUIRE_ANSWER(ca.AdminCall("PUT", "/v1/security-level", {{"level", "medium"}}), fault.http,
                 fault.code);
  REQUIRE_ANSWER(ca.AdminCall("PUT", "/v1/mode", {{"mode", "internal"}}), fault.http, fault.code);
  // Authentication and validation still come first.
  REQUIRE_ANSWER(ca.Call("POST", "/v1/tokens", {{"name", "x"}}, nullptr, "wrong"), 401,
                 "admin_unauthenticated");
  REQUIRE_ANSWER(ca.AdminCall("PUT", "/v1/security-level", {{"level", "nonsense"}}), 400,
                 "bad_level");
  // Nothing changed, and every read answers.
  REQUIRE(TokenNamed(ca, "new").is_null());
  REQUIRE(TokenNamed(ca, "kept")["state"] == "active");
  REQUIRE(ca.AdminCall("GET", "/v1/hosts/db1.example.org").status == 404);
  REQUIRE(ca.AdminCall("GET", "/v1/security-level").body["level"] == "high");
  REQUIRE(ca.AdminCall("GET", "/v1/mode").body["mode"] == "internal");
  REQUIRE(ca.AdminCall("GET", "/v1/hosts").status == 200);
  REQUIRE(ca.AdminCall("GET", "/v1/certs").status == 200);
  REQUIRE(ca.AdminCall("GET", "/v1/mappings").status == 200);
  REQUIRE(AuditSize(ca) == audit);

  ca.faults().Clear();
  REQUIRE(ca.AdminCall("POST", "/v1/tokens", {{"name", "new"}}).status == 201);
  REQUIRE(ca.AdminCall("DELETE", "/v1/tokens/kept").status == 200);
  REQUIRE(ca.AdminCall("POST", "/v1/hosts", {{"hostname", "db1.example.org"}}).status == 201);
  REQUIRE(ca.SetLevel("medium") == "medium");
  REQUIRE(AuditSize(ca) == audit + 4);
}

// ---- The real binary and bad data directories ----

std::string Hash(const std::string& path) { return HexEncode(Sha256(*ReadFile(path))); }

// `hostca-server init` into `dir`.
void Init(const std::string& dir) {
  const CommandResult r = Run(ShellQuote(BinaryPath("hostca-server")) + " init --data " +
                              ShellQuote(dir) + " --name Example");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// `hostca-server serve` on `dir`, bounded: a server that starts (which it
// must not) is stopped after 20 s and gives exit code 124.
SplitResult Serve(const std::string& dir) {
  return RunSplit("timeout 20 " + ShellQuote(BinaryPath("hostca-server")) + " serve --data " +
                  ShellQuote(dir) + " --listen 127.0.0.1:0 --http-listen 127.0.0.1:0");
}

void RequireRefused(const SplitResult& r, const std::string& reason, const std::string& what) {
  INFO("stderr: " << r.err);
  INFO("stdout: " << r.out);
  REQUIRE(r.exit_code == 1);
  REQUIRE_THAT(r.err,
               Catch::Contains("cannot start") && Catch::Contains(reason) && Catch::Contains(what));
}

// A data directory made by init, copied for each case.
class DataDirs {
 public:
  DataDirs() { Init(tmp_.Sub("good")); }
  std::string Copy(const std::string& name) {
    const std::string dir = tmp_.Sub(name);
    std::filesystem::copy(tmp_.Sub("good"), dir, std::filesystem::copy_options::recursive);
    return dir;
  }
  std::string Sub(const std::string& name) const { return tmp_.Sub(name); }

 private:
  TempDir tmp_;
};

// Overwrites `path` from `offset` to its end with bytes from a fixed seed.
void Scribble(const std::string& path, size_t offset) {
  const size_t size = std::filesystem::file_size(path);
  REQUIRE(size > offset);
  std::mt19937 rng(7);
  std::string bytes(size - offset, '\0');
  for (char& c : bytes) {
    c = static_cast<char>(rng() & 0xff);
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

TEST_CASE("serve refuses a corrupt or truncated store with a clear message") {
  DataDirs dirs;
  // The untouched directory serves: the refusals below are the damage's.
  {
    const std::string good = dirs.Copy("control");
    ServerProcess server(good, dirs.Sub("control.log"));
    REQUIRE(server.WaitReady(good + "/ca.crt"));
    REQUIRE(server.Terminate() == 0);
  }
  // LMDB's page size here is the OS page size; pages 0 and 1 are its meta
  // pages.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));

  SECTION("data.mdb overwritten with garbage from its first byte") {
    const std::string dir = dirs.Copy("garbage");
    Scribble(dir + "/db/data.mdb", 0);
    const std::string before = Hash(dir + "/db/data.mdb");
    RequireRefused(Serve(dir), "foreign_store", "is corrupt or was not written by hostca");
    REQUIRE(Hash(dir + "/db/data.mdb") == before);
  }
  SECTION("data.mdb with intact meta pages and garbage tree pages") {
    const std::string dir = dirs.Copy("pages");
    Scribble(dir + "/db/data.mdb", 2 * page);
    // Depending on the bytes, LMDB finds no tables (foreign_store, said to
    // be corrupt or not hostca's) or faults reading them (corrupt_store).
    RequireRefused(Serve(dir), "corrupt", dir + "/db");
  }
  SECTION("data.mdb truncated after its meta pages") {
    const std::string dir = dirs.Copy("truncated");
    std::filesystem::resize_file(dir + "/db/data.mdb", 2 * page);
    RequireRefused(Serve(dir), "corrupt_store", "truncated");
  }
  SECTION("data.mdb emptied") {
    const std::string dir = dirs.Copy("empty");
    std::filesystem::resize_file(dir + "/db/data.mdb", 0);
    RequireRefused(Serve(dir), "foreign_store", "does not belong to a hostca CA");
  }
}

SplitResult Check(const std::string& dir) {
  return RunSplit("timeout 60 " + ShellQuote(BinaryPath("hostca-server")) + " check --data " +
                  ShellQuote(dir));
}

TEST_CASE("check reads the whole store beside a running server and names the damage") {
  DataDirs dirs;
  {
    // A live server with certificates: the check runs beside it.
    const std::string live = dirs.Copy("live");
    ServerProcess server(live, dirs.Sub("live.log"));
    REQUIRE(server.WaitReady(live + "/ca.crt"));
    const SplitResult ok = Check(live);
    INFO(ok.err);
    REQUIRE(ok.exit_code == 0);
    REQUIRE_THAT(ok.out, Catch::Contains("store OK") && Catch::Contains("certs "));
    REQUIRE(server.Terminate() == 0);
  }
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  {
    const std::string dir = dirs.Copy("truncated");
    std::filesystem::resize_file(dir + "/db/data.mdb", 2 * page);
    const SplitResult r = Check(dir);
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.err, Catch::Contains("corrupt_store") && Catch::Contains(dir + "/db"));
  }
  {
    const std::string dir = dirs.Copy("pages");
    Scribble(dir + "/db/data.mdb", 2 * page);
    const SplitResult r = Check(dir);
    INFO(r.err);
    REQUIRE(r.exit_code == 1);
    REQUIRE_THAT(r.err, Catch::Contains("corrupt") || Catch::Contains("not a hostca store") ||
                            Catch::Contains("foreign_store"));
  }
}

TEST_CASE("serve refuses another program's LMDB store and leaves it alone") {
  DataDirs dirs;
  if (Run("command -v mdb_load").exit_code != 0) {
    WARN("mdb_load (lmdb-utils) is not installed: skipped");
    return;
  }
  const std::string dir = dirs.Copy("foreign");
  std::filesystem::remove_all(dir + "/db");
  std::filesystem::create_directories(dir + "/db");
  // mdb_dump's text format: one named database "users" with alice -> 1.
  const std::string dump = dirs.Sub("users.dump");
  std::ofstream(dump) << "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"
                         " 616c696365\n 31\nDATA=END\n";
  const CommandResult load =
      Run("mdb_load -s users -f " + ShellQuote(dump) + " " + ShellQuote(dir + "/db"));
  INFO(load.output);
  REQUIRE(load.exit_code == 0);
  const std::string before = Hash(dir + "/db/data.mdb");
  RequireRefused(Serve(dir), "foreign_store", "holds an LMDB store of another program");
  REQUIRE(Hash(dir + "/db/data.mdb") == before);
  REQUIRE_THAT(Run("mdb_dump -s users -p " + ShellQuote(dir + "/db")).output,
               Catch::Contains("alice"));
}

TEST_CASE("serve refuses the store of another hostca CA") {
  DataDirs dirs;
  Init(dirs.Sub("other"));
  const std::string dir = dirs.Copy("swapped");
  std::filesystem::remove_all(dir + "/db");
  std::filesystem::copy(dirs.Sub("other") + "/db", dir + "/db");
  const std::string before = Hash(dir + "/db/data.mdb");
  RequireRefused(Serve(dir), "foreign_store", "belongs to another CA");
  REQUIRE(Hash(dir + "/db/data.mdb") == before);
}

TEST_CASE("serve refuses a data directory without its store") {
  DataDirs dirs;
  const std::string dir = dirs.Copy("nodb");
  std::filesystem::remove_all(dir + "/db");
  RequireRefused(Serve(dir), "invalid_argument", dir + "/db holds no store");
  REQUIRE_FALSE(std::filesystem::exists(dir + "/db"));
}

TEST_CASE("serve refuses a corrupt or mismatched CA key") {
  DataDirs dirs;
  SECTION("garbage") {
    const std::string dir = dirs.Copy("garbage-key");
    Scribble(dir + "/ca.key", 0);
    RequireRefused(Serve(dir), "bad_key", dir + "/ca.key");
  }
  SECTION("a PEM cut short") {
    const std::string dir = dirs.Copy("cut-key");
    const std::string pem = *ReadFile(dir + "/ca.key");
    std::ofstream(dir + "/ca.key", std::ios::trunc) << pem.substr(0, pem.size() / 2);
    RequireRefused(Serve(dir), "bad_key", dir + "/ca.key is damaged");
  }
  SECTION("another CA's key and passphrase") {
    Init(dirs.Sub("other"));
    const std::string dir = dirs.Copy("other-key");
    for (const char* f : {"/ca.key", "/ca.pass"}) {
      std::filesystem::copy_file(dirs.Sub("other") + f, dir + f,
                                 std::filesystem::copy_options::overwrite_existing);
    }
    RequireRefused(Serve(dir), "key_mismatch", "does not belong to the CA certificate");
  }
}

}  // namespace
}  // namespace hostca::testing
