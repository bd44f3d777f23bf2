// LMDB-only behaviour: durability across reopen, group commit under load,
// map growth and exhaustion, refusing foreign or corrupt stores.
#include <lmdb.h>
#include <sys/mman.h>

#include <array>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "storage/internal/codec.h"
#include "storage/internal/single_page_faults.h"
#include "storage/internal/test_util.h"
#include "storage/storage.h"
#include "tests/testutil.h"

namespace hostca::storage {
namespace {

using hostca::testing::TempDir;
using test::Cert;

// Writes raw key/value pairs into named databases of an LMDB environment,
// behind the store's back (to plant foreign or corrupt data).
void RawPut(const std::string& path, const std::vector<std::array<std::string, 3>>& puts,
            const std::vector<std::string>& empty_tables = {}) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 32);
  REQUIRE(mdb_env_open(env, path.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  for (const std::string& db : empty_tables) {
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, db.c_str(), MDB_CREATE, &dbi) == 0);
  }
  for (const auto& [db, key, value] : puts) {
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, db.c_str(), MDB_CREATE, &dbi) == 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  }
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

// The value of `key` in the named database, read behind the store's back;
// nullopt when absent.
std::optional<std::string> RawGet(const std::string& path, const std::string& db,
                                  const std::string& key) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 32);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_RDONLY, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  std::optional<std::string> out;
  MDB_dbi dbi;
  if (mdb_dbi_open(txn, db.c_str(), 0, &dbi) == 0) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    if (mdb_get(txn, dbi, &k, &v) == 0) {
      out.emplace(static_cast<const char*>(v.mv_data), v.mv_size);
    }
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return out;
}

// The number after `key` in /proc/self/`file` ("key: value" lines, as in
// status and io), or nullopt when the file has no such line.
std::optional<uint64_t> ProcSelfValue(const std::string& file, const std::string& key) {
  std::ifstream in("/proc/self/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return std::stoull(line.substr(key.size()));
    }
  }
  return std::nullopt;
}

// RssFile of this process in KiB (/proc/self/status).
uint64_t RssFileKib() { return ProcSelfValue("status", "RssFile:").value_or(0); }

TEST_CASE("releasing mapped pages keeps reads correct and shrinks the resident set") {
  TempDir dir;
  auto store = OpenLmdbStorage({.path = dir.Sub("db")});
  REQUIRE(store.ok());
  const std::vector<std::string> serials = test::StoreConcurrently(**store, 4, 4000);
  const auto read_all = [&] {
    return (*store)->View([&](ReadTxn& txn) -> Status {
      for (const std::string& serial : serials) {
        HOSTCA_ASSIGN_OR_RETURN(const CertRecord rec, txn.GetCert(serial));
        if (rec.serial != serial) {
          return Internal("wrong record");
        }
      }
      return Status::Ok();
    });
  };
  REQUIRE(read_all().ok());
  const uint64_t before = RssFileKib();
  (*store)->ReleaseMappedPages();
  const uint64_t after = RssFileKib();
  INFO("RssFile " << before << " KiB before, " << after << " KiB after");
  REQUIRE(after < before);
  // Readers racing the release see the same data.
  std::atomic<bool> ok{true};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        ok = ok && read_all().ok();
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    (*store)->ReleaseMappedPages();
  }
  for (std::thread& r : readers) {
    r.join();
  }
  REQUIRE(ok);
}

TEST_CASE(
    "the store check counts every table and names undecodable records and dangling index entries") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  {
    auto store = OpenLmdbStorage({.path = path});
    REQUIRE(store.ok());
    test::StoreConcurrently(**store, 2, 50);
    (*store)->Close();
  }
  auto clean = CheckLmdbStore(path);
  REQUIRE(clean.ok());
  REQUIRE(clean->problems_found == 0);
  uint64_t certs = 0;
  for (const auto& t : clean->tables) {
    certs += t.name == "certs" ? t.entries : 0;
  }
  REQUIRE(certs == 50);
  // Behind the store's back: a record that does not decode, and an index
  // entry whose certificate does not exist.
  RawPut(path, {{"certs", std::string(16, '\x7f'), "not a record"},
                {"certs_by_status", std::string(1, '\0') + std::string(16, '\x01'), ""}});
  auto damaged = CheckLmdbStore(path);
  REQUIRE(damaged.ok());
  REQUIRE(damaged->problems_found == 2);
  REQUIRE_THAT(damaged->problems[0] + damaged->problems[1],
               Catch::Contains("does not decode") && Catch::Contains("missing certs record"));
  REQUIRE(CheckLmdbStore(dir.Sub("nothing")).status().code() == Code::kNotFound);
}

// Entries of one table, from the store check (which also finds no problem).
uint64_t TableEntries(const std::string& path, const std::string& table) {
  auto check = CheckLmdbStore(path);
  REQUIRE(check.ok());
  INFO((check->problems.empty() ? std::string() : check->problems.front()));
  REQUIRE(check->problems_found == 0);
  for (const auto& t : check->tables) {
    if (t.name == table) {
      return t.entries;
    }
  }
  FAIL("no table " << table);
  return 0;
}

// Revokes the stored certificate `serial` through UpdateCert.
void Revoke(Storage& store, const std::string& serial) {
  REQUIRE(store
              .Update([&serial](WriteTxn& txn) -> Status {
                HOSTCA_ASSIGN_OR_RETURN(CertRecord c, txn.GetCert(serial));
                c.status = CertStatus::kRevoked;
                return txn.UpdateCert(c);
              })
              .ok());
}

TEST_CASE("valid certificates are not in the status index and older stores' entries are dropped") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  auto status_entries = [&path] { return TableEntries(path, "certs_by_status"); };
  {
    auto store = *OpenLmdbStorage({.path = path});
    REQUIRE(store
                ->Update([](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("new", "h", 5)));
                  return txn.InsertCert(Cert("old", "h", 6));
                })
                .ok());
  }
  REQUIRE(status_entries() == 0);
  // A store written before indexed valid certificates too.
  RawPut(path, {{"certs_by_status", std::string("\0old", 4), ""}});
  REQUIRE(status_entries() == 1);
  {
    auto store = *OpenLmdbStorage({.path = path});
    auto valid = [&store] {
      std::vector<std::string> serials;
      REQUIRE(store
                  ->View([&](ReadTxn& txn) {
                    return txn.ForEachCertWithStatus(CertStatus::kValid, CertRead::kWithDer,
                                                     [&](const CertRecord& c) {
                                                       serials.push_back(c.serial);
                                                       return true;
                                                     });
                  })
                  .ok());
      return serials;
    };
    REQUIRE(valid() == std::vector<std::string>{"new", "old"});
    Revoke(*store, "old");
    REQUIRE(valid() == std::vector<std::string>{"new"});
  }
  REQUIRE(status_entries() == 1);  // the revoked one; the old valid entry is gone
}

// The CRL's walk at start-up (CertRead::kRevocation) reads the status
// index alone: its values hold each revocation. Entries written before
// ("") read the record, and the store check compares values with records.
TEST_CASE("revoked entries hold what the CRL needs; older empty entries read the record") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  auto revoke = [](Storage& store, const std::string& serial, int reason, int64_t at) {
    REQUIRE(store
                .Update([&](WriteTxn& txn) -> Status {
                  HOSTCA_ASSIGN_OR_RETURN(CertRecord c, txn.GetCert(serial));
                  c.status = CertStatus::kRevoked;
                  c.revocation_reason = reason;
                  c.revoked_at = at;
                  return txn.UpdateCert(c);
                })
                .ok());
  };
  {
    auto store = *OpenLmdbStorage({.path = path});
    REQUIRE(store
                ->Update([](WriteTxn& txn) -> Status {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("a", "ha", 500)));
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(Cert("b", "hb", -7)));
                  return txn.InsertCert(Cert("c", "hc", 900));
                })
                .ok());
    revoke(*store, "b", 1, 77);
    revoke(*store, "c", 5, 88);
  }
  CertRecord b = Cert("b", "hb", -7);
  b.status = CertStatus::kRevoked;
  b.revocation_reason = 1;
  b.revoked_at = 77;
  REQUIRE(RawGet(path, "certs_by_status", std::string("\x01", 1) + "b") ==
          internal::EncodeRevocation(b));
  REQUIRE(CheckLmdbStore(path)->problems_found == 0);
  // c's entry as a hostca-lmdb-3 store holds it.
  RawPut(path, {{"certs_by_status", std::string("\x01", 1) + "c", ""},
                {"meta", "storage_format", "hostca-lmdb-3"}});
  REQUIRE(CheckLmdbStore(path)->problems_found == 0);
  {
    auto store = *OpenLmdbStorage({.path = path});
    std::vector<CertRecord> seen;
    REQUIRE(store
                ->View([&](ReadTxn& txn) {
                  return txn.ForEachCertWithStatus(CertStatus::kRevoked, CertRead::kRevocation,
                                                   [&](const CertRecord& c) {
                                                     seen.push_back(c);
                                                     return true;
                                                   });
                })
                .ok());
    REQUIRE(seen.size() == 2);
    REQUIRE((seen[0].serial == "b" && seen[0].not_after == -7 && seen[0].revoked_at == 77 &&
             seen[0].revocation_reason == 1 && seen[0].status == CertStatus::kRevoked));
    REQUIRE(seen[0].host_id.empty());  // from the index: the record was not read
    REQUIRE((seen[1].serial == "c" && seen[1].not_after == 900 && seen[1].revoked_at == 88 &&
             seen[1].revocation_reason == 5 && seen[1].host_id == "hc"));
    // Read only so far; the first write marks the store -4 and fills c's.
    REQUIRE(RawGet(path, "certs_by_status", std::string("\x01", 1) + "c") == "");
    REQUIRE(store->Update([](WriteTxn& txn) { return txn.PutMeta("k", "v"); }).ok());
  }
  REQUIRE(RawGet(path, "meta", "storage_format") == "hostca-lmdb-4");
  CertRecord c = Cert("c", "hc", 900);
  c.status = CertStatus::kRevoked;
  c.revocation_reason = 5;
  c.revoked_at = 88;
  REQUIRE(RawGet(path, "certs_by_status", std::string("\x01", 1) + "c") ==
          internal::EncodeRevocation(c));
  // A value that disagrees with its record, and one that does not decode.
  CertRecord wrong = b;
  wrong.not_after = 12345;
  RawPut(path,
         {{"certs_by_status", std::string("\x01", 1) + "b", internal::EncodeRevocation(wrong)},
          {"certs_by_status", std::string("\x01", 1) + "c", "junk"}});
  auto check = CheckLmdbStore(path);
  REQUIRE(check->problems_found == 2);
  REQUIRE_THAT(check->problems[0], Catch::Contains("a revoked entry disagrees"));
}

TEST_CASE("a store of format hostca-lmdb-1 (DER inline) opens, reads and moves DER out on update") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  std::filesystem::create_directories(path);
  // What hostca wrote before cert_bodies: the record holds the DER.
  CertRecord old = Cert("old", "h", 500, 0);
  old.der = std::string(650, 'o');
  RawPut(path,
         {{"meta", "storage_format", "hostca-lmdb-1"},
          {"certs", "old", internal::Encode(old)},
          {"certs_by_host", std::string("h\0old", 5), ""},
          {"certs_by_expiry", internal::SignedKey(500) + "old", ""}},
         {"certs_by_status", "hosts", "host_names", "tokens", "token_names", "mappings", "audit"});
  REQUIRE(TableEntries(path, "cert_bodies") == 0);  // the check reads it without the table
  // Opened and read, not written: still a -1 store for an older hostca.
  REQUIRE((*OpenLmdbStorage({.path = path}))
              ->View([](ReadTxn& txn) -> Status {
                REQUIRE(*txn.GetMeta("storage_format") == "hostca-lmdb-1");
                REQUIRE(txn.GetCert("old")->der == std::string(650, 'o'));
                return Status::Ok();
              })
              .ok());
  REQUIRE(RawGet(path, "meta", "storage_format") == "hostca-lmdb-1");
  {
    auto store = *OpenLmdbStorage({.path = path, .redo_log = false});
    // A write that fails leaves the marker as it was.
    REQUIRE_FALSE(
        store->Update([](WriteTxn&) -> Status { return InvalidArgument("no", "test"); }).ok());
    REQUIRE(RawGet(path, "meta", "storage_format") == "hostca-lmdb-1");
    REQUIRE(store
                ->Update([](WriteTxn& txn) -> Status {
                  REQUIRE(*txn.GetMeta("storage_format") == "hostca-lmdb-4");
                  REQUIRE(txn.GetCert("old")->der == std::string(650, 'o'));
                  return txn.InsertCert(Cert("new", "h", 600));
                })
                .ok());
    REQUIRE(TableEntries(path, "cert_bodies") == 1);  // the new one's
    REQUIRE(RawGet(path, "meta", "storage_format") == "hostca-lmdb-4");
    Revoke(*store, "old");
    REQUIRE(TableEntries(path, "cert_bodies") == 2);  // the old DER moved out
    REQUIRE(store
                ->View([](ReadTxn& txn) -> Status {
                  REQUIRE(txn.GetCert("old")->der == std::string(650, 'o'));
                  REQUIRE(txn.GetCert("old")->status == CertStatus::kRevoked);
                  REQUIRE(txn.CertsByHost("h")->size() == 2);
                  return Status::Ok();
                })
                .ok());
    REQUIRE(store->Update([](WriteTxn& txn) { return txn.DeleteCert("old"); }).ok());
  }
  REQUIRE(TableEntries(path, "cert_bodies") == 1);
  // A record that names a DER the store does not hold.
  RawPut(path, {{"certs", "lost", internal::EncodeCertRef(Cert("lost", "h", 700), 99)}});
  auto check = CheckLmdbStore(path);
  REQUIRE(check.ok());
  REQUIRE(check->problems_found == 1);
  REQUIRE_THAT(check->problems[0], Catch::Contains("missing cert_bodies record"));
  auto store = *OpenLmdbStorage({.path = path});
  REQUIRE(store
              ->View([](ReadTxn& txn) -> Status {
                REQUIRE(txn.GetCert("lost").status().code() == Code::kInternal);
                REQUIRE(txn.GetCert("new").ok());
                return Status::Ok();
              })
              .ok());
}

TEST_CASE(
    "a store of format hostca-lmdb-2 keeps its certs_by_host entries readable and drains them") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  std::filesystem::create_directories(path);
  // What hostca wrote before a host's certificate entries moved into hosts.
  const HostRecord h1{"h1", "one.example", {}, 1, false, 0};
  const HostRecord h2{"h2", "two.example", {}, 1, false, 0};
  const CertRecord c1 = Cert("c1", "h1", 500), c2 = Cert("c2", "h2", 600);
  RawPut(path,
         {{"meta", "storage_format", "hostca-lmdb-2"},
          {"hosts", "h1", internal::Encode(h1)},
          {"hosts", "h2", internal::Encode(h2)},
          {"host_names", "one.example", "h1"},
          {"host_names", "two.example", "h2"},
          {"cert_bodies", internal::BigEndian64(1), c1.der},
          {"cert_bodies", internal::BigEndian64(2), c2.der},
          {"certs", "c1", internal::EncodeCertRef(c1, 1)},
          {"certs", "c2", internal::EncodeCertRef(c2, 2)},
          {"certs_by_host", std::string("h1\0c1", 5), ""},
          {"certs_by_host", std::string("h2\0c2", 5), ""},
          {"certs_by_expiry", internal::SignedKey(500) + "c1", ""},
          {"certs_by_expiry", internal::SignedKey(600) + "c2", ""}},
         {"certs_by_status", "tokens", "token_names", "mappings", "audit"});
  REQUIRE(CheckLmdbStore(path)->problems_found == 0);
  auto store = *OpenLmdbStorage({.path = path, .redo_log = false});
  const auto counts = [&](uint64_t hosts, size_t of_h1) {
    REQUIRE(store
                ->View([&](ReadTxn& txn) -> Status {
                  REQUIRE(*txn.CountHosts() == hosts);
                  REQUIRE(txn.ListHosts()->size() == hosts);
                  REQUIRE(txn.CertsByHost("h1")->size() == of_h1);
                  REQUIRE(txn.CertsByHost("h2")->size() == 1);
                  return Status::Ok();
                })
                .ok());
  };
  counts(2, 1);
  REQUIRE(RawGet(path, "meta", "storage_format") == "hostca-lmdb-2");  // read only so far
  // A new certificate's entry goes beside its host; the count is kept.
  REQUIRE(store->Update([](WriteTxn& txn) { return txn.InsertCert(Cert("c3", "h1", 700)); }).ok());
  REQUIRE(RawGet(path, "meta", "storage_format") == "hostca-lmdb-4");
  REQUIRE(RawGet(path, "meta", "storage_host_count") == internal::BigEndian64(2));
  REQUIRE(TableEntries(path, "hosts") == 3);
  counts(2, 2);
  // Revoking rewrites the entry where it now belongs; deleting drops it.
  Revoke(*store, "c1");
  REQUIRE(TableEntries(path, "certs_by_host") == 1);
  counts(2, 2);
  REQUIRE(store->Update([](WriteTxn& txn) { return txn.DeleteCert("c2"); }).ok());
  REQUIRE(TableEntries(path, "certs_by_host") == 0);
  REQUIRE(store
              ->Update([&](WriteTxn& txn) -> Status {
                return txn.PutHost(HostRecord{"h3", "three.example", {}, 1, false, 0});
              })
              .ok());
  REQUIRE(store
              ->View([](ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountHosts() == 3);
                REQUIRE(txn.CertsByHost("h2")->empty());
                return Status::Ok();
              })
              .ok());
  store->Close();
  REQUIRE(CheckLmdbStore(path)->problems_found == 0);
  // The check compares the kept count with the host records.
  RawPut(path, {{"meta", "storage_host_count", internal::BigEndian64(7)},
                {"hosts", std::string("h9\0gone", 7), ""}});
  auto check = CheckLmdbStore(path);
  REQUIRE(check->problems_found == 2);
  REQUIRE_THAT(check->problems[0], Catch::Contains("hosts: an entry points at a missing certs"));
  REQUIRE_THAT(check->problems[1], Catch::Contains("the host count says 7 but hosts holds 3"));
}

// write_bytes of /proc/self/io: page cache this process turned dirty. The
// kernel counts a whole folio when a write dirties a clean one.
uint64_t DirtiedBytes() {
  const std::optional<uint64_t> bytes = ProcSelfValue("io", "write_bytes:");
  if (!bytes) {
    FAIL("no write_bytes in /proc/self/io");
  }
  return *bytes;
}

TEST_CASE("a small commit dirties about the pages it writes, not whole large folios") {
  TempDir dir;
  // Without the redo log every commit writes its pages back, so each one
  // dirties clean page cache and write_bytes counts all of it. With the log
  // the pages stay dirty until a checkpoint on a 1 s timer, and what this
  // counts would depend on whether one fell inside the loop below (it did
  // on a slow CI machine: 102 KB against 58 KB here).
  auto store = *OpenLmdbStorage({.path = dir.Sub("db"), .redo_log = false});
  // One large commit: LMDB writes its new pages in long runs, which the
  // kernel would cache in large folios (lmdb_storage.cpp ShapeTail).
  REQUIRE(store
              ->Update([](WriteTxn& txn) -> Status {
                for (int i = 0; i < 5000; ++i) {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(
                      Cert(RandomBytes(16), "host" + std::to_string(i % 100), 1000 + i, 700)));
                }
                return Status::Ok();
              })
              .ok());
  // Commits of one certificate then rewrite a few of those pages each.
  constexpr uint64_t kCommits = 100;
  const uint64_t before = DirtiedBytes();
  for (uint64_t i = 0; i < kCommits; ++i) {
    const CertRecord rec = Cert(RandomBytes(16), "host7", 9000, 700);
    REQUIRE(store->Update([&rec](WriteTxn& txn) { return txn.InsertCert(rec); }).ok());
  }
  const uint64_t per_commit = (DirtiedBytes() - before) / kCommits;
  INFO("page cache dirtied per commit: " << per_commit << " bytes");
  REQUIRE(per_commit < 96 * 1024);  // about a dozen 4 KB pages
}

TEST_CASE("Stats counts the pages on LMDB's freelist") {
  TempDir dir;
  auto store = OpenLmdbStorage(LmdbOptions{.path = dir.Sub("db")});
  REQUIRE(store.ok());
  std::vector<CertRecord> certs;
  for (int i = 0; i < 2000; ++i) {
    certs.push_back(Cert(RandomBytes(16), "host" + std::to_string(i % 50), 9000, 700));
  }
  REQUIRE((*store)
              ->Update([&certs](WriteTxn& txn) -> Status {
                for (const CertRecord& c : certs) {
                  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(c));
                }
                return Status::Ok();
              })
              .ok());
  const StorageStats filled = (*store)->Stats();
  INFO("used " << filled.used_bytes << " free " << filled.free_bytes);
  REQUIRE(filled.free_bytes < filled.used_bytes);
  // Deleting them all in one transaction frees most of the pages they
  // took (2000 DERs of 700 bytes: over 1.4 MB), which stay in the file.
  REQUIRE((*store)
              ->Update([&certs](WriteTxn& txn) -> Status {
                for (const CertRecord& c : certs) {
                  HOSTCA_RETURN_IF_ERROR(txn.DeleteCert(c.serial));
                }
                return Status::Ok();
              })
              .ok());
  const StorageStats emptied = (*store)->Stats();
  INFO("used " << emptied.used_bytes << " free " << emptied.free_bytes);
  REQUIRE(emptied.used_bytes >= filled.used_bytes);
  REQUIRE(emptied.free_bytes >= filled.free_bytes + (1u << 20));
  REQUIRE(emptied.free_bytes < emptied.used_bytes);
  (*store)->Close();
}

TEST_CASE("16 threads store 10000 certificates through group commit, all durable") {
  TempDir dir;
  const LmdbOptions opts{.path = dir.Sub("db")};
  std::vector<std::string> serials;
  {
    auto store = OpenLmdbStorage(opts);
    REQUIRE(store.ok());
    serials = test::StoreConcurrently(**store, 16, 10000);
    const StorageStats stats = (*store)->Stats();
    INFO("commits " << stats.commits << " writes " << stats.writes << " max batch "
                    << stats.max_batch);
    REQUIRE(stats.writes == 10000);
    REQUIRE(stats.max_batch > 1);
    REQUIRE(stats.commits < stats.writes);
    REQUIRE(stats.failed_commits == 0);
    REQUIRE(stats.cert_count == 10000);
    REQUIRE(stats.used_bytes > 0);
    REQUIRE(stats.map_size_bytes >= stats.used_bytes);
    uint64_t in_histogram = 0;
    for (uint64_t n : stats.batch_histogram) {
      in_histogram += n;
    }
    REQUIRE(in_histogram == stats.commits);
    uint64_t timed = 0;
    for (uint64_t n : stats.commit_seconds_histogram) {
      timed += n;
    }
    REQUIRE(timed == stats.commits);
    // Each commit fsyncs and each batch stored certificates: neither is free.
    REQUIRE(stats.commit_seconds > 0);
    REQUIRE(stats.apply_seconds > 0);
    (*store)->Close();
    // Close released the files: the directory opens again while the closed
    // object still exists.
    auto again = OpenLmdbStorage(opts);
    REQUIRE(again.ok());
  }
  auto reopened = OpenLmdbStorage(opts);
  REQUIRE(reopened.ok());
  REQUIRE((*reopened)
              ->View([&](ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountCerts() == 10000);
                std::set<std::string> seen;
                const auto all = *txn.CertsExpiringBetween(0, INT64_MAX, 20000);
                for (const auto& c : all) {
                  seen.insert(c.serial);
                }
                REQUIRE(all.size() == 10000);
                REQUIRE(seen.size() == 10000);  // no serial twice
                for (const auto& s : serials) {
                  REQUIRE(txn.GetCert(s).ok());
                }
                return Status::Ok();
              })
              .ok());
}

// The VmFlags of each mapping of `file` in this process (/proc/self/smaps).
std::vector<std::string> VmFlagsOf(const std::string& file) {
  const std::string canonical = std::filesystem::weakly_canonical(file).string();
  std::ifstream smaps("/proc/self/smaps");
  std::vector<std::string> out;
  std::string line;
  bool in_file = false;
  while (std::getline(smaps, line)) {
    if (line.rfind("VmFlags:", 0) == 0) {
      if (in_file) {
        out.push_back(line.substr(8) + " ");
      }
      in_file = false;
    } else if (const auto slash = line.find('/');
               slash != std::string::npos && line.find(' ') < slash && !line.empty() &&
               std::isxdigit(static_cast<unsigned char>(line[0]))) {
      in_file = line.compare(slash, std::string::npos, canonical) == 0;
    }
  }
  return out;
}

// Whether this kernel lets a map be armed for one page per read fault.
bool KernelArmsSinglePageFaults() {
  void* p = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  const auto begin = reinterpret_cast<uintptr_t>(p);
  bool armed = false;
  {
    internal::SinglePageFaults probe;
    armed = probe.Arm({{begin, begin + 4096}});
  }
  ::munmap(p, 4096);
  return armed;
}

TEST_CASE("the map grows on its own") {
  TempDir dir;
  const LmdbOptions opts{.path = dir.Sub("db"),
                         .initial_map_size = 1 << 20,
                         .durable = false,
                         .single_page_faults_from = 8 << 20};
  const bool supported = KernelArmsSinglePageFaults();
  {
    auto store = *OpenLmdbStorage(opts);
    for (int i = 0; i < 80; ++i) {  // 80 batches x 5 x 50 KiB = 20 MiB
      if (i == 20) {                // 5 MiB: under single_page_faults_from
        REQUIRE(store->Stats().map_resizes >= 2);
        REQUIRE_FALSE(store->Stats().single_page_faults);
        REQUIRE(VmFlagsOf(opts.path + "/data.mdb").at(0).find(" uw ") == std::string::npos);
      }
      REQUIRE(store
                  ->Update([i](WriteTxn& txn) -> Status {
                    for (int j = 0; j < 5; ++j) {
                      HOSTCA_RETURN_IF_ERROR(
                          txn.InsertCert(Cert("g" + std::to_string(i * 5 + j), "h", i, 50 * 1024)));
                    }
                    return Status::Ok();
                  })
                  .ok());
    }
    const StorageStats stats = store->Stats();
    REQUIRE(stats.map_resizes >= 4);
    REQUIRE(stats.map_size_bytes >= (20u << 20));
    // Armed once the store held 8 MiB, again each time the map moved
    // (single_page_faults.h).
    REQUIRE(stats.single_page_faults == supported);
    const std::vector<std::string> flags = VmFlagsOf(opts.path + "/data.mdb");
    REQUIRE(flags.size() == 1);
    INFO("VmFlags:" << flags[0]);
    REQUIRE((flags[0].find(" uw ") != std::string::npos) == supported);
    if (!supported) {
      WARN("this kernel keeps fault-around on the store's map (no WP_ASYNC userfaultfd)");
    }
  }
  auto store = *OpenLmdbStorage(opts);
  REQUIRE(store->Stats().single_page_faults == supported);  // armed at open: 20 MiB stored
  REQUIRE(store
              ->View([](ReadTxn& txn) -> Status {
                REQUIRE(*txn.CountCerts() == 400);
                for (int i = 0; i < 400; ++i) {
                  REQUIRE(txn.GetCert("g" + std::to_string(i))->der.size() == 50 * 1024);
                }
                return Status::Ok();
              })
              .ok());
}

TEST_CASE("a store that grows past single_page_faults_from within its map is armed at a release") {
  TempDir dir;
  const LmdbOptions opts{.path = dir.Sub("db"),
                         .initial_map_size = 64 << 20,  // never grows here
                         .durable = false,
                         .single_page_faults_from = 4 << 20};
  const bool supported = KernelArmsSinglePageFaults();
  auto store = *OpenLmdbStorage(opts);
  const auto fill = [&](int from, int to) {  // 5 x 50 KiB a batch
    for (int i = from; i < to; i += 5) {
      REQUIRE(store
                  ->Update([i](WriteTxn& txn) -> Status {
                    for (int j = i; j < i + 5; ++j) {
                      HOSTCA_RETURN_IF_ERROR(
                          txn.InsertCert(Cert("r" + std::to_string(j), "h", j, 50 * 1024)));
                    }
                    return Status::Ok();
                  })
                  .ok());
    }
  };
  fill(0, 40);  // 2 MiB: under the threshold
  store->ReleaseMappedPages();
  REQUIRE_FALSE(store->Stats().single_page_faults);
  fill(40, 120);  // 6 MiB
  REQUIRE(store->Stats().map_resizes == 0);
  REQUIRE_FALSE(store->Stats().single_page_faults);  // only Open, Grow and a release look
  store->ReleaseMappedPages();
  REQUIRE(store->Stats().single_page_faults == supported);
  const std::vector<std::string> flags = VmFlagsOf(opts.path + "/data.mdb");
  REQUIRE(flags.size() == 1);
  INFO("VmFlags:" << flags[0]);
  REQUIRE((flags[0].find(" uw ") != std::string::npos) == supported);
  store->ReleaseMappedPages();  // armed once: a second release changes nothing
  REQUIRE(store->Stats().single_page_faults == supported);
  REQUIRE(store
              ->View([](ReadTxn& txn) -> Status {
                for (int i = 0; i < 120; ++i) {
                  REQUIRE(txn.GetCert("r" + std::to_string(i))->der.size() == 50 * 1024);
                }
                return Status::Ok();
              })
              .ok());
}

TEST_CASE("a full store refuses writes and loses nothing acknowledged") {
  TempDir dir;
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
    REQUIRE(st.reason() == "storage_full");
    REQUIRE(acknowledged.size() > 10);
    REQUIRE(store->Stats().failed_commits == 1);
    // Still full, still refusing; reads keep working.
    REQUIRE(
        store->Update([](WriteTxn& txn) { return txn.InsertCert(Cert("late", "h", 1, 20 * 1024)); })
            .code() == Code::kResourceExhausted);
    REQUIRE(store
                ->View([&](ReadTxn& txn) -> Status {
                  REQUIRE(*txn.CountCerts() == acknowledged.size());
                  return Status::Ok();
                })
                .ok());
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

TEST_CASE("a garbage data.mdb is refused with a clear error") {
  TempDir dir;
  const size_t size = GENERATE(100, 4096, 100000);
  std::filesystem::create_directories(dir.Sub("db"));
  std::ofstream(dir.Sub("db") + "/data.mdb") << std::string(size, 'g');
  auto garbage = OpenLmdbStorage({.path = dir.Sub("db")});
  REQUIRE_FALSE(garbage.ok());
  INFO(garbage.status().ToString());
  REQUIRE(garbage.status().code() == Code::kInvalidArgument);
  REQUIRE(garbage.status().reason() == "foreign_store");
  REQUIRE_THAT(garbage.status().message(), Catch::Contains("does not hold a hostca store"));
}

TEST_CASE("another program's LMDB store is refused and left alone") {
  TempDir dir;
  std::filesystem::create_directories(dir.Sub("db"));
  RawPut(dir.Sub("db"), {{"users", "alice", "1"}});
  auto foreign = OpenLmdbStorage({.path = dir.Sub("db")});
  REQUIRE_FALSE(foreign.ok());
  REQUIRE(foreign.status().reason() == "foreign_store");
  REQUIRE_THAT(foreign.status().message(), Catch::Contains("another program"));

  std::filesystem::create_directories(dir.Sub("db2"));
  RawPut(dir.Sub("db2"), {{"meta", "storage_format", "hostca-lmdb-99"}});
  auto newer = OpenLmdbStorage({.path = dir.Sub("db2")});
  REQUIRE_FALSE(newer.ok());
  REQUIRE_THAT(newer.status().message(), Catch::Contains("hostca-lmdb-99"));
}

TEST_CASE("corrupt records and dangling index entries are errors, not crashes") {
  TempDir dir;
  const LmdbOptions opts{.path = dir.Sub("db")};
  {
    auto store = *OpenLmdbStorage(opts);
    REQUIRE(store->Update([](WriteTxn& txn) { return txn.InsertCert(Cert("good", "h", 5)); }).ok());
  }
  RawPut(opts.path, {{"certs", "bad", "\x01garbage"},
                     {"certs", "worse", std::string("\x01\xff\xff\xff\xff", 5)},
                     {"certs_by_status", std::string("\x01ghost", 6), ""},
                     {"hosts", "h1", ""}});
  auto store = *OpenLmdbStorage(opts);
  REQUIRE(store
              ->View([](ReadTxn& txn) -> Status {
                REQUIRE(txn.GetCert("good").ok());
                const Status bad = txn.GetCert("bad").status();
                REQUIRE(bad.code() == Code::kInternal);
                REQUIRE_THAT(bad.message(), Catch::Contains("corrupt"));
                REQUIRE(txn.GetCert("worse").status().code() == Code::kInternal);
                REQUIRE(txn.ListHosts().status().code() == Code::kInternal);
                const Status scan = txn.ForEachCertWithStatus(
                    CertStatus::kValid, CertRead::kWithDer, [](const CertRecord&) { return true; });
                REQUIRE(scan.code() == Code::kInternal);  // "bad" does not decode
                // A revoked entry whose certificate is not stored.
                REQUIRE(txn.ForEachCertWithStatus(CertStatus::kRevoked, CertRead::kWithDer,
                                                  [](const CertRecord&) { return true; })
                            .code() == Code::kInternal);
                return Status::Ok();
              })
              .ok());
}

}  // namespace
}  // namespace hostca::storage
