// Helpers shared by the storage tests (not part of the module's API).
#pragma once

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "storage/storage.h"
#include "tests/testutil.h"

namespace hostca::storage::test {

inline CertRecord Cert(const std::string& serial, const std::string& host, int64_t not_after,
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

// Runs `body(Storage&)` once against the in-memory store and once against a
// fresh LMDB store in a temporary directory (as two Catch2 sections).
template <typename F>
void ForBothStores(F body) {
  SECTION("memory") {
    auto store = NewMemoryStorage();
    body(*store);
  }
  SECTION("lmdb") {
    hostca::testing::TempDir dir;
    auto store = OpenLmdbStorage({.path = dir.Sub("db")});
    REQUIRE(store.ok());
    body(**store);
  }
}

// `threads` threads insert `count` certificates with random serials, one
// Update each; returns the serials. Fails the test if any Update fails.
inline std::vector<std::string> StoreConcurrently(Storage& store, int threads, int count) {
  std::vector<std::string> serials(static_cast<size_t>(count));
  for (auto& s : serials) {
    s = RandomBytes(16);
  }
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = t; i < count; i += threads) {
        const CertRecord rec = Cert(serials[i], "host" + std::to_string(i % 100), 1000 + i);
        if (!store.Update([&](WriteTxn& txn) { return txn.InsertCert(rec); }).ok()) {
          ++errors;
        }
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  REQUIRE(errors == 0);
  return serials;
}

}  // namespace hostca::storage::test
