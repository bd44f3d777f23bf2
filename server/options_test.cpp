#include <catch2/catch.hpp>
#include <fstream>
#include <initializer_list>

#include "server/http_util.h"
#include "server/options.h"
#include "tests/testutil.h"

namespace hostca::server {
namespace {

// Each configuration text, written to `path`, is refused as invalid with a
// message naming `key`.
void RequireRefused(const std::string& path, std::initializer_list<const char*> texts,
                    const char* key) {
  for (const char* text : texts) {
    INFO(text);
    std::ofstream(path) << text;
    ServerOptions o;
    const Status st = LoadConfigFile(path, &o);
    REQUIRE(st.code() == Code::kInvalidArgument);
    REQUIRE_THAT(st.message(), Catch::Contains(key));
  }
}

TEST_CASE("the documented example configuration loads") {
  ServerOptions o;
  const Status st = LoadConfigFile(std::string(HOSTCA_SOURCE_DIR) + "/conf/hostca.toml", &o);
  INFO(st.ToString());
  REQUIRE(st.ok());
  REQUIRE(o.listen == "127.0.0.1:8443");
  REQUIRE(o.validity_days == 365);
  REQUIRE(o.mapped_mib == 128);
  // The example states the defaults: a checkpoint every 300 ms, writeback
  // 50 ms after commits (conf/hostca.toml says why), which the server hands
  // to the store.
  REQUIRE(o.checkpoint_ms == ServerOptions{}.checkpoint_ms);
  REQUIRE(o.writeback_ms == ServerOptions{}.writeback_ms);
  REQUIRE(StoreOptions(ServerOptions{}).checkpoint_ms == 300);
  REQUIRE(StoreOptions(ServerOptions{}).writeback_ms == 50);
}

TEST_CASE("storage.writeback_ms loads within its bounds, 0 turning it off") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  std::ofstream(path) << "[storage]\nwriteback_ms = 0\n";
  REQUIRE(LoadConfigFile(path, &o).ok());
  REQUIRE(StoreOptions(o).writeback_ms == 0);
  RequireRefused(path, {"[storage]\nwriteback_ms = -1\n", "[storage]\nwriteback_ms = 600001\n"},
                 "writeback_ms");
}

TEST_CASE("storage.mapped_mib loads within its bounds") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  std::ofstream(path) << "[storage]\nmapped_mib = 64\n";
  REQUIRE(LoadConfigFile(path, &o).ok());
  REQUIRE(o.mapped_mib == 64);
  // One page per read fault once the store is larger than the budget.
  REQUIRE(StoreOptions(o).single_page_faults_from == (64ull << 20));
  RequireRefused(path,
                 {"[storage]\nmapped_mib = 15\n", "[storage]\nmapped_mib = 1048577\n",
                  "[storage]\nmapped_mib = -1\n"},
                 "mapped_mib");
}

TEST_CASE("the connection caps load, and negative ones are refused") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  std::ofstream(path) << "[server]\nthreads = 300\nhttp_threads = 20\nmax_idle_connections = 0\n";
  REQUIRE(LoadConfigFile(path, &o).ok());
  REQUIRE(o.threads == 300);
  REQUIRE(o.http_threads == 20);
  REQUIRE(o.max_idle_connections == 0);
  RequireRefused(path, {"[server]\nhttp_threads = -1\n"}, "http_threads");
  RequireRefused(path, {"[server]\nmax_idle_connections = -5\n"}, "max_idle_connections");
  RequireRefused(path, {"[server]\nthreads = -1\n"}, "server.threads");
}

TEST_CASE("unknown keys, wrong types and bad TOML are refused with the line") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  std::ofstream(path) << "[server]\nlisten = \"127.0.0.1:9\"\nlistne = \"x\"\n";
  Status st = LoadConfigFile(path, &o);
  REQUIRE(st.code() == Code::kInvalidArgument);
  REQUIRE_THAT(st.message(), Catch::Contains("server.listne") && Catch::Contains("line 3"));
  std::ofstream(path) << "[issuance]\nvalidity_days = \"long\"\n";
  REQUIRE(LoadConfigFile(path, &o).code() == Code::kInvalidArgument);
  std::ofstream(path) << "[issuance\n";
  REQUIRE(LoadConfigFile(path, &o).code() == Code::kInvalidArgument);
  std::ofstream(path) << "[issuance]\nmin_rsa_bits = 1024\n";
  REQUIRE(LoadConfigFile(path, &o).code() == Code::kInvalidArgument);
  // Only the exact kind: no float for an integer (1e300 overflowed, found by
  // fuzz/config_fuzz), no bool for an integer, no integer for a bool.
  for (const char* text : {"[server]\nthreads = 1e300\n", "[server]\nthreads = true\n",
                           "[issuance]\nvalidity_days = 90.0\n", "[storage]\ndurable = 1\n"}) {
    INFO(text);
    std::ofstream(path) << text;
    st = LoadConfigFile(path, &o);
    REQUIRE(st.code() == Code::kInvalidArgument);
    REQUIRE_THAT(st.message(), Catch::Contains("wrong type"));
  }
}

TEST_CASE("the external section resolves relative paths and refuses bad values") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  std::ofstream(path) << "[external]\ntrust_bundle = \"roots.pem\"\ncrl_dir = \"/etc/crls\"\n"
                         "crl_check = \"chain\"\nidentity = \"subject\"\n"
                         "server_cert = \"tls/ext.pem\"\nserver_key = \"tls/ext.key\"\n";
  REQUIRE(LoadConfigFile(path, &o).ok());
  REQUIRE(o.external_trust_bundle == dir.Sub("roots.pem"));
  REQUIRE(o.external_crl_dir == "/etc/crls");
  REQUIRE(o.external_server_key == dir.Sub("tls/ext.key"));
  REQUIRE(o.external_crl_check == "chain");
  REQUIRE(o.external_identity == "subject");
  for (const char* text :
       {"[external]\ncrl_check = \"some\"\n", "[external]\nidentity = \"cn\"\n",
        "[external]\ncdp_refresh_seconds = 5\n", "[external]\nserver_cert = \"a.pem\"\n",
        "[external]\ntrustbundle = \"a.pem\"\n"}) {
    INFO(text);
    ServerOptions fresh;
    std::ofstream(path) << text;
    REQUIRE(LoadConfigFile(path, &fresh).code() == Code::kInvalidArgument);
  }
}

TEST_CASE("[backup] keys load, and a directory without a passphrase file is refused") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  REQUIRE(o.backup_directory.empty());  // off by default
  std::ofstream(path) << "[backup]\ndirectory = \"/b\"\ninterval_seconds = 3600\nkeep = 3\n"
                         "passphrase_file = \"/p\"\n";
  REQUIRE(LoadConfigFile(path, &o).ok());
  REQUIRE((o.backup_directory == "/b" && o.backup_interval_seconds == 3600 && o.backup_keep == 3 &&
           o.backup_passphrase_file == "/p"));
  for (const char* text : {"[backup]\ndirectory = \"/b\"\n", "[backup]\nkeep = 0\n",
                           "[backup]\ninterval_seconds = 0\n"}) {
    INFO(text);
    ServerOptions fresh;
    std::ofstream(path) << text;
    REQUIRE(LoadConfigFile(path, &fresh).code() == Code::kInvalidArgument);
  }
}

TEST_CASE("addresses split into host and port") {
  std::string host;
  int port = -1;
  REQUIRE(SplitHostPort("127.0.0.1:0", &host, &port).ok());
  REQUIRE((host == "127.0.0.1" && port == 0));
  REQUIRE(SplitHostPort("[::1]:8443", &host, &port).ok());
  REQUIRE((host == "::1" && port == 8443));
  REQUIRE_FALSE(SplitHostPort("localhost", &host, &port).ok());
  REQUIRE_FALSE(SplitHostPort("localhost:99999", &host, &port).ok());
}

TEST_CASE("status codes map to one HTTP status each") {
  REQUIRE(HttpStatusFor(InvalidArgument("x")) == 400);
  REQUIRE(HttpStatusFor(Unauthenticated("x")) == 401);
  REQUIRE(HttpStatusFor(PermissionDenied("x", "token_expired")) == 403);
  REQUIRE(HttpStatusFor(NotFound("x")) == 404);
  REQUIRE(HttpStatusFor(Conflict("x")) == 409);
  REQUIRE(HttpStatusFor(ResourceExhausted("x")) == 507);
  REQUIRE(HttpStatusFor(ResourceExhausted("x", "rate_limited")) == 429);
  REQUIRE(HttpStatusFor(Unavailable("x")) == 503);
  REQUIRE(HttpStatusFor(Internal("x")) == 500);
}

}  // namespace
}  // namespace hostca::server
