#include <catch2/catch.hpp>

#include "common/clock.h"
#include "enrollment/names.h"
#include "enrollment/rate_limiter.h"
#include "enrollment/tidy.h"
#include "enrollment/tokens.h"

namespace hostca::enrollment {
namespace {

TEST_CASE("host names are normalised LDH names") {
  REQUIRE(*NormalizeHostname("Web1.Example") == "web1.example");
  for (const char* bad : {"", "*.example", "a..b", "a.", ".a", "-a.example", "a-.example", "a b",
                          "a_b", "../etc", "é.example"}) {
    INFO(bad);
    REQUIRE(NormalizeHostname(bad).status().reason() == "bad_hostname");
  }
  REQUIRE_FALSE(NormalizeHostname(std::string(64, 'a') + ".example").ok());
  REQUIRE(NormalizeHostname(std::string(63, 'a') + ".example").ok());
  REQUIRE(IsHostId(NewHostId()));
  REQUIRE_FALSE(IsHostId("not-a-uuid"));
}

TEST_CASE("tokens: validation, one-time value, distinct refusals") {
  TokenSpec spec{"deploy", 2, 3600, "", ""};
  REQUIRE(ValidateTokenSpec(spec).ok());
  storage::TokenRecord rec;
  const CreatedToken t = NewToken(spec, 100, &rec);
  REQUIRE(t.value.size() == 43);
  REQUIRE(*TokenHashOf(t.value) == rec.hash);
  REQUIRE(rec.hash != t.value);
  REQUIRE(CheckToken(rec, "", 100).ok());
  REQUIRE(CheckToken(rec, "", 3700).reason() == "token_expired");
  rec.uses = 2;
  REQUIRE(CheckToken(rec, "", 100).reason() == "token_used_up");
  rec.uses = 0;
  rec.host_id = "h1";
  REQUIRE(CheckToken(rec, "h2", 100).reason() == "token_wrong_host");
  REQUIRE(TokenHashOf("short").status().reason() == "token_invalid");
  spec.host_id = "h1";
  REQUIRE_FALSE(ValidateTokenSpec(spec).ok());  // reissue tokens are single-use
}

TEST_CASE("the rate limiter opens again when failures leave the window") {
  FakeClock clock(1000);
  FailureRateLimiter limiter(clock, RateLimitOptions{3, 60});
  int64_t retry = 0;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(limiter.Check("10.0.0.1", &retry).ok());
    limiter.RecordFailure("10.0.0.1");
  }
  const Status st = limiter.Check("10.0.0.1", &retry);
  REQUIRE(st.reason() == "rate_limited");
  REQUIRE(retry == 60);
  REQUIRE(limiter.Check("10.0.0.2", &retry).ok());
  clock.Advance(60);
  REQUIRE(limiter.Check("10.0.0.1", &retry).ok());
}

TEST_CASE("tidy removes only records expired beyond the retention") {
  auto store = storage::NewMemoryStorage();
  const int64_t now = 100 * 86400;
  REQUIRE(store
              ->Update([&](storage::WriteTxn& txn) -> Status {
                for (int i = 0; i < 2500; ++i) {
                  storage::CertRecord r;
                  r.serial = "s" + std::to_string(i);
                  r.host_id = "h";
                  // Expired i % 200 days ago; 90 days ago is exactly the cutoff and is kept.
                  r.not_after = now - static_cast<int64_t>(i % 200) * 86400;
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(r));
                }
                return Status::Ok();
              })
              .ok());
  auto removed = TidyExpired(*store, now, TidyOptions{90LL * 86400, 100}, "test");
  REQUIRE(removed.ok());
  // Expired more than 90 days: i % 200 in 91..199, i.e. 109 in each of the
  // 12 full rounds of 200, and 91..99 (9) in the last 100.
  REQUIRE(*removed == 109 * 12 + 9);
  REQUIRE(store
              ->View([&](storage::ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountCerts() == 2500 - *removed);
                REQUIRE(txn.LastAudit()->action == "tidy");
                return Status::Ok();
              })
              .ok());
}

}  // namespace
}  // namespace hostca::enrollment
