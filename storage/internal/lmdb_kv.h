// The key-value layer (kv.h) over LMDB: RAII for transactions and cursors,
// the mapping of LMDB return codes to Status, and LmdbKv, which runs the
// table operations inside one MDB_txn.
//
// Thread safety: an LmdbKv and a TxnHandle belong to the thread that uses
// the transaction (MDB_NOTLS lets a read transaction start on any thread).
#pragma once

#include <lmdb.h>

#include <array>
#include <string>

#include "storage/internal/kv.h"

namespace hostca::storage::internal {

using Dbis = std::array<MDB_dbi, kNumTables>;

// LMDB return code -> Status: MDB_MAP_FULL is resource_exhausted "map_full"
// (the writer grows the map), ENOSPC resource_exhausted "storage_full",
// structural damage (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...) internal, and
// anything else (I/O errors, reader table full, ...) unavailable. The
// message is `what` and mdb_strerror's text.
Status LmdbError(const std::string& what, int rc);

// Owns an MDB_txn: aborts it on destruction unless Commit() ran. Move-only.
class TxnHandle {
 public:
  TxnHandle() = default;
  explicit TxnHandle(MDB_txn* txn) : txn_(txn) {}
  TxnHandle(TxnHandle&& other) noexcept : txn_(other.txn_) { other.txn_ = nullptr; }
  TxnHandle& operator=(TxnHandle&& other) noexcept;
  TxnHandle(const TxnHandle&) = delete;
  TxnHandle& operator=(const TxnHandle&) = delete;
  ~TxnHandle() { Abort(); }

  MDB_txn* get() const { return txn_; }
  // Commits and releases the transaction; it is gone even when this fails.
  Status Commit(const std::string& what);
  void Abort();
  // Gives the transaction up to the caller, who must end it.
  MDB_txn* Release() {
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    return txn;
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// Begins a transaction (a nested one when parent is set).
Result<TxnHandle> BeginTxn(MDB_env* env, MDB_txn* parent, unsigned flags, const std::string& what);

class LmdbKv final : public KvWrite {
 public:
  // `txn` and `dbis` must outlive this object.
  LmdbKv(MDB_txn* txn, const Dbis& dbis) : txn_(txn), dbis_(dbis) {}
  // True once any write hit MDB_MAP_FULL, whatever the caller did with the
  // error: the transaction is then unusable and the batch must be retried.
  bool map_full() const { return map_full_; }
  // The first failed Put or Del (OK if none): LMDB then refuses to commit
  // the transaction, even if the caller ignored the error.
  const Status& write_error() const { return write_error_; }

  Result<std::optional<std::string>> Get(Table t, std::string_view key) override;
  Status Scan(Table t, std::string_view from,
              const std::function<bool(std::string_view, std::string_view)>& visit) override;
  Result<std::optional<std::pair<std::string, std::string>>> Last(Table t) override;
  Result<uint64_t> Count(Table t) override;
  Status Put(Table t, std::string_view key, std::string_view value) override;
  Status Del(Table t, std::string_view key) override;
  Status Append(Table t, std::string_view key, std::string_view value) override;

 private:
  MDB_txn* txn_;
  const Dbis& dbis_;
  bool map_full_ = false;
  Status write_error_;
  Status Failed(Status st);
  Status PutWithFlags(Table t, std::string_view key, std::string_view value, unsigned flags);
};

}  // namespace hostca::storage::internal
