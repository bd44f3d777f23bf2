// The LMDB backend of the store. One environment with a named database per
// table; MDB_NOTLS so read transactions may run on any thread (the HTTP
// thread pool); nested write transactions give each group-committed write
// its own rollback. The map grows by doubling when a batch hits
// MDB_MAP_FULL, with every read transaction kept out by the ResizeGate.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>

#include "common/file.h"
#include "storage/internal/codec.h"
#include "storage/internal/group_commit.h"
#include "storage/internal/kv.h"
#include "storage/internal/kv_ops.h"
#include "storage/internal/lmdb_kv.h"
#include "storage/internal/record_txn.h"
#include "storage/internal/redo.h"
#include "storage/internal/resize_gate.h"
#include "storage/internal/single_page_faults.h"
#include "storage/storage.h"

namespace hostca::storage {
namespace internal {
namespace {

// The format marker written into meta when a store is created and checked
// on every open. A later, incompatible layout gets a new value.
//   hostca-lmdb-1: certificate records hold their DER.
//   hostca-lmdb-2: new certificate records keep their DER in cert_bodies
//                  (an older hostca would call them corrupt).
//   hostca-lmdb-3: a certificate's host entry (host_id NUL serial) is in
//                  hosts, beside the host's record, and meta keeps the host
//                  count (an older hostca would list the entries as hosts).
//   hostca-lmdb-4: a revoked certificate's status-index entry holds its
//                  revocation (EncodeRevocation), which the CRL's walk
//                  reads instead of the record.
//   hostca-lmdb-5: as -4, but the store is written through a redo log
//                  (redo.h): after a crash only a hostca that replays it
//                  may read data.mdb.
// An older store is marked -4 by its first write transaction, which also
// fills the revocations of its revoked entries: its records and other
// entries stay readable where they are. A store opened with the redo log
// is marked -5 by its first write transaction, and keeps that mark.
constexpr char kFormatKey[] = "storage_format";
constexpr char kFormatValue[] = "hostca-lmdb-4";
constexpr char kFormatLogged[] = "hostca-lmdb-5";
constexpr std::array<std::string_view, 3> kFormatsUpgradable = {"hostca-lmdb-1", "hostca-lmdb-2",
                                                                "hostca-lmdb-3"};

class LmdbBatch final : public BatchTxn {
 public:
  // `committed` (may be null) is set once Commit succeeds. With `redo`, the
  // batch's writes are logged before LMDB commits them.
  LmdbBatch(MDB_env* env, TxnHandle txn, const Dbis& dbis, bool* committed, Redo* redo)
      : env_(env), txn_(std::move(txn)), dbis_(dbis), committed_(committed), redo_(redo) {}

  Status RunNested(const WriteFn& fn) override {
    HOSTCA_ASSIGN_OR_RETURN(TxnHandle child,
                            BeginTxn(env_, txn_.get(), 0, "cannot begin a nested transaction"));
    std::string child_ops;
    // On error the child aborts: only fn is undone, and so are its logged writes.
    HOSTCA_RETURN_IF_ERROR(Run(child.get(), RecordsFn(fn), &child_ops));
    HOSTCA_RETURN_IF_ERROR(child.Commit("cannot commit a nested transaction"));
    ops_ += child_ops;
    return Status::Ok();
  }

  Status RunDirect(const WriteFn& fn) override { return Run(txn_.get(), RecordsFn(fn), &ops_); }
  // Writes of the store itself (format marks) in the outer transaction.
  Status RunKv(const std::function<Status(KvWrite&)>& fn) { return Run(txn_.get(), fn, &ops_); }

  // With durable and no redo log, LMDB writes and fsyncs before
  // mdb_txn_commit returns. With the redo log the writes are durable in
  // the log first, and LMDB commits with MDB_NOSYNC.
  Status Commit() override {
    const uint64_t txnid = mdb_txn_id(txn_.get());
    const bool logged = redo_ != nullptr && !ops_.empty();
    if (logged) {
      if (Status st = redo_->Log(txnid, ops_); !st.ok()) {
        txn_.Abort();
        return st;
      }
    }
    Status st = txn_.Commit("cannot commit the store");
    if (logged) {
      MDB_envinfo info;
      mdb_env_info(env_, &info);
      // A transaction whose writes changed nothing (deletes of absent keys)
      // commits without taking its id: its record must go too.
      if (!st.ok() || info.me_last_txnid != txnid) {
        if (Status dropped = redo_->DropLast(); !dropped.ok() && st.ok()) {
          st = dropped;
        }
      }
    }
    HOSTCA_RETURN_IF_ERROR(st);
    if (committed_ != nullptr) {
      *committed_ = true;
    }
    return Status::Ok();
  }
  void Abort() override { txn_.Abort(); }

 private:
  static std::function<Status(KvWrite&)> RecordsFn(const WriteFn& fn) {
    return [&fn](KvWrite& kv) {
      RecordTxn records(kv);
      return fn(records);
    };
  }
  Status Run(MDB_txn* txn, const std::function<Status(KvWrite&)>& fn, std::string* ops) {
    LmdbKv kv(txn, dbis_);
    Status st;
    if (redo_ != nullptr) {
      RecordingKv recording(kv, ops);
      st = fn(recording);
    } else {
      st = fn(kv);
    }
    if (kv.map_full()) {
      return ResourceExhausted("the store's map is full", kMapFullReason);
    }
    if (st.ok() && !kv.write_error().ok()) {
      return kv.write_error();  // fn ignored a failed write
    }
    return st;
  }

  MDB_env* env_;
  TxnHandle txn_;
  const Dbis& dbis_;
  bool* committed_;
  Redo* redo_;
  std::string ops_;  // the writes kept so far, encoded for the log (kv_ops.h)
};

// The address ranges at which this process maps `file` (/proc/self/maps).
std::vector<std::pair<uintptr_t, uintptr_t>> FindMappings(const std::string& file) {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  std::error_code ec;
  const std::string canonical = std::filesystem::weakly_canonical(file, ec).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos || line.compare(slash, std::string::npos, canonical) != 0) {
      continue;
    }
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &begin, &end) == 2 && end > begin) {
      out.emplace_back(begin, end);
    }
  }
  return out;
}

class LmdbBackend final : public Backend {
 public:
  explicit LmdbBackend(LmdbOptions options) : options_(std::move(options)) {}
  ~LmdbBackend() override { Close(); }

  Status Open();

  Result<std::unique_ptr<BatchTxn>> Begin() override {
    ShapeTail();  // before the first write: a store only read is left as it is
    Redo* redo = logging_ ? redo_.get() : nullptr;
    if (redo != nullptr) {
      redo->MaybeCheckpoint(env_);  // between transactions
      HOSTCA_RETURN_IF_ERROR(redo->failed());
    }
    HOSTCA_ASSIGN_OR_RETURN(TxnHandle txn,
                            BeginTxn(env_, nullptr, 0, "cannot begin a write transaction"));
    if (format_upgraded_) {
      return std::unique_ptr<BatchTxn>(new LmdbBatch(env_, std::move(txn), dbis_, nullptr, redo));
    }
    // An older store is marked with the current format by its first write
    // transaction, which may write the newer records; until then it stays
    // readable by an older hostca (a store refused after opening, such as
    // another CA's, is not marked).
    auto batch = std::make_unique<LmdbBatch>(env_, std::move(txn), dbis_, &format_upgraded_, redo);
    HOSTCA_RETURN_IF_ERROR(batch->RunKv([this](KvWrite& kv) -> Status {
      HOSTCA_RETURN_IF_ERROR(kv.Put(kMeta, kFormatKey, logging_ ? kFormatLogged : kFormatValue));
      if (fill_records_) {
        HOSTCA_RETURN_IF_ERROR(RecordTxn(kv).InitHostCount());
        HOSTCA_RETURN_IF_ERROR(RecordTxn(kv).FillRevocations());
      }
      return Status::Ok();
    }));
    return std::unique_ptr<BatchTxn>(std::move(batch));
  }

  Status View(const std::function<Status(ReadTxn&)>& fn) override {
    std::shared_lock<ResizeGate> lock(gate_);
    if (env_ == nullptr) {
      return Unavailable("the store is closed");
    }
    HOSTCA_ASSIGN_OR_RETURN(TxnHandle txn,
                            BeginTxn(env_, nullptr, MDB_RDONLY, "cannot begin a read transaction"));
    LmdbKv kv(txn.get(), dbis_);
    RecordTxn records(static_cast<KvRead&>(kv));
    return fn(records);
  }

  Status Grow() override;
  void FillStats(StorageStats* s) override;
  static uint64_t FreePages(MDB_txn* txn);

  // The map is read-only and shared (no MDB_WRITEMAP: writes go through
  // pwrite), so MADV_DONTNEED only drops page-table entries; readers in
  // flight fault the same page-cache pages back in. LMDB does not publish
  // the map's address (mdb_env_info's me_mapaddr is set only for
  // MDB_FIXEDMAP), so it is found in /proc/self/maps once per map size.
  // The cached ranges cannot go stale: the map moves only in Grow, which
  // holds the gate exclusively and counts in resizes_ (LMDB answers
  // MDB_MAP_RESIZED instead of remapping on its own), and this runs under
  // the gate shared. A stale range would be fatal: MADV_DONTNEED zeroes
  // anonymous memory.
  // Also arms single_page_faults_ once a store that grew within its map
  // (no Grow) holds options_.single_page_faults_from bytes: a server's
  // store grows into the threshold while it runs, and the releases that
  // the budget then makes more and more often are what arming saves.
  void ReleaseMappedPages() override {
    std::shared_lock<ResizeGate> lock(gate_);
    if (env_ == nullptr) {
      return;
    }
    std::lock_guard<std::mutex> map_lock(map_mu_);
    if (!single_page_faults_.armed()) {
      ArmSinglePageFaultsIfLargeLocked();
    }
    for (const auto& [begin, end] : MapRangesLocked()) {
      madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
  }

  Status Health() override {
    std::shared_lock<ResizeGate> lock(gate_);
    if (env_ == nullptr) {
      return Unavailable("the store is closed");
    }
    return redo_ != nullptr ? redo_->Health() : Status::Ok();
  }

  // Holds the gate shared for the whole copy: LMDB's copy reads the map
  // through its own read transaction, which a resize would pull out from
  // under it.
  Status CopyCompactTo(int fd) override {
    std::shared_lock<ResizeGate> lock(gate_);
    if (env_ == nullptr) {
      return Unavailable("the store is closed");
    }
    if (const int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT); rc != 0) {
      return LmdbError("cannot copy the store in " + options_.path, rc);
    }
    return Status::Ok();
  }

  // With the redo log a clean close checkpoints (the next open replays
  // nothing); if that fails, the next open recovers.
  void Close() override {
    std::unique_lock<ResizeGate> lock(gate_);
    if (redo_ != nullptr && env_ != nullptr) {
      (void)redo_->Finish();
    }
    if (env_ != nullptr) {
      mdb_env_close(env_);
      env_ = nullptr;
    }
    redo_.reset();  // releases the owner lock
    if (tail_fd_ >= 0) {
      ::close(tail_fd_);
      tail_fd_ = -1;
    }
  }

 private:
  // Keeps the page cache of data.mdb in 4 KB folios. Linux (ext4 since
  // 6.x) caches a file in large folios where it is written in long runs,
  // and LMDB writes each commit's new pages at the end of the file in
  // runs; those pages are later rewritten one at a time, and each 4 KB
  // write into a large folio, and its writeback at fdatasync, costs the
  // handling of the whole folio (up to 256 KB here): the loaded store's
  // server dirtied ten times the page cache per certificate of the empty
  // one, and spent up to 0.3 ms more CPU (bench/README.md). So the file is
  // extended ahead of LMDB (ftruncate: a hole, no disk blocks) and that
  // tail read 4 KB at a time through a descriptor advised
  // POSIX_FADV_RANDOM, which caches each page in a folio of its own; LMDB's
  // writes then land in those. LMDB (without MDB_WRITEMAP) ignores the
  // file's size beyond its last page. Runs on the writer thread before each
  // write transaction (a store that is only read, or refused after its
  // open, is not touched); an error only leaves the cache as the kernel
  // makes it.
  void ShapeTail();

  bool format_upgraded_ = true;  // false while the store awaits its format mark (Begin)
  bool fill_records_ = false;    // that mark upgrades records of a store before -4
  std::unique_ptr<Redo> redo_;   // the owner lock, and the redo log when logging_
  bool logging_ = false;
  int tail_fd_ = -1;         // data.mdb, read-only, POSIX_FADV_RANDOM
  uint64_t shaped_end_ = 0;  // offsets in [LMDB's end, shaped_end_) are cached in 4 KB folios
  uint64_t last_used_end_ = 0;
  Status OpenTables();
  Status CheckFormat(LmdbKv& kv, bool fresh);

  const LmdbOptions options_;
  ResizeGate gate_;
  MDB_env* env_ = nullptr;  // written only under gate_ exclusively (Open, Close)
  Dbis dbis_{};
  std::atomic<uint64_t> resizes_{0};
  std::mutex map_mu_;
  std::vector<std::pair<uintptr_t, uintptr_t>> map_ranges_;  // GUARDED_BY(map_mu_)
  uint64_t map_known_for_ = 0;  // resizes_ + 1 when map_ranges_ was read; GUARDED_BY(map_mu_)
  // map_ranges_, read again when the map moved since. Holds map_mu_ and
  // the gate (shared or exclusive).
  const std::vector<std::pair<uintptr_t, uintptr_t>>& MapRangesLocked() {
    if (map_known_for_ != resizes_.load() + 1) {
      map_ranges_ = FindMappings(options_.path + "/data.mdb");
      map_known_for_ = resizes_.load() + 1;
    }
    return map_ranges_;
  }
  // Armed with map_mu_ held, where the map cannot move: at Open and Grow
  // (gate_ exclusive) and in ReleaseMappedPages (gate_ shared).
  SinglePageFaults single_page_faults_;
  // Arms single_page_faults_ (again: the map moved) once the store holds
  // options_.single_page_faults_from bytes. At Open and Grow; the map and
  // the file only ever grow. The Locked one with map_mu_ held.
  void ArmSinglePageFaultsIfLarge();
  void ArmSinglePageFaultsIfLargeLocked();
};

namespace {

// The end of the store's used pages (the file may be longer: preallocated,
// or shaped ahead by ShapeTail), its page size and its map size.
struct MapUse {
  uint64_t used_end = 0;
  uint64_t page = 0;
  uint64_t map_size = 0;
};

MapUse ReadMapUse(MDB_env* env) {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &st);
  return {(static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize, st.ms_psize,
          info.me_mapsize};
}

}  // namespace

void LmdbBackend::ArmSinglePageFaultsIfLarge() {
  std::lock_guard<std::mutex> map_lock(map_mu_);
  ArmSinglePageFaultsIfLargeLocked();
}

void LmdbBackend::ArmSinglePageFaultsIfLargeLocked() {
  if (ReadMapUse(env_).used_end >= options_.single_page_faults_from) {
    single_page_faults_.Arm(MapRangesLocked());  // ReleaseMappedPages reuses the read
  }
}

Status LmdbBackend::Grow() {
  std::unique_lock<ResizeGate> lock(gate_);  // no read transaction may be active
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  const uint64_t current = info.me_mapsize;
  if (current >= options_.max_map_size) {
    return ResourceExhausted("the store is full: it reached its maximum size of " +
                                 std::to_string(options_.max_map_size >> 20) + " MiB",
                             "storage_full");
  }
  const uint64_t next = std::min<uint64_t>(options_.max_map_size, current * 2);
  if (const int rc = mdb_env_set_mapsize(env_, next); rc != 0) {
    return LmdbError("cannot grow the store", rc);
  }
  ++resizes_;
  ArmSinglePageFaultsIfLarge();
  return Status::Ok();
}

void LmdbBackend::ShapeTail() {
  if (env_ == nullptr || tail_fd_ < 0) {
    return;
  }
  const MapUse use = ReadMapUse(env_);
  const uint64_t page = use.page;
  const uint64_t used_end = use.used_end;
  // Ahead by four times the last commit's growth, at least 32 MiB, renewed
  // when less than half of that is left: a commit should find all its new
  // pages shaped (the bench's bulk loader grows the file by up to about
  // 14 MiB a commit, the server by a few pages).
  const uint64_t grown = used_end > last_used_end_ ? used_end - last_used_end_ : 0;
  last_used_end_ = used_end;
  const uint64_t ahead = std::max<uint64_t>(32ull << 20, 4 * grown);
  if (shaped_end_ >= used_end + ahead / 2) {
    return;
  }
  const uint64_t target = std::min<uint64_t>(use.map_size, used_end + ahead);
  const uint64_t from = std::max(shaped_end_, used_end);
  if (target <= from) {
    return;
  }
  mdb_filehandle_t fd;
  struct stat file;
  if (mdb_env_get_fd(env_, &fd) != 0 || ::fstat(fd, &file) != 0) {
    return;
  }
  if (static_cast<uint64_t>(file.st_size) < target &&
      ::ftruncate(fd, static_cast<off_t>(target)) != 0) {
    return;
  }
  std::vector<char> buf(page);
  for (uint64_t off = from; off < target; off += page) {
    if (::pread(tail_fd_, buf.data(), page, static_cast<off_t>(off)) <= 0) {
      break;
    }
  }
  shaped_end_ = target;
}

void LmdbBackend::FillStats(StorageStats* s) {
  s->map_resizes = resizes_;
  std::shared_lock<ResizeGate> lock(gate_);
  if (env_ == nullptr) {
    return;
  }
  {
    std::lock_guard<std::mutex> map_lock(map_mu_);  // ReleaseMappedPages may arm it
    s->single_page_faults = single_page_faults_.armed();
  }
  if (redo_ != nullptr) {
    const RedoStats r = redo_->stats();
    s->checkpoints = r.checkpoints;
    s->checkpoint_seconds = r.checkpoint_seconds;
    s->log_appends = r.log_appends;
    s->log_seconds = r.log_seconds;
    s->replayed = r.replayed;
    s->writebacks = r.writebacks;
  }
  const MapUse use = ReadMapUse(env_);
  s->map_size_bytes = use.map_size;
  s->used_bytes = use.used_end;
  auto txn = BeginTxn(env_, nullptr, MDB_RDONLY, "stats");
  if (txn.ok()) {
    LmdbKv kv(txn->get(), dbis_);
    auto n = kv.Count(kCerts);
    s->cert_count = n.ok() ? *n : 0;
    s->free_bytes = FreePages(txn->get()) * use.page;
  }
}

// LMDB keeps its freelist as a B-tree of its own (database 0, read like
// any other): one record per transaction that freed pages, holding that
// transaction's page numbers as an MDB_IDL, whose first word is their
// count (lmdb.h documents no other way; mdb_stat -f reads it so too).
// A walk of the records, not of the page numbers: one record per commit
// whose freed pages are not reused yet (hundreds to a few thousand in the
// bench's 1M and 10M stores), so a /metrics scrape stays cheap.
uint64_t LmdbBackend::FreePages(MDB_txn* txn) {
  MDB_cursor* cursor = nullptr;
  if (mdb_cursor_open(txn, 0, &cursor) != 0) {
    return 0;
  }
  uint64_t pages = 0;
  MDB_val key, data;
  for (int rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
    if (data.mv_size >= sizeof(size_t)) {
      size_t count = 0;
      std::memcpy(&count, data.mv_data, sizeof(count));
      pages += count;
    }
  }
  mdb_cursor_close(cursor);
  return pages;
}

Status LmdbBackend::Open() {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(options_.path, 0700));
  logging_ = options_.durable && options_.redo_log;
  RedoOptions redo_options;
  redo_options.checkpoint_bytes = options_.checkpoint_bytes;
  redo_options.checkpoint_interval = std::chrono::milliseconds(options_.checkpoint_ms);
  redo_options.writeback_interval = std::chrono::milliseconds(options_.writeback_ms);
  HOSTCA_ASSIGN_OR_RETURN(redo_, Redo::Acquire(options_.path, redo_options));
  HOSTCA_RETURN_IF_ERROR(redo_->RestoreMetaPages());  // after a crash of a logging process
  if (const int rc = mdb_env_create(&env_); rc != 0) {
    env_ = nullptr;
    return LmdbError("cannot create the LMDB environment", rc);
  }
  mdb_env_set_maxdbs(env_, 32);
  mdb_env_set_maxreaders(env_, 1024);
  // A store that is already bigger keeps its size (LMDB never maps less
  // than the data in the file).
  mdb_env_set_mapsize(env_, std::min(options_.initial_map_size, options_.max_map_size));
  // MDB_NORDAHEAD: lookups are random (serials, UUIDs); read-ahead would map
  // most of a large store into memory for a few thousand reads at start-up.
  // With the redo log LMDB's pages become durable at checkpoints (redo.h).
  const unsigned flags =
      MDB_NOTLS | MDB_NORDAHEAD | (options_.durable && !logging_ ? 0 : MDB_NOSYNC);
  if (const int rc = mdb_env_open(env_, options_.path.c_str(), flags, 0600); rc != 0) {
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
      return InvalidArgument(
          options_.path + " does not hold a hostca store (LMDB says: " + mdb_strerror(rc) + ")",
          "foreign_store");
    }
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) {
      return Internal("the store in " + options_.path + " is corrupt: " + mdb_strerror(rc),
                      "corrupt_store");
    }
    return LmdbError("cannot open the store in " + options_.path, rc);
  }
  ArmSinglePageFaultsIfLarge();
  int stale = 0;
  mdb_reader_check(env_, &stale);  // frees reader slots of crashed processes
  HOSTCA_RETURN_IF_ERROR(OpenTables());
  HOSTCA_RETURN_IF_ERROR(redo_->Replay(env_, dbis_));
  HOSTCA_RETURN_IF_ERROR(logging_ ? redo_->Start(env_) : redo_->MarkClean());
  tail_fd_ = ::open((options_.path + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
  if (tail_fd_ >= 0) {
    ::posix_fadvise(tail_fd_, 0, 0, POSIX_FADV_RANDOM);
  }
  return Status::Ok();
}

Status LmdbBackend::OpenTables() {
  HOSTCA_ASSIGN_OR_RETURN(TxnHandle txn,
                          BeginTxn(env_, nullptr, 0, "cannot open the store in " + options_.path));
  // Named databases are keys of the main database: none means a new store.
  MDB_dbi main_db;
  MDB_stat main_stat;
  if (const int rc = mdb_dbi_open(txn.get(), nullptr, 0, &main_db); rc != 0) {
    return LmdbError("cannot open the store in " + options_.path, rc);
  }
  if (const int rc = mdb_stat(txn.get(), main_db, &main_stat); rc != 0) {
    return LmdbError("cannot open the store in " + options_.path, rc);
  }
  const bool fresh = main_stat.ms_entries == 0;
  if (!fresh) {
    MDB_dbi meta;
    if (mdb_dbi_open(txn.get(), TableName(kMeta), 0, &meta) != 0) {
      return InvalidArgument(options_.path + " holds an LMDB store of another program",
                             "foreign_store");
    }
  }
  for (int t = 0; t < kNumTables; ++t) {
    const int rc = mdb_dbi_open(txn.get(), TableName(static_cast<Table>(t)), MDB_CREATE, &dbis_[t]);
    if (rc != 0) {
      return LmdbError(std::string("cannot open table ") + TableName(static_cast<Table>(t)), rc);
    }
  }
  LmdbKv kv(txn.get(), dbis_);
  HOSTCA_RETURN_IF_ERROR(CheckFormat(kv, fresh));
  return txn.Commit("cannot open the store in " + options_.path);
}

Status LmdbBackend::CheckFormat(LmdbKv& kv, bool fresh) {
  if (fresh) {
    HOSTCA_RETURN_IF_ERROR(kv.Put(kMeta, kFormatKey, logging_ ? kFormatLogged : kFormatValue));
    return RecordTxn(kv).InitHostCount();
  }
  HOSTCA_ASSIGN_OR_RETURN(auto format, kv.Get(kMeta, kFormatKey));
  if (!format) {
    return InvalidArgument(options_.path + " holds an LMDB store of another program",
                           "foreign_store");
  }
  if (std::find(kFormatsUpgradable.begin(), kFormatsUpgradable.end(), *format) !=
      kFormatsUpgradable.end()) {
    format_upgraded_ = false;  // marked by the first write (Begin)
    fill_records_ = true;
    return Status::Ok();
  }
  if (*format == kFormatValue && logging_) {
    format_upgraded_ = false;  // marked -5 by the first write
    return Status::Ok();
  }
  if (*format != kFormatValue && *format != kFormatLogged) {
    return InvalidArgument(options_.path + " holds a store of format '" + *format +
                               "' but this hostca reads '" + kFormatValue + "'",
                           "foreign_store");
  }
  return Status::Ok();
}

// An MDB_env released on destruction.
struct EnvCloser {
  void operator()(MDB_env* env) const { mdb_env_close(env); }
};
using EnvPtr = std::unique_ptr<MDB_env, EnvCloser>;

// The store in `path` opened read-only, for a process that does not own it
// (backup, check). MDB_NOTLS: a read transaction may be used by LMDB's own
// threads (the compacting copy's writer).
Result<EnvPtr> OpenReadOnly(const std::string& path) {
  if (!FileExists(path + "/data.mdb")) {
    return NotFound(path + " holds no store (no data.mdb)");
  }
  // A store its logging owner left in a crash is read only once a writable
  // open replayed its log (Redo); with its owner alive the page cache
  // holds every commit.
  HOSTCA_ASSIGN_OR_RETURN(const bool pending, RedoRecoveryPending(path));
  if (pending) {
    HOSTCA_ASSIGN_OR_RETURN(auto recovered,
                            OpenLmdbStorage(LmdbOptions{.path = path, .redo_log = false}));
    recovered->Close();
  }
  MDB_env* raw = nullptr;
  if (const int rc = mdb_env_create(&raw); rc != 0) {
    return LmdbError("cannot create the LMDB environment", rc);
  }
  EnvPtr env(raw);
  mdb_env_set_maxdbs(raw, 32);
  // Its map size starts at the one recorded in the file.
  if (const int rc = mdb_env_open(raw, path.c_str(), MDB_RDONLY | MDB_NOTLS, 0600); rc != 0) {
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
      return InvalidArgument(
          path + " does not hold a hostca store (LMDB says: " + mdb_strerror(rc) + ")",
          "foreign_store");
    }
    return LmdbError("cannot open the store in " + path + " read-only", rc);
  }
  return env;
}

// Decodes a record table's value; index entries have none to decode. For a
// certificate record that decodes, *body_seq is its DER's number in
// cert_bodies (0: the DER is inline); 0 for everything else.
Status DecodeValue(Table t, std::string_view key, std::string_view value, uint64_t* body_seq) {
  *body_seq = 0;
  if (t == kHosts && IsHostCertEntry(key)) {
    return Status::Ok();  // a certificate's entry: an index entry
  }
  switch (t) {
    case kCerts: {
      CertRecord r;
      Status st = Decode(value, &r, body_seq);
      if (!st.ok()) {
        *body_seq = 0;
      }
      return st;
    }
    case kHosts: {
      HostRecord r;
      return Decode(value, &r);
    }
    case kTokens: {
      TokenRecord r;
      return Decode(value, &r);
    }
    case kMappings: {
      MappingRecord r;
      return Decode(value, &r);
    }
    case kAudit: {
      AuditEntry r;
      return Decode(value, &r);
    }
    default:
      return Status::Ok();
  }
}

// For an index entry: the table and key of the record it points to.
std::optional<std::pair<Table, std::string>> IndexTarget(Table t, std::string_view key,
                                                         std::string_view value) {
  const auto to = [](Table table, std::string_view k) {
    return std::optional(std::pair{table, std::string(k)});
  };
  switch (t) {
    case kHosts:
    case kCertsByHost: {
      const auto nul = key.find('\0');
      return nul == std::string_view::npos ? std::nullopt : to(kCerts, key.substr(nul + 1));
    }
    case kCertsByExpiry:
      return key.size() > 8 ? to(kCerts, key.substr(8)) : std::nullopt;
    case kCertsByStatus:
      return key.size() > 1 ? to(kCerts, key.substr(1)) : std::nullopt;
    case kHostNames:
      return to(kHosts, value);
    case kTokenNames:
      return to(kTokens, value);
    default:
      return std::nullopt;
  }
}

}  // namespace
}  // namespace internal

Status CopyLmdbStoreTo(const std::string& path, int fd) {
  HOSTCA_ASSIGN_OR_RETURN(internal::EnvPtr env, internal::OpenReadOnly(path));
  MDB_env* raw = env.get();
  // The server may grow the map between our open and the copy's read
  // transaction: LMDB then answers MDB_MAP_RESIZED and we adopt the new size.
  for (int attempt = 0;; ++attempt) {
    const int rc = mdb_env_copyfd2(raw, fd, MDB_CP_COMPACT);
    if (rc == 0) {
      return Status::Ok();
    }
    if (rc != MDB_MAP_RESIZED || attempt >= 8) {
      return internal::LmdbError("cannot copy the store in " + path, rc);
    }
    if (const int r = mdb_env_set_mapsize(raw, 0); r != 0) {
      return internal::LmdbError("cannot adopt the store's new map size", r);
    }
  }
}

namespace {

// A status-index value (EncodeRevocation) is what its certificate record
// would give; an entry written before such values ("") is not checked.
bool RevocationAgrees(std::string_view value, std::string_view record) {
  CertRecord rec;
  uint64_t body_seq = 0;
  return internal::Decode(record, &rec, &body_seq).ok() && rec.status == CertStatus::kRevoked &&
         internal::EncodeRevocation(rec) == value;
}

}  // namespace

Result<StoreCheck> CheckLmdbStore(const std::string& path) {
  using internal::Table;
  HOSTCA_ASSIGN_OR_RETURN(internal::EnvPtr env, internal::OpenReadOnly(path));
  // LMDB's word for damage becomes the store's stable reason.
  const auto fail = [&](const std::string& what, int rc) -> Status {
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) {
      return Internal("the store in " + path + " is corrupt: " + what + ": " + mdb_strerror(rc),
                      "corrupt_store");
    }
    return internal::LmdbError(what, rc);
  };
  MDB_txn* raw_txn = nullptr;
  int begun = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &raw_txn);
  if (begun == MDB_MAP_RESIZED) {  // the running server grew the map since our open
    mdb_env_set_mapsize(env.get(), 0);
    begun = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &raw_txn);
  }
  if (begun != 0) {
    return fail("cannot begin a read transaction", begun);
  }
  const internal::TxnHandle txn(raw_txn);
  internal::Dbis dbis{};
  std::array<bool, internal::kNumTables> present{};
  for (int t = 0; t < internal::kNumTables; ++t) {
    const char* name = internal::TableName(static_cast<Table>(t));
    const int rc = mdb_dbi_open(txn.get(), name, 0, &dbis[t]);
    present[t] = rc == 0;
    if (rc == MDB_NOTFOUND && t == internal::kCertBodies) {
      continue;  // a hostca-lmdb-1 store not opened for writing since
    }
    if (rc != 0) {
      return rc == MDB_NOTFOUND
                 ? InvalidArgument(path + " has no table '" + name + "': not a hostca store",
                                   "foreign_store")
                 : fail(std::string("cannot open the table ") + name, rc);
    }
  }
  StoreCheck out;
  uint64_t host_records = 0;
  std::optional<uint64_t> stored_host_count;  // meta's, when the store keeps one
  auto problem = [&](std::string what) {
    ++out.problems_found;
    if (out.problems.size() < 20) {
      out.problems.push_back(std::move(what));
    }
  };
  for (int t = 0; t < internal::kNumTables; ++t) {
    const Table table = static_cast<Table>(t);
    const char* name = internal::TableName(table);
    if (!present[t]) {
      out.tables.push_back(StoreCheck::Table{name, 0, 0});
      continue;
    }
    MDB_cursor* cursor = nullptr;
    if (const int rc = mdb_cursor_open(txn.get(), dbis[t], &cursor); rc != 0) {
      return fail(std::string("cannot read the table ") + name, rc);
    }
    StoreCheck::Table stats{name, 0, 0};
    MDB_val k, v;
    int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      const std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
      const std::string_view value(static_cast<const char*>(v.mv_data), v.mv_size);
      ++stats.entries;
      stats.bytes += key.size() + value.size();
      uint64_t body_seq = 0;
      if (Status st = internal::DecodeValue(table, key, value, &body_seq); !st.ok()) {
        problem(std::string(name) + ": a record does not decode: " + st.message());
      }
      // A certificate record points at its DER in cert_bodies; an index
      // entry at its record.
      auto target =
          body_seq != 0
              ? std::optional(std::pair{internal::kCertBodies, internal::BigEndian64(body_seq)})
              : internal::IndexTarget(table, key, value);
      if (target) {
        MDB_val tk{target->second.size(), target->second.data()};
        MDB_val tv;
        if (!present[target->first] || mdb_get(txn.get(), dbis[target->first], &tk, &tv) != 0) {
          problem(std::string(name) + ": an entry points at a missing " +
                  internal::TableName(target->first) + " record");
        } else if (table == internal::kCertsByStatus && !value.empty() &&
                   !RevocationAgrees(value, {static_cast<const char*>(tv.mv_data), tv.mv_size})) {
          // The CRL is built from these values (CertRead::kRevocation).
          problem(std::string(name) + ": a revoked entry disagrees with its certificate record");
        }
      } else if (table == internal::kCertsByHost || table == internal::kCertsByExpiry ||
                 table == internal::kCertsByStatus) {
        problem(std::string(name) + ": an index key of bad shape");
      }
      if (table == internal::kHosts && !internal::IsHostCertEntry(key)) {
        ++host_records;
      }
      if (table == internal::kMeta && key == internal::kHostCountKey) {
        stored_host_count = internal::DecodeHostCount(value).value_or(UINT64_MAX);
      }
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND) {
      return fail(std::string("cannot read the table ") + name, rc);
    }
    out.tables.push_back(stats);
  }
  if (stored_host_count && *stored_host_count != host_records) {
    problem("meta: the host count says " +
            (*stored_host_count == UINT64_MAX ? std::string("garbage")
                                              : std::to_string(*stored_host_count)) +
            " but hosts holds " + std::to_string(host_records) + " host records");
  }
  return out;
}

Result<std::unique_ptr<Storage>> OpenLmdbStorage(const LmdbOptions& options) {
  if (options.path.empty()) {
    return InvalidArgument("the store needs a directory");
  }
  if (options.initial_map_size == 0 || options.max_map_size == 0) {
    return InvalidArgument("the store's map sizes must be positive");
  }
  auto backend = std::make_unique<internal::LmdbBackend>(options);
  HOSTCA_RETURN_IF_ERROR(backend->Open());
  return std::unique_ptr<Storage>(
      new internal::GroupCommitStorage(std::move(backend), options.max_batch));
}

}  // namespace hostca::storage
