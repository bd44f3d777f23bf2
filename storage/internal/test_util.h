// Helpers shared by the storage tests (not part of the module's API).
#pragma once

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
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

// Counts the calls that reach it; answers with statuses a pass-through
// cannot make up.
class RecordingStorage final : public Storage {
 public:
  int views = 0, updates = 0, stats = 0, copies = 0, closes = 0, releases = 0, healths = 0;
  Status View(const std::function<Status(ReadTxn&)>&) override {
    ++views;
    return NotFound("view reached");
  }
  Status Update(WriteFn) override {
    ++updates;
    return NotFound("update reached");
  }
  StorageStats Stats() override {
    ++stats;
    StorageStats s;
    s.writes = 42;
    return s;
  }
  Status CopyCompactTo(int fd) override {
    ++copies;
    return fd == 7 ? NotFound("copy reached") : Internal("wrong fd");
  }
  void Close() override { ++closes; }
  void ReleaseMappedPages() override { ++releases; }
  Status WriteHealth() override {
    ++healths;
    return Unavailable("health reached", "storage_io");
  }
};

// Every Storage call made on `outer` once; each must reach `inner`.
inline void RequireEveryCallForwarded(Storage& outer, RecordingStorage& inner) {
  REQUIRE(outer.View([](ReadTxn&) { return Status::Ok(); }).message() == "view reached");
  REQUIRE(outer.Update([](WriteTxn&) { return Status::Ok(); }).message() == "update reached");
  REQUIRE(outer.Stats().writes == 42);
  REQUIRE(outer.CopyCompactTo(7).message() == "copy reached");
  outer.ReleaseMappedPages();
  REQUIRE(outer.WriteHealth().reason() == "storage_io");
  outer.Close();
  REQUIRE(inner.views == 1);
  REQUIRE(inner.updates == 1);
  REQUIRE(inner.stats == 1);
  REQUIRE(inner.copies == 1);
  REQUIRE(inner.releases == 1);
  REQUIRE(inner.healths == 1);
  REQUIRE(inner.closes == 1);
}

}  // namespace hostca::storage::test
