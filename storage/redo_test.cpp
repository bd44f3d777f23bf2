// The redo log (storage/internal/redo.h): what a power loss may leave of
// data.mdb is any subset of the pages written since the last checkpoint;
// the store must open from every such subset with every logged write in
// it. And a process that ends without closing (crash, kill) leaves a store
// the next open recovers, through any number of checkpoints.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "common/file.h"
#include "storage/internal/redo.h"
#include "storage/internal/test_util.h"
#include "storage/storage.h"

namespace hostca::storage {
namespace {

using test::Cert;

// What the store must hold: serial -> revoked?, and the deleted serials.
struct Model {
  std::map<std::string, bool> certs;
  std::vector<std::string> deleted;
};

std::string Serial(std::mt19937_64& rng) {
  std::string s(16, '\0');
  for (auto& c : s) {
    c = static_cast<char>(rng() & 0xff);
  }
  return s;
}

// `n` acknowledged writes of each kind the store has: inserts, status
// changes and deletes of earlier certificates (the pages they free are
// what LMDB would reuse), and a meta value.
void Churn(Storage& store, std::mt19937_64& rng, int n, Model* model) {
  for (int i = 0; i < n; ++i) {
    const int kind = static_cast<int>(rng() % 4);
    std::vector<std::string> existing;
    if (kind >= 2 && !model->certs.empty()) {
      auto it = model->certs.begin();
      std::advance(it, static_cast<long>(rng() % model->certs.size()));
      existing.push_back(it->first);
    }
    if (existing.empty()) {
      const std::string serial = Serial(rng);
      const CertRecord rec = Cert(serial, "host" + std::to_string(rng() % 50), 5000 + i, 700);
      REQUIRE(store.Update([&](WriteTxn& txn) { return txn.InsertCert(rec); }).ok());
      model->certs[serial] = false;
    } else if (kind == 2) {
      const std::string serial = existing[0];
      REQUIRE(store
                  .Update([&](WriteTxn& txn) -> Status {
                    HOSTCA_ASSIGN_OR_RETURN(CertRecord rec, txn.GetCert(serial));
                    rec.status = CertStatus::kRevoked;
                    rec.revoked_at = 2000;
                    return txn.UpdateCert(rec);
                  })
                  .ok());
      model->certs[serial] = true;
    } else {
      const std::string serial = existing[0];
      REQUIRE(store.Update([&](WriteTxn& txn) { return txn.DeleteCert(serial); }).ok());
      model->certs.erase(serial);
      model->deleted.push_back(serial);
    }
    REQUIRE(
        store.Update([&](WriteTxn& txn) { return txn.PutMeta("churn", std::to_string(i)); }).ok());
  }
}

void RequireHolds(Storage& store, const Model& model) {
  REQUIRE(store
              .View([&](ReadTxn& txn) -> Status {
                HOSTCA_ASSIGN_OR_RETURN(const uint64_t count, txn.CountCerts());
                REQUIRE(count == model.certs.size());
                for (const auto& [serial, revoked] : model.certs) {
                  auto rec = txn.GetCert(serial);
                  REQUIRE(rec.ok());
                  REQUIRE((rec->status == CertStatus::kRevoked) == revoked);
                }
                for (const auto& serial : model.deleted) {
                  REQUIRE(txn.GetCert(serial).status().code() == Code::kNotFound);
                }
                return Status::Ok();
              })
              .ok());
}

LmdbOptions Logged(const std::string& path) {
  LmdbOptions o;
  o.path = path;
  o.redo_log = true;
  return o;
}

void Copy(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

// What a crash left: the acknowledged writes, data.mdb as the last
// checkpoint made it durable, data.mdb as the page cache held it, and the
// log and checkpoint files (dir/saved-*) as they were.
struct CrashSite {
  Model model;
  std::string durable, written;
};

CrashSite WriteThenCrash(hostca::testing::TempDir& dir) {
  const std::string db = dir.Sub("db");
  LmdbOptions options = Logged(db);
  options.checkpoint_bytes = 1ull << 40;  // no checkpoint but the one at open
  options.checkpoint_ms = 1u << 30;
  std::mt19937_64 rng(7);
  CrashSite site;
  {
    auto store = OpenLmdbStorage(options);
    REQUIRE(store.ok());
    Churn(**store, rng, 150, &site.model);
    (*store)->Close();
  }
  auto store = OpenLmdbStorage(options);
  REQUIRE(store.ok());
  // The open checkpointed: data.mdb on disk is this file now.
  site.durable = *ReadFile(db + "/data.mdb");
  Churn(**store, rng, 150, &site.model);
  // Everything written since, as the page cache holds it, and the log and
  // checkpoint files as they were before a clean close would mark them.
  site.written = *ReadFile(db + "/data.mdb");
  for (const char* f : {"redo.ckpt", "redo-0.log", "redo-1.log"}) {
    Copy(db + "/" + f, dir.Sub(std::string("saved-") + f));
  }
  (*store)->Close();
  return site;
}

constexpr size_t kPage = 4096;

// `before` with the pages of `after` that `take(page index)` picks: what
// the disk holds when only those of the writes since `before` reached it.
template <typename Take>
std::string MixPages(const std::string& before, const std::string& after, Take take) {
  std::string image = before;
  image.resize(std::max(image.size(), after.size()), '\0');
  for (size_t at = 0; at < after.size(); at += kPage) {
    if (take(at / kPage)) {
      image.replace(at, kPage, after.substr(at, kPage));
    }
  }
  return image;
}

// A store directory `crashed`: the saved log and checkpoint files, and
// `image` as data.mdb.
void MakeCrashed(hostca::testing::TempDir& dir, const std::string& crashed,
                 const std::string& image) {
  std::filesystem::create_directories(crashed);
  for (const char* f : {"redo.ckpt", "redo-0.log", "redo-1.log"}) {
    Copy(dir.Sub(std::string("saved-") + f), crashed + "/" + f);
  }
  REQUIRE(WriteFileAtomic(crashed + "/data.mdb", image, 0600).ok());
}

// `hostca-server check`'s reading of the store finds nothing wrong, and the
// store needs no recovery afterwards.
void RequireChecksClean(const std::string& db) {
  auto check = CheckLmdbStore(db);
  REQUIRE(check.ok());
  REQUIRE(check->problems_found == 0);
  REQUIRE_FALSE(*internal::RedoRecoveryPending(db));
}

// Opens the store with or without the log and checks it holds `model`,
// reads clean, and needs no further recovery.
void RequireRecovers(const std::string& crashed, const Model& model, bool logged) {
  auto recovered =
      OpenLmdbStorage(logged ? Logged(crashed) : LmdbOptions{.path = crashed, .redo_log = false});
  REQUIRE(recovered.ok());
  RequireHolds(**recovered, model);
  (*recovered)->Close();
  RequireChecksClean(crashed);
}

TEST_CASE("redo log: a power loss keeps every logged write, whatever pages reached the disk") {
  hostca::testing::TempDir dir;
  const CrashSite site = WriteThenCrash(dir);
  size_t changed = 0;
  for (size_t at = 0; at < site.written.size(); at += kPage) {
    changed += site.written.compare(at, kPage, site.durable, std::min(at, site.durable.size()),
                                    kPage) != 0;
  }
  INFO("pages written after the checkpoint: " << changed);
  REQUIRE(changed > 300);

  for (int trial = 0; trial < 12; ++trial) {
    INFO("trial " << trial);
    const std::string crashed = dir.Sub("crashed" + std::to_string(trial));
    // Trial 0: none of the later pages reached the disk; 1: all of them;
    // then random halves, always with and without the meta pages.
    std::mt19937_64 pick(static_cast<uint64_t>(trial));
    MakeCrashed(dir, crashed, MixPages(site.durable, site.written, [&](size_t) {
                  return trial == 1 || (trial > 1 && pick() % 2 == 0);
                }));
    auto pending = internal::RedoRecoveryPending(crashed);
    REQUIRE(pending.ok());
    REQUIRE(*pending);
    RequireRecovers(crashed, site.model, trial % 2 == 0);
  }
}

uint64_t g_replay_stop = 0;

// A child process opens the crashed store and dies after replaying
// `stop` transactions, in the middle of the recovery.
void RecoverAndVanish(const std::string& crashed, uint64_t stop) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    g_replay_stop = stop;
    internal::SetReplayHookForTest([](uint64_t replayed) {
      if (replayed == g_replay_stop) {
        ::_exit(0);
      }
    });
    auto store = OpenLmdbStorage(Logged(crashed));
    ::_exit(store.ok() ? 3 : 2);  // the replay ended before `stop`, or failed
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

// The recovery's own commits are MDB_NOSYNC: a second crash may leave any
// subset of them on disk, and the next recovery starts from the same
// checkpoint, whose pages none of them overwrote.
TEST_CASE("redo log: a crash in the middle of a recovery leaves a store the next open recovers") {
  hostca::testing::TempDir dir;
  const CrashSite site = WriteThenCrash(dir);
  for (int trial = 0; trial < 6; ++trial) {
    INFO("trial " << trial);
    const std::string crashed = dir.Sub("crashed" + std::to_string(trial));
    std::mt19937_64 pick(100 + static_cast<uint64_t>(trial));
    MakeCrashed(dir, crashed, MixPages(site.durable, site.written, [&](size_t) {
                  return trial > 0 && pick() % 2 == 0;
                }));
    // About 300 logged transactions to replay; one crash in odd trials,
    // two in even ones; from the second trial on, a power loss with each.
    for (int crash = 0; crash < 1 + (trial + 1) % 2; ++crash) {
      const std::string before = *ReadFile(crashed + "/data.mdb");
      const uint64_t stop = 1 + pick() % 250;
      INFO("crash " << crash << " after " << stop << " replayed transactions");
      RecoverAndVanish(crashed, stop);
      REQUIRE(*internal::RedoRecoveryPending(crashed));
      if (trial >= 2) {
        const std::string after = *ReadFile(crashed + "/data.mdb");
        REQUIRE(WriteFileAtomic(crashed + "/data.mdb",
                                MixPages(before, after, [&](size_t) { return pick() % 2 == 0; }),
                                0600)
                    .ok());
      }
    }
    RequireRecovers(crashed, site.model, trial % 3 != 2);
  }
}

// A child process writes through the log with a checkpoint after every
// batch, in a map that starts at 1 MiB and grows several times (9 MB of
// certificates; with pins
// open), and ends without closing the store; the parent opens what it left.
void WriteAndVanish(const std::string& db, int threads, int count, bool close) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    LmdbOptions o = Logged(db);
    o.checkpoint_bytes = 1;
    o.initial_map_size = 1ull << 20;
    auto store = OpenLmdbStorage(o);
    if (!store.ok()) {
      ::_exit(2);
    }
    std::atomic<int> errors{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = t; i < count; i += threads) {
          const CertRecord rec = Cert("serial-" + std::to_string(i), "h", 1000 + i, 3000);
          if (!(*store)->Update([&](WriteTxn& txn) { return txn.InsertCert(rec); }).ok()) {
            ++errors;
          }
        }
      });
    }
    for (auto& w : workers) {
      w.join();
    }
    const StorageStats stats = (*store)->Stats();
    if (close) {
      (*store)->Close();
    }
    // no destructors: the store stays open
    ::_exit(errors != 0 ? 1 : stats.map_resizes < 2 ? 3 : stats.checkpoints < 10 ? 4 : 0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

void RequireSerials(Storage& store, int count) {
  REQUIRE(store
              .View([&](ReadTxn& txn) -> Status {
                HOSTCA_ASSIGN_OR_RETURN(const uint64_t n, txn.CountCerts());
                REQUIRE(n == static_cast<uint64_t>(count));
                for (int i = 0; i < count; ++i) {
                  REQUIRE(txn.GetCert("serial-" + std::to_string(i)).ok());
                }
                return Status::Ok();
              })
              .ok());
}

TEST_CASE("redo log: a process that ends without closing leaves a store the next open recovers") {
  hostca::testing::TempDir dir;
  const std::string db = dir.Sub("db");
  WriteAndVanish(db, 8, 3000, false);
  REQUIRE(*internal::RedoRecoveryPending(db));
  SECTION("opened with the log") {
    auto store = OpenLmdbStorage(Logged(db));
    REQUIRE(store.ok());
    RequireSerials(**store, 3000);
    // The last checkpoints trail the last commits.
    REQUIRE((*store)->Stats().replayed > 0);
    // Commits through the log are counted and timed; replays are not appends.
    REQUIRE((*store)->Stats().log_appends == 0);
    REQUIRE((*store)->Update([](WriteTxn& txn) { return txn.PutMeta("k", "v"); }).ok());
    REQUIRE((*store)->Stats().log_appends == 1);
    REQUIRE((*store)->Stats().log_seconds > 0);
    auto format = std::string();
    REQUIRE((*store)
                ->View([&](ReadTxn& txn) -> Status {
                  HOSTCA_ASSIGN_OR_RETURN(format, txn.GetMeta("storage_format"));
                  return Status::Ok();
                })
                .ok());
    REQUIRE(format == "hostca-lmdb-5");
  }
  SECTION("opened without it") {
    auto store = OpenLmdbStorage({.path = db, .redo_log = false});
    REQUIRE(store.ok());
    RequireSerials(**store, 3000);
    REQUIRE((*store)->Update([](WriteTxn& txn) { return txn.PutMeta("k", "v"); }).ok());
    REQUIRE((*store)->Stats().log_appends == 0);
  }
  SECTION("read by a check, which recovers it first") { RequireChecksClean(db); }
}

TEST_CASE("redo log: a clean close needs no recovery, and the store reopens either way") {
  hostca::testing::TempDir dir;
  const std::string db = dir.Sub("db");
  WriteAndVanish(db, 4, 3000, true);
  REQUIRE_FALSE(*internal::RedoRecoveryPending(db));
  {
    auto store = OpenLmdbStorage({.path = db, .redo_log = false});
    REQUIRE(store.ok());
    RequireSerials(**store, 3000);
  }
  auto store = OpenLmdbStorage(Logged(db));
  REQUIRE(store.ok());
  RequireSerials(**store, 3000);
}

// The log reads and rewrites LMDB's meta pages by LMDB 0.9's offsets, so
// it refuses a page that is not laid out as 0.9's (another major version of
// the library, or a store one made) before reading or writing one.
TEST_CASE("redo log: meta pages of another LMDB layout are refused, not read by 0.9's offsets") {
  hostca::testing::TempDir dir;
  const std::string db = dir.Sub("db");
  {
    auto store = OpenLmdbStorage(Logged(db));
    REQUIRE(store.ok());
    REQUIRE((*store)->Update([](WriteTxn& txn) { return txn.PutMeta("k", "v"); }).ok());
  }
  auto file = ReadFile(db + "/data.mdb");
  REQUIRE(file.ok());
  REQUIRE(file->size() >= 4096 + internal::kMetaBytes);
  for (const size_t at : {size_t{0}, size_t{4096}}) {  // both meta slots
    const std::string meta = file->substr(at, internal::kMetaBytes);
    REQUIRE(internal::CheckMetaLayout(meta, "slot").ok());
    const auto refused = [&](size_t byte, char value) {
      std::string bad = meta;
      bad[byte] = value;
      const Status st = internal::CheckMetaLayout(bad, "slot");
      return !st.ok() && st.reason() == "lmdb_layout";
    };
    CHECK(refused(10, 0x01));  // a branch page's flags, not P_META
    CHECK(refused(16, 0x00));  // magic
    CHECK(refused(19, 0x00));
    CHECK(refused(20, 0x02));  // data version 2
    CHECK(internal::CheckMetaLayout(meta.substr(0, 100), "slot").reason() == "lmdb_layout");
  }
}

// Each checkpoint pins its snapshot until the next one is durable, and
// then lets it go: if a pin stayed, LMDB could reuse no page freed after it
// and a store of steady size would grow with every write.
TEST_CASE("redo log: checkpoints release their pins, so a store of steady size stops growing") {
  hostca::testing::TempDir dir;
  LmdbOptions o = Logged(dir.Sub("db"));
  o.checkpoint_bytes = 1;  // a checkpoint after every batch that finds none running
  auto store = OpenLmdbStorage(o);
  REQUIRE(store.ok());
  // Rounds of 300 inserts and the deletion of the round before: about 300
  // certificates stored at any time, 600 commits per round.
  std::vector<uint64_t> used;
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 300; ++i) {
      const CertRecord rec =
          Cert("r" + std::to_string(round) + "-" + std::to_string(i), "h", 1000 + i, 3000);
      REQUIRE((*store)->Update([&](WriteTxn& txn) { return txn.InsertCert(rec); }).ok());
      if (round > 0) {
        const std::string old = "r" + std::to_string(round - 1) + "-" + std::to_string(i);
        REQUIRE((*store)->Update([&](WriteTxn& txn) { return txn.DeleteCert(old); }).ok());
      }
    }
    used.push_back((*store)->Stats().used_bytes);
  }
  const StorageStats stats = (*store)->Stats();
  INFO("used bytes after rounds 2 and 8: " << used[1] << ", " << used[7] << "; checkpoints "
                                           << stats.checkpoints);
  REQUIRE(stats.checkpoints >= 20);
  // Within three times: a checkpoint pins what it copies for as long as it
  // runs, which on a loaded machine (ctest -j2 beside a bulk load) let the
  // store reach up to 1.86 times its size after round 2; about one run in
  // fifteen failed the earlier bound of 1.5. A pin left behind grows it
  // with every round: 42 -> 223 MB (5.3 times) with the release removed.
  REQUIRE(used[7] <= 3 * used[1]);
  (*store)->Close();
}

// Polls the store's stats until `done` holds them, for at most 30 s.
bool StatsReach(Storage& store, const std::function<bool(const StorageStats&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done(store.Stats())) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST_CASE("redo log: commits' pages start to reach the disk between checkpoints, idle nothing") {
  hostca::testing::TempDir dir;
  LmdbOptions o = Logged(dir.Sub("db"));
  o.checkpoint_bytes = 1ull << 40;  // no checkpoint but the one at open
  o.checkpoint_ms = 1u << 30;
  o.writeback_ms = 5;
  auto store = OpenLmdbStorage(o);
  REQUIRE(store.ok());
  {
    // A file system that refuses sync_file_range turns the writeback off
    // (Redo::StartWriteback): nothing to see here then.
    const int fd = ::open((dir.Sub("db") + "/data.mdb").c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const bool supported = ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0;
    ::close(fd);
    if (!supported) {
      WARN("sync_file_range is refused here: writeback not tested");
      (*store)->Close();
      return;
    }
  }
  REQUIRE((*store)->Stats().writebacks == 0);  // nothing committed yet
  REQUIRE(
      (*store)->Update([&](WriteTxn& txn) { return txn.InsertCert(Cert("a", "h", 1, 9)); }).ok());
  REQUIRE(StatsReach(**store, [](const StorageStats& s) { return s.writebacks >= 1; }));
  // No commit since: the thread waits for one instead of writing back
  // every 5 ms (a loop would have started about 20 here).
  const uint64_t after_one = (*store)->Stats().writebacks;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE((*store)->Stats().writebacks == after_one);
  // The next commit wakes it.
  REQUIRE(
      (*store)->Update([&](WriteTxn& txn) { return txn.InsertCert(Cert("b", "h", 2, 9)); }).ok());
  REQUIRE(StatsReach(**store, [&](const StorageStats& s) { return s.writebacks > after_one; }));
  REQUIRE((*store)->Stats().checkpoints == 0);  // writebacks are no checkpoints
  (*store)->Close();
  // Off: only checkpoints write.
  o.writeback_ms = 0;
  auto off = OpenLmdbStorage(o);
  REQUIRE(off.ok());
  REQUIRE((*off)->Update([&](WriteTxn& txn) { return txn.InsertCert(Cert("c", "h", 3, 9)); }).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE((*off)->Stats().writebacks == 0);
  (*off)->Close();
  auto reopened = OpenLmdbStorage(o);
  REQUIRE(reopened.ok());
  REQUIRE((*reopened)
              ->View([](ReadTxn& txn) -> Status {
                HOSTCA_ASSIGN_OR_RETURN(const uint64_t count, txn.CountCerts());
                return count == 3 ? Status::Ok() : Internal("lost a record");
              })
              .ok());
  (*reopened)->Close();
}

TEST_CASE("a store has one writing process at a time, with or without the log") {
  hostca::testing::TempDir dir;
  const std::string db = dir.Sub("db");
  {
    auto first = OpenLmdbStorage(Logged(db));
    REQUIRE(first.ok());
    for (const LmdbOptions& other : {LmdbOptions{.path = db, .redo_log = false}, Logged(db)}) {
      auto second = OpenLmdbStorage(other);
      REQUIRE_FALSE(second.ok());
      REQUIRE(second.status().reason() == "store_in_use");
    }
    // A reader of a store whose owner is alive reads it as it is.
    auto check = CheckLmdbStore(db);
    REQUIRE(check.ok());
    (*first)->Close();
  }
  // A writer without the log excludes every other writer too (the map's
  // growth assumes one writing process), but not readers.
  auto a = OpenLmdbStorage({.path = db, .redo_log = false});
  REQUIRE(a.ok());
  for (const LmdbOptions& other : {LmdbOptions{.path = db, .redo_log = false}, Logged(db)}) {
    auto second = OpenLmdbStorage(other);
    REQUIRE_FALSE(second.ok());
    REQUIRE(second.status().reason() == "store_in_use");
  }
  REQUIRE(CheckLmdbStore(db).ok());
  (*a)->Close();
  REQUIRE(OpenLmdbStorage(Logged(db)).ok());  // the lock goes with the close
}

}  // namespace
}  // namespace hostca::storage
