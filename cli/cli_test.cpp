// Unit tests of the pure pieces of the hostca client: durations, URLs,
// tables, the schedule, error mapping, audit-chain verification and CSRs.
#include <catch2/catch.hpp>

#include "cli/audit_chain.h"
#include "cli/client.h"
#include "cli/keygen.h"
#include "cli/output.h"
#include "cli/times.h"
#include "common/audit_hash.h"
#include "common/encoding.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

TEST_CASE("ParseDuration accepts seconds and s/m/h/d") {
  CHECK(*ParseDuration("90s") == 90);
  CHECK(*ParseDuration("15m") == 900);
  CHECK(*ParseDuration("48h") == 172800);
  CHECK(*ParseDuration("7d") == 604800);
  CHECK(*ParseDuration("3600") == 3600);
  CHECK(*ParseDuration("1s") == 1);
}

TEST_CASE("ParseDuration refuses anything else") {
  for (const char* bad : {"", "0", "0s", "-5m", "+5m", "5 m", " 5m", "5m ", "1h30m", "5w", "m",
                          "1.5h", "0x10", "99999999999999999999", "40000d"}) {
    INFO(bad);
    const auto r = ParseDuration(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "bad_duration");
  }
}

TEST_CASE("FormatDuration is short and readable") {
  CHECK(FormatDuration(42) == "42s");
  CHECK(FormatDuration(242) == "4m 2s");
  CHECK(FormatDuration(4 * 3600 + 7 * 60) == "4h 7m");
  CHECK(FormatDuration(2 * 86400 + 3 * 3600 + 5) == "2d 3h");
  CHECK(FormatDuration(-90) == "-1m 30s");
}

TEST_CASE("ParseHttpDate reads IMF-fixdate") {
  CHECK(*ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK_FALSE(ParseHttpDate("").ok());
  CHECK_FALSE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT trailing").ok());
  CHECK_FALSE(ParseHttpDate("1994-11-06T08:49:37Z").ok());
}

TEST_CASE("the agent's schedule") {
  CHECK(RenewalDueAt(1000, 3000) == 2000);
  CHECK(BackoffSeconds(1, 0.0) == 5);
  CHECK(BackoffSeconds(2, 0.0) == 10);
  CHECK(BackoffSeconds(3, 0.0) == 20);
  CHECK(BackoffSeconds(8, 0.0) == 600);   // 5 * 2^7 = 640, capped
  CHECK(BackoffSeconds(60, 0.0) == 600);  // no overflow
  CHECK(BackoffSeconds(1, 0.999) == 5);   // 20 % of 5 s rounds down to 0 s
  CHECK(BackoffSeconds(8, 0.5) == 660);
  CHECK(NextWake(100, 500, 300, 0) == 300);
  CHECK(NextWake(100, 500, 300, 60) == 160);
  CHECK(NextWake(100, 50, 300, 0) == 101);  // overdue: soon, not in the past
}

TEST_CASE("ParseServerUrl") {
  auto u = ParseServerUrl("https://ca.example:8443/");
  REQUIRE(u.ok());
  CHECK(u->host == "ca.example");
  CHECK(u->port == 8443);
  CHECK(ParseServerUrl("https://ca.example")->port == 443);
  auto v6 = ParseServerUrl("https://[::1]:9443");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9443);
  for (const char* bad :
       {"http://ca.example", "ca.example:8443", "https://", "https://h:0", "https://h:70000",
        "https://h:x", "https://h:", "https://h/path", "https://h:443x"}) {
    INFO(bad);
    CHECK_FALSE(ParseServerUrl(bad).ok());
  }
}

TEST_CASE("UrlEncode and QueryString") {
  CHECK(UrlEncode("web-1.example_x~") == "web-1.example_x~");
  CHECK(UrlEncode("a b/c?d&e=f+g%") == "a%20b%2Fc%3Fd%26e%3Df%2Bg%25");
  CHECK(UrlEncode("2026-01-31T00:00:00Z") == "2026-01-31T00%3A00%3A00Z");
  CHECK(QueryString({}) == "");
  CHECK(QueryString({{"status", ""}, {"host", ""}}) == "");
  CHECK(QueryString({{"status", "valid"}, {"host", ""}, {"name", "a b"}}) ==
        "?status=valid&name=a%20b");
}

TEST_CASE("FormatTable aligns columns without trailing blanks") {
  const std::string t =
      FormatTable({"NAME", "STATE", "USES"}, {{"a", "active", "0/1"}, {"longer-name", "expired"}});
  CHECK(t ==
        "NAME         STATE    USES\n"
        "a            active   0/1\n"
        "longer-name  expired\n");
  CHECK(FormatTable({"A", "B"}, {}) == "A  B\n");
}

TEST_CASE("FormatFields and Cell") {
  CHECK(FormatFields({{"host ID", "x"}, {"serial", "ab"}}) ==
        "host ID:  x\n"
        "serial:   ab\n");
  const json j = {{"s", "text"},        {"e", ""},       {"n", 3}, {"b", true}, {"a", {"x", "y"}},
                  {"z", json::array()}, {"nul", nullptr}};
  CHECK(Cell(j, "s") == "text");
  CHECK(Cell(j, "e") == "-");
  CHECK(Cell(j, "n") == "3");
  CHECK(Cell(j, "b") == "yes");
  CHECK(Cell(j, "a") == "x,y");
  CHECK(Cell(j, "z") == "-");
  CHECK(Cell(j, "nul") == "-");
  CHECK(Cell(j, "missing") == "-");
}

TEST_CASE("ErrorFromResponse keeps the server's code") {
  ApiResponse res;
  res.status = 403;
  res.raw = R"({"error":{"code":"token_expired","message":"token t expired"}})";
  res.body = json::parse(res.raw);
  const Status st = ErrorFromResponse(res);
  CHECK(st.code() == Code::kPermissionDenied);
  CHECK(st.ToString() == "token_expired: token t expired (HTTP 403)");

  ApiResponse plain;
  plain.status = 502;
  plain.raw = "bad gateway";
  CHECK(ErrorFromResponse(plain).ToString() == "http_502: bad gateway (HTTP 502)");

  ApiResponse ok;
  ok.status = 200;
  CHECK(ExpectStatus(ok, 200).ok());
  CHECK(ExpectStatus(ok, 201).status().reason() == "http_200");
}

// A chain of `n` entries built the way the store builds it.
std::vector<json> MakeChain(int n) {
  std::vector<json> out;
  std::string prev = AuditGenesisHash();
  for (int i = 1; i <= n; ++i) {
    const int64_t time = 1700000000 + i;
    const std::string detail = "detail " + std::to_string(i);
    const std::string hash = AuditEntryHash(prev, i, time, "admin", "token.create", detail);
    out.push_back({{"seq", i},
                   {"time_unix", time},
                   {"actor", "admin"},
                   {"action", "token.create"},
                   {"detail", detail},
                   {"prev_hash", HexEncode(prev)},
                   {"hash", HexEncode(hash)}});
    prev = hash;
  }
  return out;
}

// Feeds `entries` to a verifier; returns the bad seq, or 0 when all verified.
uint64_t Verify(const std::vector<json>& entries) {
  AuditChainVerifier v;
  for (const json& e : entries) {
    if (!v.Add(e).ok()) {
      REQUIRE(v.bad_seq().has_value());
      return *v.bad_seq();
    }
  }
  return 0;
}

TEST_CASE("audit chain: a good chain verifies") {
  AuditChainVerifier v;
  for (const json& e : MakeChain(5)) {
    REQUIRE(v.Add(e).ok());
  }
  CHECK(v.count() == 5);
  CHECK(v.next_seq() == 6);
  CHECK_FALSE(v.bad_seq().has_value());
  CHECK(Verify({}) == 0);
}

TEST_CASE("audit chain: tampering is found at the right seq") {
  SECTION("a changed detail") {
    auto chain = MakeChain(5);
    chain[2]["detail"] = "something else";
    CHECK(Verify(chain) == 3);
  }
  SECTION("a changed hash breaks the next link") {
    auto chain = MakeChain(5);
    chain[3]["hash"] = HexEncode(std::string(32, 'x'));
    CHECK(Verify(chain) == 4);
  }
  SECTION("a removed entry") {
    auto chain = MakeChain(5);
    chain.erase(chain.begin() + 2);
    CHECK(Verify(chain) == 3);
  }
  SECTION("the first entry removed") {
    auto chain = MakeChain(3);
    chain.erase(chain.begin());
    CHECK(Verify(chain) == 1);
  }
  SECTION("two entries swapped") {
    auto chain = MakeChain(5);
    std::swap(chain[1], chain[2]);
    CHECK(Verify(chain) == 2);
  }
  SECTION("renumbered after a removal") {
    auto chain = MakeChain(5);
    chain.erase(chain.begin() + 2);
    chain[2]["seq"] = 3;
    chain[3]["seq"] = 4;
    CHECK(Verify(chain) == 3);  // prev_hash no longer links
  }
  SECTION("a malformed entry") {
    auto chain = MakeChain(2);
    chain[1].erase("hash");
    CHECK(Verify(chain) == 2);
  }
  SECTION("the failure is sticky") {
    auto chain = MakeChain(3);
    chain[0]["actor"] = "mallory";
    AuditChainVerifier v;
    CHECK_FALSE(v.Add(chain[0]).ok());
    CHECK(v.Add(chain[1]).reason() == "audit_chain_broken");
    CHECK(*v.bad_seq() == 1);
    CHECK(v.count() == 0);
  }
}

TEST_CASE("CSRs parse and their signatures verify, for every key type") {
  for (const char* name : {"p256", "p384", "ed25519", "rsa2048"}) {
    INFO(name);
    auto type = ParseKeyType(name);
    REQUIRE(type.ok());
    auto key = GenerateKey(*type);
    REQUIRE(key.ok());
    CHECK(*KeyTypeOf(key->get()) == *type);
    auto pem = MakeCsrPem(key->get(), "web1.example.com");
    REQUIRE(pem.ok());
    auto csr = CsrFromPemOrDer(*pem);
    REQUIRE(csr.ok());
    EVP_PKEY* pub = X509_REQ_get0_pubkey(csr->get());
    REQUIRE(pub != nullptr);
    CHECK(X509_REQ_verify(csr->get(), pub) == 1);
    CHECK(EVP_PKEY_eq(pub, key->get()) == 1);
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(csr->get()), NID_commonName, cn,
                              sizeof(cn));
    CHECK(std::string(cn) == "web1.example.com");
  }
  CHECK_FALSE(ParseKeyType("dsa").ok());
  // rsa4096 is a CA key type, not a host's
  CHECK(ParseKeyType("rsa4096").status().reason() == "bad_key_type");
}

TEST_CASE("a CSR for a name longer than a CN can hold has no CN") {
  auto key = GenerateKey(KeyType::kP256);
  REQUIRE(key.ok());
  auto pem = MakeCsrPem(key->get(), std::string(70, 'a') + ".example");
  REQUIRE(pem.ok());
  auto csr = CsrFromPemOrDer(*pem);
  REQUIRE(csr.ok());
  CHECK(X509_REQ_verify(csr->get(), X509_REQ_get0_pubkey(csr->get())) == 1);
  CHECK(X509_NAME_entry_count(X509_REQ_get_subject_name(csr->get())) == 0);
}

}  // namespace
}  // namespace hostca::cli
