// The store: typed records with secondary indices, read snapshots, and
// writes through one group-committing writer (DESIGN.md section 9).
//
//   auto store = storage::OpenLmdbStorage({.path = "/var/lib/hostca-server/db"});
//   Status st = (*store)->Update([&](storage::WriteTxn& txn) { return txn.InsertCert(rec); });
//   // st.ok(): the record is on disk.
//
// Errors any call can give besides those listed at each method:
//   unavailable         the store cannot be read or written (an I/O error,
//                       LMDB's reader table full, ...), or it was closed;
//   resource_exhausted  the store is full: its map reached max_map_size, or
//                       the disk is (reason "storage_full"); nothing already
//                       stored is lost;
//   internal            a corrupt record or index (never a crash), or a
//                       misuse such as a write in a View;
//   invalid_argument    a key out of bounds: serials and token hashes are 1
//                       to 64 bytes, ids, names and meta keys 1 to 255 bytes
//                       without NUL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/records.h"

namespace hostca::storage {

// What a walk over certificate records reads. The DER sits in a table of
// its own (one more lookup per record), so walks that need only the fields
// (inventory filters) ask for kFields and get `der` empty. kRevocation
// promises only what a CRL entry needs: serial, not_after, status,
// revocation_reason and revoked_at (the rest may be empty). The status
// index holds those for revoked certificates, so the CRL's walk at
// start-up reads no record: at 10M certificates with 1% revoked, 100k
// random record lookups had faulted 5 GB of the store into the map.
enum class CertRead { kWithDer, kFields, kRevocation };

// A consistent snapshot of the store. Not thread-safe, and valid only during
// the View or Update call that handed it out; the records it returns are
// copies the caller owns. Missing keys give not_found.
class ReadTxn {
 public:
  virtual ~ReadTxn() = default;
  virtual Result<CertRecord> GetCert(std::string_view serial) = 0;
  // Ordered by issued_at (oldest first); empty when the host has none.
  virtual Result<std::vector<CertRecord>> CertsByHost(std::string_view host_id) = 0;
  // Certificates with from <= not_after < to, ordered by not_after (then
  // serial), at most `limit` (expiry index: cost grows with the answer, not
  // with the store).
  virtual Result<std::vector<CertRecord>> CertsExpiringBetween(int64_t from, int64_t to,
                                                               size_t limit) = 0;
  // The same walk, one record at a time; the visitor returns false to stop
  // (for filtered listings that must not read more than they return).
  virtual Status ForEachCertExpiringBetween(
      int64_t from, int64_t to, CertRead read,
      const std::function<bool(const CertRecord&)>& visit) = 0;
  // Visits the records with `status` in serial order; the visitor returns
  // false to stop. Revoked ones come from the status index; valid ones are
  // not indexed (one write less per issuance), so kValid reads every record.
  virtual Status ForEachCertWithStatus(CertStatus status, CertRead read,
                                       const std::function<bool(const CertRecord&)>& visit) = 0;
  virtual Result<uint64_t> CountCerts() = 0;
  // Constant time (the table's entry count), for metrics at any size.
  virtual Result<uint64_t> CountHosts() = 0;
  virtual Result<HostRecord> GetHost(std::string_view host_id) = 0;
  // By primary name or alias, through the unique name index. Names compare
  // ASCII case-insensitively ("WWW.Example" finds "www.example").
  virtual Result<HostRecord> GetHostByName(std::string_view name) = 0;
  // In host_id order.
  virtual Result<std::vector<HostRecord>> ListHosts() = 0;
  virtual Result<TokenRecord> GetToken(std::string_view hash) = 0;
  virtual Result<TokenRecord> GetTokenByName(std::string_view name) = 0;
  // In hash order.
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  virtual Result<MappingRecord> GetMapping(std::string_view id) = 0;
  // In id order.
  virtual Result<std::vector<MappingRecord>> ListMappings() = 0;
  virtual Result<std::string> GetMeta(std::string_view key) = 0;
  // Entries with seq >= from_seq in order, at most `limit`.
  virtual Result<std::vector<AuditEntry>> ReadAudit(uint64_t from_seq, size_t limit) = 0;
  // not_found when the log is empty.
  virtual Result<AuditEntry> LastAudit() = 0;
};

// A write transaction; sees its own writes. A refused write (any error
// below) changes nothing, even when the caller goes on.
class WriteTxn : public ReadTxn {
 public:
  // already_exists "duplicate_serial" when the serial is taken: the
  // uniqueness check of DESIGN.md section 3, in the storing transaction.
  virtual Status InsertCert(const CertRecord& rec) = 0;
  // Replaces the record with rec.serial; not_found when missing. The indices
  // follow changes of status, not_after and host_id. The certificate itself
  // cannot change: rec.der is empty (keeps the stored DER, so a record
  // read with CertRead::kFields can be written back) or the stored DER,
  // else invalid_argument.
  virtual Status UpdateCert(const CertRecord& rec) = 0;
  // not_found when missing.
  virtual Status DeleteCert(std::string_view serial) = 0;
  // Insert or replace; conflict "name_conflict" when one of its names
  // belongs to another host. Names the host no longer has leave the index.
  virtual Status PutHost(const HostRecord& rec) = 0;
  // not_found when missing; frees the host's names. Its certificates stay.
  virtual Status DeleteHost(std::string_view host_id) = 0;
  // Insert or replace (keyed by hash); already_exists "token_name_taken"
  // when the name belongs to another token.
  virtual Status PutToken(const TokenRecord& rec) = 0;
  // not_found when missing.
  virtual Status DeleteToken(std::string_view hash) = 0;
  // Insert or replace.
  virtual Status PutMapping(const MappingRecord& rec) = 0;
  // not_found when missing.
  virtual Status DeleteMapping(std::string_view id) = 0;
  // invalid_argument for keys starting with "storage_" (the store's own).
  virtual Status PutMeta(std::string_view key, std::string_view value) = 0;
  // Appends an entry, filling seq (last + 1, from 1) and the hash chain
  // (common/audit_hash.h); returns the stored entry.
  virtual Result<AuditEntry> AppendAudit(int64_t time, std::string actor, std::string action,
                                         std::string detail) = 0;
};

using WriteFn = std::function<Status(WriteTxn&)>;

// The store. Thread-safe: View and Update may be called from any number of
// threads. Destroying it closes it (see Close).
class Storage {
 public:
  virtual ~Storage() = default;

  // Runs fn on a consistent snapshot, on the calling thread, and returns
  // fn's status. A long View delays the growth of a full map, so keep them
  // short. fn must not call View or Update (it could deadlock).
  virtual Status View(const std::function<Status(ReadTxn&)>& fn) = 0;

  // Group commit: fn runs on the single writer thread inside a transaction
  // shared with other callers' writes (one transaction, one fsync per
  // batch), in a nested transaction of its own: if fn fails (or throws), only
  // its changes are undone and its error goes to this caller alone. Returns
  // once the batch is durable, or with the commit's error (then every caller
  // of the batch gets it and nothing of the batch is stored).
  // fn may run more than once (a batch is run again after the map grew), so
  // it must act only through `txn` and assign, not accumulate, what it
  // captures. fn must not call View or Update (internal error).
  virtual Status Update(WriteFn fn) = 0;

  // Counters of the writer and the size of the store; never fails.
  virtual StorageStats Stats() = 0;

  // Writes a compacted copy of the store to `fd` (a file or a pipe): the
  // bytes of a data.mdb that holds the same records with the free pages
  // left out (LMDB's mdb_env_copyfd2 with MDB_CP_COMPACT). The copy is one
  // consistent snapshot taken in a read transaction, so writes go on while
  // it runs; the map cannot grow meanwhile (a write that needs a larger map
  // waits for the copy). Blocks until the whole copy is written. Errors:
  // unavailable (closed, or writing to `fd` failed), invalid_argument
  // "no_store_file" for the in-memory store, internal when LMDB finds the
  // store damaged.
  virtual Status CopyCompactTo(int fd) = 0;

  // Runs the writes already queued, stops the writer and releases the files
  // (the directory can then be opened again). Later View and Update calls
  // return unavailable. Idempotent; blocks until writes in flight finish.
  virtual void Close() = 0;

  // Drops this process's mappings of store pages it has read. They stay in
  // the OS page cache, and a later read maps them again (a minor fault):
  // the kernel maps up to 16 neighbouring cached pages on every fault, so
  // without this a large store's resident set grows towards its file size
  // though the server holds none of it. Safe at any time. Default: nothing.
  virtual void ReleaseMappedPages() {}

  // OK while writes can be committed; unavailable "storage_io" once the
  // store stopped writing after a failed write or sync of its redo log or
  // a failed checkpoint (what every Update then answers), until a restart
  // recovers it. Cheap; any thread. Default: OK.
  virtual Status WriteHealth() { return Status::Ok(); }
};

struct LmdbOptions {
  std::string path;                         // directory, created 0700 if missing
  uint64_t initial_map_size = 64ull << 20;  // bytes; grows on its own (doubling) when full
  uint64_t max_map_size = 1ull << 40;       // growth stops here: resource_exhausted
  size_t max_batch = 512;                   // most writes in one group commit
  bool durable = true;                      // false: MDB_NOSYNC (benchmarks and tests only)
  // With durable: each group commit's writes go to a redo log (one
  // sequential write and fdatasync), and LMDB's pages reach the disk at
  // checkpoints (storage/README.md "The redo log"). False: LMDB fsyncs its
  // pages at every commit.
  bool redo_log = true;
  uint64_t checkpoint_bytes = 16ull << 20;  // a checkpoint once the log holds this much
  uint32_t checkpoint_ms = 1000;            // or this long after the previous one
  // Between checkpoints, the writeback of the pages commits dirtied starts
  // this long after them, so checkpoints find little left to write
  // (internal/redo.h RedoOptions::writeback_interval). 0: off.
  uint32_t writeback_ms = 50;
  // Once the store holds this many bytes (checked at open, each time the
  // map grows and at ReleaseMappedPages), a read fault in its map maps
  // that one page, not its cached neighbours too
  // (internal/single_page_faults.h; Linux 6.7+). Worth it only when the
  // store is larger than what the process keeps mapped
  // (ReleaseMappedPages); the server sets storage.mapped_mib. Default:
  // never.
  uint64_t single_page_faults_from = UINT64_MAX;
};

// Opens the store in options.path, creating it (with a format marker in
// meta) when the directory holds none. Errors: invalid_argument
// "foreign_store" when the directory holds something else (garbage, another
// program's LMDB, a newer format), internal "corrupt_store" when LMDB finds
// the file damaged, unavailable when it cannot be opened (permissions, ...),
// unavailable "store_in_use" when another open holds it (one writing open
// of a directory at a time, in any process: DIR/redo.ckpt is flocked). A store
// left by a crash of a process that used the redo log is recovered here.
// Internal "corrupt_store" also when that log cannot be replayed; internal
// "lmdb_layout" when the redo log would read or write meta pages of an
// LMDB other than 0.9 (internal/redo.h CheckMetaLayout).
Result<std::unique_ptr<Storage>> OpenLmdbStorage(const LmdbOptions& options);

// CopyCompactTo for a store another process has open (hostca-server
// backup while the server runs): opens the LMDB environment in `path`
// read-only, takes one read snapshot and writes the compacted copy to `fd`.
// LMDB allows readers in other processes; the snapshot holds no lock that
// stops the server's writes. Errors: not_found when `path` holds no
// data.mdb, the others as CopyCompactTo and OpenLmdbStorage.
Status CopyLmdbStoreTo(const std::string& path, int fd);

// What CheckLmdbStore found.
struct StoreCheck {
  struct Table {
    std::string name;
    uint64_t entries = 0, bytes = 0;  // bytes: keys and values
  };
  std::vector<Table> tables;
  uint64_t problems_found = 0;
  std::vector<std::string> problems;  // the first 20
};

// Reads every page of the store in `path` (read-only, beside a running
// server): every entry of every table, every record decoded, every index
// entry's record looked up. LMDB errors (corrupt_store as for
// OpenLmdbStorage) end the check; records that do not decode or index
// entries without their record are counted as problems. A data.mdb cut
// short raises SIGBUS as soon as a page past its end is read: callers guard
// for it (hostca-server check does).
Result<StoreCheck> CheckLmdbStore(const std::string& path);

// The same semantics (group commit, nested rollback, indices, errors)
// without a disk, for unit tests. Never full.
std::unique_ptr<Storage> NewMemoryStorage();

}  // namespace hostca::storage
