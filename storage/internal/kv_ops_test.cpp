// RecordingKv and ReplayOps (kv_ops.h): a transaction's writes recorded as
// bytes replay to the same tables; failed writes are not recorded; bad
// bytes are refused, never a crash.
#include "storage/internal/kv_ops.h"

#include <catch2/catch.hpp>
#include <map>

namespace hostca::storage::internal {
namespace {

// Ordered tables in memory; a Put of `fail_key` fails.
class MapKv final : public KvWrite {
 public:
  std::map<std::pair<int, std::string>, std::string> rows;
  std::string fail_key;

  Result<std::optional<std::string>> Get(Table t, std::string_view key) override {
    auto it = rows.find({t, std::string(key)});
    if (it == rows.end()) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->second);
  }
  Status Scan(Table, std::string_view,
              const std::function<bool(std::string_view, std::string_view)>&) override {
    return Status::Ok();
  }
  Result<std::optional<std::pair<std::string, std::string>>> Last(Table) override {
    return std::optional<std::pair<std::string, std::string>>();
  }
  Result<uint64_t> Count(Table) override { return uint64_t{0}; }
  Status Put(Table t, std::string_view key, std::string_view value) override {
    if (key == fail_key) {
      return Internal("injected failure");
    }
    rows[{t, std::string(key)}] = std::string(value);
    return Status::Ok();
  }
  Status Del(Table t, std::string_view key) override {
    rows.erase({t, std::string(key)});
    return Status::Ok();
  }
  Status Append(Table t, std::string_view key, std::string_view value) override {
    return Put(t, key, value);
  }
};

TEST_CASE("kv ops: recorded writes replay to the same tables") {
  MapKv original, replayed;
  std::string ops;
  RecordingKv rec(original, &ops);
  REQUIRE(rec.Put(kCerts, "serial-1", "record-1").ok());
  REQUIRE(
      rec.Append(kCertBodies, std::string("\0\0\0\0\0\0\0\x01", 8), std::string(700, 'd')).ok());
  REQUIRE(rec.Put(kHosts, "host-a", "").ok());  // an empty value
  REQUIRE(rec.Put(kCerts, "serial-1", "record-1, revoked").ok());
  REQUIRE(rec.Put(kMeta, "count", "1").ok());
  REQUIRE(rec.Del(kMeta, "count").ok());
  REQUIRE(rec.Del(kTokens, "never-there").ok());
  REQUIRE(ReplayOps(ops, replayed).ok());
  REQUIRE(replayed.rows == original.rows);
  REQUIRE(replayed.rows.size() == 3);
  REQUIRE(replayed.rows.at({kCerts, "serial-1"}) == "record-1, revoked");
}

TEST_CASE("kv ops: a write that fails is passed back and not recorded") {
  MapKv original, replayed;
  original.fail_key = "bad";
  std::string ops;
  RecordingKv rec(original, &ops);
  REQUIRE(rec.Put(kHosts, "good", "1").ok());
  const std::string before = ops;
  REQUIRE(rec.Put(kHosts, "bad", "2").message() == "injected failure");
  REQUIRE(ops == before);
  REQUIRE(ReplayOps(ops, replayed).ok());
  REQUIRE(replayed.rows == original.rows);
}

TEST_CASE("kv ops: malformed records are refused") {
  MapKv kv;
  std::string ops;
  RecordingKv rec(kv, &ops);
  REQUIRE(rec.Put(kCerts, "serial", "value").ok());
  REQUIRE(rec.Del(kHosts, "host").ok());
  // Every cut inside a write is refused (a cut between writes is a shorter
  // valid record: "P..." is 1+1+2+6+4+5 = 19 bytes).
  for (size_t n = 1; n < ops.size(); ++n) {
    MapKv target;
    const Status st = ReplayOps(std::string_view(ops).substr(0, n), target);
    INFO("cut at " << n);
    REQUIRE(st.ok() == (n == 19));
    if (!st.ok()) {
      REQUIRE(st.reason() == "corrupt_record");
    }
  }
  MapKv target;
  REQUIRE(ReplayOps(std::string("X") + ops.substr(1), target).reason() == "corrupt_record");
  std::string bad_table = ops;
  bad_table[1] = static_cast<char>(kNumTables);
  REQUIRE(ReplayOps(bad_table, target).reason() == "corrupt_record");
}

}  // namespace
}  // namespace hostca::storage::internal
