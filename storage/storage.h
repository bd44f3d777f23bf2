// The store: typed records with secondary indices, read snapshots, and
// writes through one group-committing writer (DESIGN.md section 9).
//
//   auto store = storage::OpenLmdbStorage({.path = "/var/lib/hostca-server/db"});
//   Status st = (*store)->Update([&](storage::WriteTxn& txn) { return txn.InsertCert(rec); });
//   // st.ok(): the record is on disk.
//
// Errors common to every call: unavailable (the store cannot be read or
// written, e.g. an I/O error; also after Close), resource_exhausted (the map
// reached max_map_size: nothing already stored is lost), internal (a corrupt
// record).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/records.h"

namespace hostca::storage {

// A consistent snapshot. Not thread-safe; used only inside View/Update.
class ReadTxn {
 public:
  virtual ~ReadTxn() = default;
  // not_found when the serial is unknown.
  virtual Result<CertRecord> GetCert(std::string_view serial) = 0;
  virtual Result<std::vector<CertRecord>> CertsByHost(std::string_view host_id) = 0;
  // from <= not_after < to, ordered by not_after, at most `limit` (expiry index).
  virtual Result<std::vector<CertRecord>> CertsExpiringBetween(int64_t from, int64_t to,
                                                               size_t limit) = 0;
  // In serial order (status index); the visitor returns false to stop.
  virtual Status ForEachCertWithStatus(CertStatus status,
                                       const std::function<bool(const CertRecord&)>& visit) = 0;
  virtual Result<uint64_t> CountCerts() = 0;
  virtual Result<HostRecord> GetHost(std::string_view host_id) = 0;
  // By primary name or alias (unique name index).
  virtual Result<HostRecord> GetHostByName(std::string_view name) = 0;
  virtual Result<std::vector<HostRecord>> ListHosts() = 0;
  virtual Result<TokenRecord> GetToken(std::string_view hash) = 0;
  virtual Result<TokenRecord> GetTokenByName(std::string_view name) = 0;
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  virtual Result<MappingRecord> GetMapping(std::string_view id) = 0;
  virtual Result<std::vector<MappingRecord>> ListMappings() = 0;
  virtual Result<std::string> GetMeta(std::string_view key) = 0;
  virtual Result<std::vector<AuditEntry>> ReadAudit(uint64_t from_seq, size_t limit) = 0;
  // not_found when the log is empty.
  virtual Result<AuditEntry> LastAudit() = 0;
};

// A write transaction; sees its own writes.
class WriteTxn : public ReadTxn {
 public:
  // already_exists "duplicate_serial" when the serial is taken.
  virtual Status InsertCert(const CertRecord& rec) = 0;
  // not_found when missing; keeps the indices right.
  virtual Status UpdateCert(const CertRecord& rec) = 0;
  virtual Status DeleteCert(std::string_view serial) = 0;
  // Insert or replace; conflict "name_conflict" when a name belongs to
  // another host. Names the host no longer has leave the index.
  virtual Status PutHost(const HostRecord& rec) = 0;
  virtual Status DeleteHost(std::string_view host_id) = 0;
  // Insert or replace; already_exists "token_name_taken" when the name
  // belongs to another token.
  virtual Status PutToken(const TokenRecord& rec) = 0;
  virtual Status DeleteToken(std::string_view hash) = 0;
  virtual Status PutMapping(const MappingRecord& rec) = 0;
  virtual Status DeleteMapping(std::string_view id) = 0;
  virtual Status PutMeta(std::string_view key, std::string_view value) = 0;
  // Fills seq and the hash chain (common/audit_hash.h).
  virtual Result<AuditEntry> AppendAudit(int64_t time, std::string actor, std::string action,
                                         std::string detail) = 0;
};

using WriteFn = std::function<Status(WriteTxn&)>;

// Thread-safe.
class Storage {
 public:
  virtual ~Storage() = default;
  // Runs fn on a consistent snapshot on the calling thread.
  virtual Status View(const std::function<Status(ReadTxn&)>& fn) = 0;
  // Group commit: fn runs on the single writer thread inside a transaction
  // shared with other callers' writes (one transaction, one fsync per
  // batch), in a nested transaction of its own: if fn fails, only its
  // changes are undone and its error goes to this caller alone. Returns once
  // the batch is durable, or with the commit's error (then nothing of the
  // batch is stored). fn may run more than once (a batch is retried after
  // the map grows), so it must only act through `txn` and assign, not
  // accumulate, what it captures. fn must not call View or Update.
  virtual Status Update(WriteFn fn) = 0;
  virtual StorageStats Stats() = 0;
  // Drains queued writes, stops the writer; later calls return unavailable.
  virtual void Close() = 0;
};

struct LmdbOptions {
  std::string path;                         // directory, created 0700 if missing
  uint64_t initial_map_size = 64ull << 20;  // bytes; grows on its own when full
  uint64_t max_map_size = 1ull << 40;       // beyond: resource_exhausted
  size_t max_batch = 512;                   // most writes in one group commit
  bool durable = true;                      // false: MDB_NOSYNC (benchmarks only)
};

// Opens or creates the store. A directory holding something that is not a
// hostca store (garbage, another program's LMDB) is refused with
// invalid_argument and a message that says so.
Result<std::unique_ptr<Storage>> OpenLmdbStorage(const LmdbOptions& options);

// The same semantics without a disk, for unit tests.
std::unique_ptr<Storage> NewMemoryStorage();

}  // namespace hostca::storage
