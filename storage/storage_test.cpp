// Semantics every Storage implementation shares, run against the in-memory
// store and LMDB alike. LMDB-only behaviour is in lmdb_storage_test.cpp.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/audit_hash.h"
#include "storage/fault_storage.h"
#include "storage/forwarding_storage.h"
#include "storage/internal/test_util.h"
#include "storage/storage.h"
#include "tests/testutil.h"

namespace hostca::storage {
namespace {

using test::Cert;
using test::ForBothStores;
using test::RecordingStorage;
using test::RequireEveryCallForwarded;

std::vector<std::string> SerialsWithStatus(ReadTxn& txn, CertStatus status) {
  std::vector<std::string> out;
  REQUIRE(txn.ForEachCertWithStatus(status, CertRead::kWithDer,
                                    [&](const CertRecord& c) {
                                      out.push_back(c.serial);
                                      return true;
                                    })
              .ok());
  return out;
}

TEST_CASE("certificate records and their indices") {
  ForBothStores([](Storage& store) {
    REQUIRE(store
                .Update([](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s1", "h1", 300)));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s2", "h1", 100)));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s3", "h2", 200)));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s5", "h2", 200)));
                  return txn.InsertCert(Cert("s4", "h2", -5));
                })
                .ok());
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  const CertRecord c = *txn.GetCert("s1");
                  REQUIRE(c.host_id == "h1");
                  REQUIRE(c.names == std::vector<std::string>{"h1.example"});
                  REQUIRE(c.der == std::string(300, 'x'));
                  REQUIRE(c.source == "internal");
                  REQUIRE(txn.GetCert("nope").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetCert("").status().code() == Code::kNotFound);
                  REQUIRE(txn.CertsByHost("h1")->size() == 2);
                  REQUIRE(txn.CertsByHost("h")->empty());  // a prefix is not a host
                  // Ordered by not_after, then serial; `to` is exclusive.
                  auto exp = *txn.CertsExpiringBetween(0, 300, 10);
                  REQUIRE(exp.size() == 3);
                  REQUIRE(exp[0].serial == "s2");
                  REQUIRE(exp[1].serial == "s3");
                  REQUIRE(exp[2].serial == "s5");
                  REQUIRE(txn.CertsExpiringBetween(-10, 1000, 2)->size() == 2);
                  REQUIRE(txn.CertsExpiringBetween(-10, 1000, 1)->front().serial == "s4");
                  REQUIRE(txn.CertsExpiringBetween(200, 201, 10)->size() == 2);
                  REQUIRE(txn.CertsExpiringBetween(300, 300, 10)->empty());
                  // The visiting walk: same order and bounds, stops when told.
                  std::vector<std::string> seen;
                  REQUIRE(txn.ForEachCertExpiringBetween(0, 300, CertRead::kWithDer,
                                                         [&](const CertRecord& r) {
                                                           seen.push_back(r.serial);
                                                           return seen.size() < 2;
                                                         })
                              .ok());
                  REQUIRE(seen == std::vector<std::string>{"s2", "s3"});
                  REQUIRE(*txn.CountCerts() == 5);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("a duplicate serial is refused and the first record stays") {
  ForBothStores([](Storage& store) {
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.InsertCert(Cert("s1", "h1", 10)); }).ok());
    const Status dup =
        store.Update([](WriteTxn& txn) { return txn.InsertCert(Cert("s1", "other", 99)); });
    REQUIRE(dup.code() == Code::kAlreadyExists);
    REQUIRE(dup.reason() == "duplicate_serial");
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetCert("s1")->host_id == "h1");
                  REQUIRE(txn.GetCert("s1")->not_after == 10);
                  REQUIRE(txn.CertsByHost("other")->empty());
                  REQUIRE(*txn.CountCerts() == 1);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("revocation through UpdateCert moves the status index and delete clears all") {
  ForBothStores([](Storage& store) {
    REQUIRE(store
                .Update([](WriteTxn& txn) -> Status {
                  for (const char* s : {"a", "b", "c", "d"}) {
                    HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert(s, "h", 100)));
                  }
                  return Status::Ok();
                })
                .ok());
    REQUIRE(store
                .Update([](WriteTxn& txn) -> Status {
                  HOSTCA_ASSIGN_OR_RETURN(CertRecord c, txn.GetCert("c"));
                  c.status = CertStatus::kRevoked;
                  c.revocation_reason = 1;
                  c.revoked_at = 150;
                  c.not_after = 500;
                  return txn.UpdateCert(c);
                })
                .ok());
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  REQUIRE(SerialsWithStatus(txn, CertStatus::kRevoked) ==
                          std::vector<std::string>{"c"});
                  REQUIRE(SerialsWithStatus(txn, CertStatus::kValid) ==
                          std::vector<std::string>{"a", "b", "d"});
                  REQUIRE(txn.GetCert("c")->revocation_reason == 1);
                  REQUIRE(CertStatusName(txn.GetCert("c")->status) == "revoked");
                  REQUIRE(txn.CertsExpiringBetween(0, 200, 10)->size() == 3);
                  REQUIRE(txn.CertsExpiringBetween(500, 501, 10)->front().serial == "c");
                  return Status::Ok();
                })
                .ok());
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.UpdateCert(Cert("zz", "h", 1)); }).code() ==
            Code::kNotFound);
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteCert("c"); }).ok());
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteCert("c"); }).code() ==
            Code::kNotFound);
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  REQUIRE(SerialsWithStatus(txn, CertStatus::kRevoked).empty());
                  REQUIRE(txn.CertsByHost("h")->size() == 3);
                  REQUIRE(txn.CertsExpiringBetween(0, 1000, 10)->size() == 3);
                  // The visitor can stop early.
                  int seen = 0;
                  REQUIRE(txn.ForEachCertWithStatus(CertStatus::kValid, CertRead::kWithDer,
                                                    [&](const CertRecord&) { return ++seen < 2; })
                              .ok());
                  REQUIRE(seen == 2);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("a certificate's DER is read only when asked for and never changes") {
  ForBothStores([](Storage& store) {
    auto cert = [](const char* serial, char fill) {
      CertRecord c = Cert(serial, "h", 100);
      c.der = std::string(700, fill);
      return c;
    };
    REQUIRE(store
                .Update([&](WriteTxn& txn) -> Status {
                  for (auto [s, fill] : {std::pair{"a", 'A'}, {"b", 'B'}, {"c", 'C'}}) {
                    HOSTCA_RETURN_IF_ERROR(txn.InsertCert(cert(s, fill)));
                  }
                  return Status::Ok();
                })
                .ok());
    // Revoke "b" from a record read without its DER: the DER stays.
    REQUIRE(store
                .Update([](WriteTxn& txn) -> Status {
                  return txn.ForEachCertWithStatus(CertStatus::kValid, CertRead::kFields,
                                                   [&](const CertRecord& c) {
                                                     REQUIRE(c.der.empty());
                                                     if (c.serial == "b") {
                                                       CertRecord r = c;
                                                       r.status = CertStatus::kRevoked;
                                                       r.revocation_reason = 4;
                                                       REQUIRE(txn.UpdateCert(r).ok());
                                                     }
                                                     return true;
                                                   });
                })
                .ok());
    // A different DER for a stored serial is refused; the record stays.
    const Status changed = store.Update([&](WriteTxn& txn) {
      CertRecord r = cert("a", 'Z');
      r.status = CertStatus::kRevoked;
      return txn.UpdateCert(r);
    });
    REQUIRE(changed.code() == Code::kInvalidArgument);
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteCert("c"); }).ok());
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.InsertCert(cert("d", 'D')); }).ok());
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  for (auto [s, fill] : {std::pair{"a", 'A'}, {"b", 'B'}, {"d", 'D'}}) {
                    REQUIRE(txn.GetCert(s)->der == std::string(700, fill));
                  }
                  REQUIRE(txn.GetCert("a")->status == CertStatus::kValid);
                  REQUIRE(txn.GetCert("b")->revocation_reason == 4);
                  REQUIRE(txn.GetCert("c").status().code() == Code::kNotFound);
                  std::vector<std::string> ders;
                  REQUIRE(txn.ForEachCertExpiringBetween(0, 1000, CertRead::kWithDer,
                                                         [&](const CertRecord& c) {
                                                           ders.push_back(c.der.substr(0, 1));
                                                           return true;
                                                         })
                              .ok());
                  REQUIRE(ders == std::vector<std::string>{"A", "B", "D"});
                  REQUIRE(txn.ForEachCertWithStatus(CertStatus::kRevoked, CertRead::kFields,
                                                    [](const CertRecord& c) {
                                                      REQUIRE((c.serial == "b" && c.der.empty()));
                                                      return true;
                                                    })
                              .ok());
                  // What the CRL reads: the revocation's fields, from the index.
                  std::vector<CertRecord> revoked;
                  REQUIRE(txn.ForEachCertWithStatus(CertStatus::kRevoked, CertRead::kRevocation,
                                                    [&](const CertRecord& c) {
                                                      revoked.push_back(c);
                                                      return true;
                                                    })
                              .ok());
                  REQUIRE(revoked.size() == 1);
                  REQUIRE(revoked[0].serial == "b");
                  REQUIRE(revoked[0].status == CertStatus::kRevoked);
                  REQUIRE(revoked[0].revocation_reason == 4);
                  REQUIRE(revoked[0].not_after == txn.GetCert("b")->not_after);
                  REQUIRE(revoked[0].der.empty());
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("host names are unique across hosts") {
  ForBothStores([](Storage& store) {
    HostRecord a{"id-a", "a.example", {"www.a.example"}, 1, true, 0};
    HostRecord b{"id-b", "b.example", {}, 1, false, 0};
    REQUIRE(store
                .Update([&](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.PutHost(a));
                  return txn.PutHost(b);
                })
                .ok());
    b.aliases = {"WWW.A.example"};  // DNS names compare case-insensitively
    const Status clash = store.Update([&](WriteTxn& txn) { return txn.PutHost(b); });
    REQUIRE(clash.code() == Code::kConflict);
    REQUIRE(clash.reason() == "name_conflict");
    a.aliases = {"api.a.example"};  // www leaves the index
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.PutHost(a); }).ok());
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.PutHost(b); }).ok());
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetHostByName("www.a.example")->host_id == "id-b");
                  REQUIRE(txn.GetHostByName("API.a.example")->host_id == "id-a");
                  REQUIRE(txn.GetHostByName("a.example")->preregistered);
                  REQUIRE(txn.GetHost("id-b")->aliases ==
                          std::vector<std::string>{"WWW.A.example"});
                  REQUIRE(txn.ListHosts()->size() == 2);
                  REQUIRE(*txn.CountHosts() == 2);
                  return Status::Ok();
                })
                .ok());
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteHost("id-a"); }).ok());
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteHost("id-a"); }).code() ==
            Code::kNotFound);
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetHostByName("a.example").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetHostByName("api.a.example").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetHostByName("www.a.example").ok());
                  REQUIRE(txn.ListHosts()->size() == 1);
                  return Status::Ok();
                })
                .ok());
    HostRecord bad{"", "x.example", {}, 1, false, 0};
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.PutHost(bad); }).code() ==
            Code::kInvalidArgument);
  });
}

TEST_CASE("a host's certificate entries sit beside it and are not hosts") {
  ForBothStores([](Storage& store) {
    HostRecord a{"id-a", "a.example", {}, 1, false, 0};
    HostRecord b{"id-b", "b.example", {}, 1, false, 0};
    REQUIRE(store
                .Update([&](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s1", "id-a", 500)));
                  HOSTCA_RETURN_IF_ERROR(txn.PutHost(a));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("s2", "id-a", 600)));
                  HOSTCA_RETURN_IF_ERROR(txn.PutHost(b));
                  HOSTCA_RETURN_IF_ERROR(txn.PutHost(a));  // an update, not one more host
                  return txn.InsertCert(Cert("s3", "id-b", 700));
                })
                .ok());
    const auto check = [&](uint64_t hosts, size_t certs_of_a) {
      REQUIRE(store
                  .View([&](ReadTxn& txn) -> Status {
                    REQUIRE(*txn.CountHosts() == hosts);
                    REQUIRE(txn.ListHosts()->size() == hosts);
                    REQUIRE(txn.CertsByHost("id-a")->size() == certs_of_a);
                    REQUIRE(txn.CertsByHost("id-b")->size() == 1);
                    // A certificate's entry is never taken for a host.
                    REQUIRE(txn.GetHost(std::string("id-a\0s1", 7)).status().code() ==
                            Code::kNotFound);
                    return Status::Ok();
                  })
                  .ok());
    };
    check(2, 2);
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteCert("s1"); }).ok());
    check(2, 1);
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteHost("id-a"); }).ok());
    // The certificates of a deleted host stay listed under its id.
    check(1, 1);
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteHost("id-a"); }).code() ==
            Code::kNotFound);
    check(1, 1);
  });
}

TEST_CASE("token names are unique and follow renames") {
  ForBothStores([](Storage& store) {
    TokenRecord t{std::string("h\0sh1", 5), "deploy", 3, 0, 1, 100, "why", ""};
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.PutToken(t); }).ok());
    TokenRecord other{"hash2", "deploy", 1, 0, 1, 100, "", "host-1"};
    const Status taken = store.Update([&](WriteTxn& txn) { return txn.PutToken(other); });
    REQUIRE(taken.code() == Code::kAlreadyExists);
    REQUIRE(taken.reason() == "token_name_taken");
    t.name = "deploy-2";  // a rename frees the old name
    t.uses = 2;
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.PutToken(t); }).ok());
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.PutToken(other); }).ok());
    REQUIRE(store
                .View([&](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetTokenByName("deploy")->hash == "hash2");
                  REQUIRE(txn.GetTokenByName("deploy")->host_id == "host-1");
                  REQUIRE(txn.GetTokenByName("deploy-2")->uses == 2);
                  REQUIRE(txn.GetToken(t.hash)->reason == "why");
                  REQUIRE(txn.ListTokens()->size() == 2);
                  return Status::Ok();
                })
                .ok());
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.DeleteToken(t.hash); }).ok());
    REQUIRE(store.Update([&](WriteTxn& txn) { return txn.DeleteToken(t.hash); }).code() ==
            Code::kNotFound);
    REQUIRE(store
                .View([&](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetTokenByName("deploy-2").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetToken(t.hash).status().code() == Code::kNotFound);
                  REQUIRE(txn.ListTokens()->size() == 1);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("mappings and meta") {
  ForBothStores([](Storage& store) {
    REQUIRE(store
                .Update([](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.PutMapping({"m1", "id-a", "x.example", 5}));
                  HOSTCA_RETURN_IF_ERROR(txn.PutMapping({"m2", "id-b", "y.example", 6}));
                  return txn.PutMeta("security_level", "strict");
                })
                .ok());
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteMapping("m1"); }).ok());
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.DeleteMapping("m1"); }).code() ==
            Code::kNotFound);
    REQUIRE(store.Update([](WriteTxn& txn) { return txn.PutMeta("storage_format", "x"); }).code() ==
            Code::kInvalidArgument);
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.ListMappings()->size() == 1);
                  REQUIRE(txn.GetMapping("m2")->name == "y.example");
                  REQUIRE(*txn.GetMeta("security_level") == "strict");
                  REQUIRE(txn.GetMeta("nope").status().code() == Code::kNotFound);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("the audit log is a hash chain") {
  ForBothStores([](Storage& store) {
    REQUIRE(store
                .View([](ReadTxn& txn) {
                  return txn.LastAudit().status().code() == Code::kNotFound
                             ? Status::Ok()
                             : Internal("an empty log has a last entry");
                })
                .ok());
    for (int i = 0; i < 5; ++i) {
      AuditEntry got;
      REQUIRE(store
                  .Update([&](WriteTxn& txn) -> Status {
                    HOSTCA_ASSIGN_OR_RETURN(got, txn.AppendAudit(100 + i, "admin", "revoke",
                                                                 "serial " + std::to_string(i)));
                    return Status::Ok();
                  })
                  .ok());
      REQUIRE(got.seq == static_cast<uint64_t>(i + 1));
    }
    REQUIRE(store
                .View([](ReadTxn& txn) -> Status {
                  const auto log = *txn.ReadAudit(1, 100);
                  REQUIRE(log.size() == 5);
                  std::string prev = AuditGenesisHash();
                  for (size_t i = 0; i < log.size(); ++i) {
                    REQUIRE(log[i].seq == i + 1);
                    REQUIRE(log[i].prev_hash == prev);
                    REQUIRE(log[i].hash == AuditEntryHash(prev, log[i].seq, log[i].time,
                                                          log[i].actor, log[i].action,
                                                          log[i].detail));
                    prev = log[i].hash;
                  }
                  REQUIRE(txn.LastAudit()->hash == prev);
                  REQUIRE(txn.ReadAudit(4, 100)->size() == 2);
                  REQUIRE(txn.ReadAudit(2, 2)->back().seq == 3);
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("a failing write in a batch rolls back only itself") {
  ForBothStores([](Storage& store) {
    // The first write holds the writer until the other 39 are queued, so
    // they all land in one batch.
    std::atomic<bool> entered{false};
    std::atomic<int> started{0};
    Status first;
    std::thread blocker([&] {
      first = store.Update([&](WriteTxn& txn) {
        entered = true;
        while (started.load() < 39) {
          std::this_thread::yield();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return txn.InsertCert(Cert("first", "h", 10));
      });
    });
    while (!entered.load()) {
      std::this_thread::yield();
    }
    std::vector<std::thread> threads;
    std::vector<Status> results(40);
    for (int i = 1; i < 40; ++i) {
      threads.emplace_back([&, i] {
        ++started;
        results[i] = store.Update([i](WriteTxn& txn) -> Status {
          HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("c" + std::to_string(i), "h", 10)));
          HOSTCA_RETURN_IF_ERROR(txn.AppendAudit(i, "t", "insert", std::to_string(i)).status());
          if (i % 4 == 0) {
            return Conflict("refused after writing", "test_refusal");
          }
          if (i % 13 == 0) {
            throw std::runtime_error("a bug in a write");
          }
          return Status::Ok();
        });
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    blocker.join();
    REQUIRE(first.ok());
    int ok = 0;
    for (int i = 1; i < 40; ++i) {
      INFO("write " << i << ": " << results[i].ToString());
      if (i % 4 == 0) {
        REQUIRE(results[i].reason() == "test_refusal");
      } else if (i % 13 == 0) {
        REQUIRE(results[i].code() == Code::kInternal);
      } else {
        REQUIRE(results[i].ok());
        ++ok;
      }
    }
    REQUIRE(store.Stats().max_batch == 39);  // the failures shared a batch with the others
    REQUIRE(store
                .View([&](ReadTxn& txn) -> Status {
                  REQUIRE(*txn.CountCerts() == static_cast<uint64_t>(ok + 1));
                  REQUIRE(txn.GetCert("c4").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetCert("c13").status().code() == Code::kNotFound);
                  REQUIRE(txn.GetCert("c5").ok());
                  REQUIRE(txn.ReadAudit(1, 100)->size() == static_cast<size_t>(ok));
                  REQUIRE(txn.LastAudit()->seq == static_cast<uint64_t>(ok));
                  return Status::Ok();
                })
                .ok());
  });
}

TEST_CASE("misuse is an error not a deadlock, and a closed store is unavailable") {
  ForBothStores([](Storage& store) {
    const Status nested = store.Update(
        [&](WriteTxn&) { return store.Update([](WriteTxn&) { return Status::Ok(); }); });
    REQUIRE(nested.code() == Code::kInternal);
    const Status view_in_update =
        store.Update([&](WriteTxn&) { return store.View([](ReadTxn&) { return Status::Ok(); }); });
    REQUIRE(view_in_update.code() == Code::kInternal);
    store.Close();
    store.Close();
    REQUIRE(store.Update([](WriteTxn&) { return Status::Ok(); }).code() == Code::kUnavailable);
    REQUIRE(store.View([](ReadTxn&) { return Status::Ok(); }).code() == Code::kUnavailable);
  });
}

TEST_CASE("16 threads store certificates concurrently in group commits (memory)") {
  auto store = NewMemoryStorage();
  test::StoreConcurrently(*store, 16, 10000);
  const StorageStats stats = store->Stats();
  REQUIRE(stats.writes == 10000);
  REQUIRE(stats.cert_count == 10000);
  REQUIRE(stats.commits < stats.writes);
}

TEST_CASE("the fault-injecting wrapper fails writes while armed and stores nothing") {
  FaultInjectingStorage store(NewMemoryStorage());
  auto insert = [&](const std::string& serial) {
    return store.Update([serial](WriteTxn& txn) { return txn.InsertCert(Cert(serial, "h", 1)); });
  };
  store.FailCommits(Unavailable("disk on fire"));
  REQUIRE(insert("f1").code() == Code::kUnavailable);
  REQUIRE(insert("f2").code() == Code::kUnavailable);
  store.Clear();
  REQUIRE(insert("f3").ok());
  store.FailNextCommits(2, ResourceExhausted("disk full", "storage_full"));
  REQUIRE(insert("f4").reason() == "storage_full");
  REQUIRE(insert("f5").code() == Code::kResourceExhausted);
  REQUIRE(insert("f6").ok());
  REQUIRE(store
              .View([](ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountCerts() == 2);
                REQUIRE(txn.GetCert("f3").ok());
                REQUIRE(txn.GetCert("f6").ok());
                return Status::Ok();
              })
              .ok());
  auto inner = NewMemoryStorage();
  FaultInjectingStorage borrowed(*inner);
  borrowed.FailCommits(Internal("boom"));
  REQUIRE(borrowed.Update([](WriteTxn&) { return Status::Ok(); }).code() == Code::kInternal);
  REQUIRE(inner->Stats().commits == 0);
}

TEST_CASE("a forwarding store and the fault-injecting wrapper pass every call through") {
  SECTION("ForwardingStorage, borrowed") {
    RecordingStorage inner;
    ForwardingStorage outer(inner);
    RequireEveryCallForwarded(outer, inner);
  }
  SECTION("ForwardingStorage, owned") {
    auto owned = std::make_unique<RecordingStorage>();
    RecordingStorage& inner = *owned;
    ForwardingStorage outer(std::move(owned));
    REQUIRE(&outer.inner() == &inner);
    RequireEveryCallForwarded(outer, inner);
  }
  SECTION("FaultInjectingStorage, unarmed") {
    RecordingStorage inner;
    FaultInjectingStorage outer(inner);
    RequireEveryCallForwarded(outer, inner);
  }
}

}  // namespace
}  // namespace hostca::storage
