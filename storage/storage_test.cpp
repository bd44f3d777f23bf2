#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "common/audit_hash.h"
#include "common/encoding.h"
#include "storage/fault_storage.h"
#include "storage/storage.h"
#include "tests/testutil.h"

namespace hostca::storage {
namespace {

using hostca::testing::TempDir;

CertRecord Cert(const std::string& serial, const std::string& host, int64_t not_after,
                size_t der_size = 300) {
  CertRecord r;
  r.serial = serial;
  r.host_id = host;
  r.names = {host + ".example"};
  r.not_before = 1000;
  r.not_after = not_after;
  r.issued_at = 1000;
  r.der = std::string(der_size, 'x');
  return r;
}

// Runs a test body against both implementations.
template <typename F>
void ForBothStores(F body) {
  SECTION("memory") { body(NewMemoryStorage()); }
  SECTION("lmdb") {
    TempDir dir;
    auto store = OpenLmdbStorage({.path = dir.Sub("db")});
    REQUIRE(store.ok());
    body(std::move(*store));
  }
}

TEST_CASE("certificate records and their indices") {
  ForBothStores([](std::unique_ptr<Storage> store) {
    REQUIRE(store
                ->Update([](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s1", "h1", 300)));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s2", "h1", 100)));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s3", "h2", 200)));
                  return txn.InsertCert(Cert("s4", "h2", -5));
                })
                .ok());
    // The duplicate serial is refused and the first record stays.
    const Status dup =
        store->Update([](WriteTxn& txn) { return txn.InsertCert(Cert("s1", "hX", 9)); });
    REQUIRE(dup.code() == Code::kAlreadyExists);
    REQUIRE(dup.reason() == "duplicate_serial");
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  HOSTCA_ASSIGN_OR_RETURN(CertRecord c, txn.GetCert("s1"));
                  REQUIRE(c.host_id == "h1");
                  REQUIRE(c.names == std::vector<std::string>{"h1.example"});
                  REQUIRE(txn.GetCert("nope").status().code() == Code::kNotFound);
                  REQUIRE(txn.CertsByHost("h1")->size() == 2);
                  REQUIRE(txn.CertsByHost("h")->empty());
                  auto exp = *txn.CertsExpiringBetween(0, 250, 10);
                  REQUIRE(exp.size() == 2);
                  REQUIRE((exp[0].serial == "s2" && exp[1].serial == "s3"));
                  REQUIRE(txn.CertsExpiringBetween(-10, 1000, 1)->front().serial == "s4");
                  REQUIRE(*txn.CountCerts() == 4);
                  return Status::Ok();
                })
                .ok());
    // Revocation moves the record between status index entries.
    REQUIRE(store
                ->Update([](WriteTxn& txn) -> Status {
                  HOSTCA_ASSIGN_OR_RETURN(CertRecord c, txn.GetCert("s3"));
                  c.status = CertStatus::kRevoked;
                  c.revocation_reason = 1;
                  c.revoked_at = 150;
                  return txn.UpdateCert(c);
                })
                .ok());
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  std::vector<std::string> revoked, valid;
                  REQUIRE(txn.ForEachCertWithStatus(CertStatus::kRevoked,
                                                    [&](const CertRecord& c) {
                                                      revoked.push_back(c.serial);
                                                      return true;
                                                    })
                              .ok());
                  REQUIRE(txn.ForEachCertWithStatus(CertStatus::kValid,
                                                    [&](const CertRecord& c) {
                                                      valid.push_back(c.serial);
                                                      return true;
                                                    })
                              .ok());
                  REQUIRE(revoked == std::vector<std::string>{"s3"});
                  REQUIRE(valid == std::vector<std::string>{"s1", "s2", "s4"});
                  REQUIRE(txn.GetCert("s3")->revocation_reason == 1);
                  return Status::Ok();
                })
                .ok());
    REQUIRE(store->Update([](WriteTxn& txn) { return txn.DeleteCert("s2"); }).ok());
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.CertsByHost("h1")->size() == 1);
                  REQUIRE(txn.CertsExpiringBetween(0, 250, 10)->size() == 1);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("hosts keep a unique name index and tokens a unique name") {
  ForBothStores([](std::unique_ptr<Storage> store) {
    HostRecord a{"id-a", "a.example", {"www.a.example"}, 1, true, 0};
    HostRecord b{"id-b", "b.example", {}, 1, false, 0};
    REQUIRE(store
                ->Update([&](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.PutHost(a));
                  return txn.PutHost(b);
                })
                .ok());
    b.aliases = {"www.a.example"};
    const Status clash = store->Update([&](WriteTxn& txn) { return txn.PutHost(b); });
    REQUIRE(clash.reason() == "name_conflict");
    a.aliases = {"api.a.example"};  // www leaves the index
    REQUIRE(store->Update([&](WriteTxn& txn) { return txn.PutHost(a); }).ok());
    REQUIRE(store->Update([&](WriteTxn& txn) { return txn.PutHost(b); }).ok());
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetHostByName("www.a.example")->host_id == "id-b");
                  REQUIRE(txn.GetHostByName("api.a.example")->host_id == "id-a");
                  REQUIRE(txn.ListHosts()->size() == 2);
                  return Status::Ok();
                })
                .ok());
    TokenRecord t{"hash1", "deploy", 3, 0, 1, 100, "why", ""};
    REQUIRE(store->Update([&](WriteTxn& txn) { return txn.PutToken(t); }).ok());
    TokenRecord other{"hash2", "deploy", 1, 0, 1, 100, "", ""};
    REQUIRE(store->Update([&](WriteTxn& txn) { return txn.PutToken(other); }).reason() ==
            "token_name_taken");
    REQUIRE(store->Update([&](WriteTxn& txn) { return txn.DeleteToken("hash1"); }).ok());
    REQUIRE(store->Update([&](WriteTxn& txn) { return txn.PutToken(other); }).ok());
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetTokenByName("deploy")->hash == "hash2");
                  REQUIRE(txn.GetToken("hash1").status().code() == Code::kNotFound);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("a failing write in a batch rolls back only itself and the audit chain links") {
  ForBothStores([](std::unique_ptr<Storage> store) {
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, failed{0};
    for (int i = 0; i < 40; ++i) {
      threads.emplace_back([&, i] {
        const Status st = store->Update([i](WriteTxn& txn) -> Status {
          HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("c" + std::to_string(i), "h", 10)));
          HOSTCA_RETURN_IF_ERROR(txn.AppendAudit(i, "t", "insert", std::to_string(i)).status());
          return i % 4 == 0 ? Conflict("refused after writing") : Status::Ok();
        });
        (st.ok() ? ok : failed)++;
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    REQUIRE(ok == 30);
    REQUIRE(failed == 10);
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  REQUIRE(*txn.CountCerts() == 30);
                  REQUIRE(txn.GetCert("c4").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetCert("c5").ok());
                  auto log = *txn.ReadAudit(1, 1000);
                  REQUIRE(log.size() == 30);
                  std::string prev = AuditGenesisHash();
                  for (size_t i = 0; i < log.size(); ++i) {
                    REQUIRE(log[i].seq == i + 1);
                    REQUIRE(log[i].prev_hash == prev);
                    REQUIRE(log[i].hash == AuditEntryHash(prev, log[i].seq, log[i].time,
                                                          log[i].actor, log[i].action,
                                                          log[i].detail));
                    prev = log[i].hash;
                  }
                  REQUIRE(txn.LastAudit()->seq == 30);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("16 threads store 10000 certificates through group commit, all durable") {
  TempDir dir;
  const LmdbOptions opts{.path = dir.Sub("db")};
  {
    auto store = OpenLmdbStorage(opts);
    REQUIRE(store.ok());
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < 10000; i += 16) {
          const std::string serial = RandomBytes(16);
          const Status st = (*store)->Update([&](WriteTxn& txn) {
            return txn.InsertCert(Cert(serial, "host" + std::to_string(i % 100), 1000 + i));
          });
          errors += st.ok() ? 0 : 1;
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    REQUIRE(errors == 0);
    const StorageStats stats = (*store)->Stats();
    INFO("commits " << stats.commits << " writes " << stats.writes << " max batch "
                    << stats.max_batch);
    REQUIRE(stats.writes == 10000);
    REQUIRE(stats.max_batch > 1);
    REQUIRE(stats.commits < stats.writes);
    (*store)->Close();
  }
  auto reopened = OpenLmdbStorage(opts);
  REQUIRE(reopened.ok());
  REQUIRE((*reopened)
              ->View([](ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountCerts() == 10000);
                std::set<std::string> serials;
                const auto all = txn.CertsExpiringBetween(0, INT64_MAX, 20000);
                for (const auto& c : *all) {
                  serials.insert(c.serial);
                }
                REQUIRE(serials.size() == 10000);
                return Status::Ok();
              })
              .ok());
}

TEST_CASE("the map grows on its own, and a full store loses nothing acknowledged") {
  TempDir dir;
  SECTION("growth") {
    const LmdbOptions opts{.path = dir.Sub("db"), .initial_map_size = 1 << 20};
    {
      auto store = *OpenLmdbStorage(opts);
      for (int i = 0; i < 400; ++i) {  // 400 x 50 KiB = 20 MiB
        REQUIRE(store
                    ->Update([i](WriteTxn& txn) {
                      return txn.InsertCert(Cert("g" + std::to_string(i), "h", i, 50 * 1024));
                    })
                    .ok());
      }
      REQUIRE(store->Stats().map_resizes > 0);
    }
    auto store = *OpenLmdbStorage(opts);
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  REQUIRE(*txn.CountCerts() == 400);
                  REQUIRE(txn.GetCert("g399")->der.size() == 50 * 1024);
                  return Status::Ok();
                })
                .ok());
  }
  SECTION("exhaustion") {
    const LmdbOptions opts{
        .path = dir.Sub("db"), .initial_map_size = 1 << 20, .max_map_size = 2 << 20};
    std::vector<std::string> acknowledged;
    {
      auto store = *OpenLmdbStorage(opts);
      Status st;
      for (int i = 0; i < 1000 && st.ok(); ++i) {
        const std::string serial = "x" + std::to_string(i);
        st = store->Update(
            [&](WriteTxn& txn) { return txn.InsertCert(Cert(serial, "h", i, 20 * 1024)); });
        if (st.ok()) {
          acknowledged.push_back(serial);
        }
      }
      REQUIRE(st.code() == Code::kResourceExhausted);
      REQUIRE(acknowledged.size() > 10);
      // Reads and small writes that fit still work.
      REQUIRE(store->View([](ReadTxn& txn) { return txn.CountCerts().status(); }).ok());
    }
    auto store = *OpenLmdbStorage(opts);
    REQUIRE(store
                ->View([&](ReadTxn& txn) -> Status {
                  REQUIRE(*txn.CountCerts() == acknowledged.size());
                  for (const auto& s : acknowledged) {
                    REQUIRE(txn.GetCert(s).ok());
                  }
                  return Status::Ok();
                })
                .ok());
  }
}

TEST_CASE("a corrupt or foreign directory is refused with a clear error") {
  TempDir dir;
  std::filesystem::create_directories(dir.Sub("db"));
  std::ofstream(dir.Sub("db") + "/data.mdb") << std::string(100000, 'g');
  auto garbage = OpenLmdbStorage({.path = dir.Sub("db")});
  REQUIRE_FALSE(garbage.ok());
  REQUIRE(garbage.status().reason() == "foreign_store");
  REQUIRE_THAT(garbage.status().message(), Catch::Contains("does not hold a hostca store"));
}

TEST_CASE("the fault-injecting wrapper fails writes while armed and stores nothing") {
  FaultInjectingStorage store(NewMemoryStorage());
  store.FailCommits(Unavailable("disk on fire"));
  const Status st = store.Update([](WriteTxn& txn) { return txn.InsertCert(Cert("f", "h", 1)); });
  REQUIRE(st.code() == Code::kUnavailable);
  store.FailNextCommits(1, ResourceExhausted("disk full"));
  REQUIRE(store.Update([](WriteTxn& txn) { return txn.InsertCert(Cert("f", "h", 1)); }).code() ==
          Code::kResourceExhausted);
  REQUIRE(store.Update([](WriteTxn& txn) { return txn.InsertCert(Cert("f", "h", 1)); }).ok());
  REQUIRE(store
              .View([](ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountCerts() == 1);
                return Status::Ok();
              })
              .ok());
  store.Close();
  REQUIRE(store.Update([](WriteTxn&) { return Status::Ok(); }).code() == Code::kUnavailable);
}

}  // namespace
}  // namespace hostca::storage
