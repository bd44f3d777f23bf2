// The LMDB backend of the store. One environment with a named database per
// table; MDB_NOTLS so read transactions may run on any thread; nested write
// transactions give each group-committed write its own rollback.
#include <lmdb.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <shared_mutex>

#include "common/file.h"
#include "storage/internal/group_commit.h"
#include "storage/internal/kv.h"
#include "storage/internal/record_txn.h"
#include "storage/storage.h"

namespace hostca::storage {
namespace internal {

const char* TableName(Table t) {
  static constexpr const char* kNames[] = {"certs",  "certs_by_host", "certs_by_expiry",
                                           "certs_by_status", "hosts", "host_names", "tokens",
                                           "token_names", "mappings", "meta", "audit"};
  return kNames[t];
}

namespace {

constexpr char kFormatKey[] = "storage_format";
constexpr char kFormatValue[] = "hostca-lmdb-1";

Status LmdbError(const std::string& what, int rc) {
  if (rc == MDB_MAP_FULL) {
    return ResourceExhausted("the store is full", kMapFullReason);
  }
  return Unavailable(what + ": " + mdb_strerror(rc));
}

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

using Dbis = std::array<MDB_dbi, kNumTables>;

class LmdbKv final : public KvWrite {
 public:
  LmdbKv(MDB_txn* txn, const Dbis& dbis) : txn_(txn), dbis_(dbis) {}
  bool map_full() const { return map_full_; }

  Result<std::optional<std::string>> Get(Table t, std::string_view key) override {
    MDB_val k = Val(key), v;
    const int rc = mdb_get(txn_, dbis_[t], &k, &v);
    if (rc == MDB_NOTFOUND) {
      return std::optional<std::string>();
    }
    if (rc != 0) {
      return LmdbError("read", rc);
    }
    return std::optional<std::string>(std::string(View(v)));
  }

  Status Scan(Table t, std::string_view from,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    MDB_cursor* cur = nullptr;
    if (int rc = mdb_cursor_open(txn_, dbis_[t], &cur); rc != 0) {
      return LmdbError("cursor", rc);
    }
    MDB_val k = Val(from), v;
    int rc = mdb_cursor_get(cur, &k, &v, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
    while (rc == 0 && visit(View(k), View(v))) {
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : LmdbError("scan", rc);
  }

  Result<std::optional<std::pair<std::string, std::string>>> Last(Table t) override {
    MDB_cursor* cur = nullptr;
    if (int rc = mdb_cursor_open(txn_, dbis_[t], &cur); rc != 0) {
      return LmdbError("cursor", rc);
    }
    MDB_val k, v;
    const int rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    std::optional<std::pair<std::string, std::string>> out;
    if (rc == 0) {
      out.emplace(std::string(View(k)), std::string(View(v)));
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
      return LmdbError("scan", rc);
    }
    return out;
  }

  Result<uint64_t> Count(Table t) override {
    MDB_stat st;
    if (int rc = mdb_stat(txn_, dbis_[t], &st); rc != 0) {
      return LmdbError("stat", rc);
    }
    return static_cast<uint64_t>(st.ms_entries);
  }

  Status Put(Table t, std::string_view key, std::string_view value) override {
    if (key.empty() || key.size() > 511) {
      return InvalidArgument("store key of bad length");
    }
    MDB_val k = Val(key), v = Val(value);
    const int rc = mdb_put(txn_, dbis_[t], &k, &v, 0);
    if (rc == MDB_MAP_FULL) {
      map_full_ = true;
    }
    return rc == 0 ? Status::Ok() : LmdbError("write", rc);
  }

  Status Del(Table t, std::string_view key) override {
    MDB_val k = Val(key);
    const int rc = mdb_del(txn_, dbis_[t], &k, nullptr);
    return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : LmdbError("delete", rc);
  }

 private:
  MDB_txn* txn_;
  const Dbis& dbis_;
  bool map_full_ = false;
};

class LmdbBatch final : public BatchTxn {
 public:
  LmdbBatch(MDB_env* env, MDB_txn* txn, const Dbis& dbis) : env_(env), txn_(txn), dbis_(dbis) {}
  ~LmdbBatch() override { Abort(); }

  Status RunNested(const WriteFn& fn) override {
    MDB_txn* child = nullptr;
    if (int rc = mdb_txn_begin(env_, txn_, 0, &child); rc != 0) {
      return LmdbError("nested transaction", rc);
    }
    LmdbKv kv(child, dbis_);
    RecordTxn records(kv);
    Status st = fn(records);
    if (kv.map_full()) {
      mdb_txn_abort(child);
      return ResourceExhausted("the store is full", kMapFullReason);
    }
    if (!st.ok()) {
      mdb_txn_abort(child);
      return st;
    }
    if (int rc = mdb_txn_commit(child); rc != 0) {
      return LmdbError("nested commit", rc);
    }
    return Status::Ok();
  }

  Status Commit() override {
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    const int rc = mdb_txn_commit(txn);
    return rc == 0 ? Status::Ok() : LmdbError("commit", rc);
  }

  void Abort() override {
    if (txn_ != nullptr) {
      mdb_txn_abort(txn_);
      txn_ = nullptr;
    }
  }

 private:
  MDB_env* env_;
  MDB_txn* txn_;
  const Dbis& dbis_;
};

class LmdbBackend final : public Backend {
 public:
  explicit LmdbBackend(LmdbOptions options) : options_(std::move(options)) {}
  ~LmdbBackend() override {
    if (env_ != nullptr) {
      mdb_env_close(env_);
    }
  }

  Status Open();

  Result<std::unique_ptr<BatchTxn>> Begin() override {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) {
      return LmdbError("write transaction", rc);
    }
    return std::unique_ptr<BatchTxn>(new LmdbBatch(env_, txn, dbis_));
  }

  Status View(const std::function<Status(ReadTxn&)>& fn) override {
    // Shared with other readers; excludes a map resize.
    std::shared_lock<std::shared_mutex> lock(resize_mu_);
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) {
      return LmdbError("read transaction", rc);
    }
    LmdbKv kv(txn, dbis_);
    RecordTxn records(static_cast<KvRead&>(kv));
    Status st = fn(records);
    mdb_txn_abort(txn);
    return st;
  }

  Status Grow() override {
    std::unique_lock<std::shared_mutex> lock(resize_mu_);
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    const uint64_t current = info.me_mapsize;
    if (current >= options_.max_map_size) {
      return ResourceExhausted("the store reached its maximum size of " +
                               std::to_string(options_.max_map_size >> 20) +
                               " MiB (storage.max_map_gib)");
    }
    const uint64_t next = std::min<uint64_t>(options_.max_map_size, current * 2);
    if (int rc = mdb_env_set_mapsize(env_, next); rc != 0) {
      return LmdbError("cannot grow the store", rc);
    }
    ++resizes_;
    return Status::Ok();
  }

  void FillStats(StorageStats* s) override {
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(env_, &info);
    mdb_env_stat(env_, &st);
    s->map_size_bytes = info.me_mapsize;
    s->used_bytes = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
    s->map_resizes = resizes_;
    View([&](ReadTxn& txn) -> Status {
      auto n = txn.CountCerts();
      s->cert_count = n.ok() ? *n : 0;
      return Status::Ok();
    }).IgnoreError();
  }

 private:
  Status OpenTables(bool existed);

  LmdbOptions options_;
  MDB_env* env_ = nullptr;
  Dbis dbis_{};
  std::shared_mutex resize_mu_;
  std::atomic<uint64_t> resizes_{0};
};

Status LmdbBackend::Open() {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(options_.path, 0700));
  const bool existed = FileExists(options_.path + "/data.mdb");
  if (int rc = mdb_env_create(&env_); rc != 0) {
    return LmdbError("cannot create the LMDB environment", rc);
  }
  mdb_env_set_maxdbs(env_, 32);
  mdb_env_set_maxreaders(env_, 1024);
  mdb_env_set_mapsize(env_, options_.initial_map_size);
  const unsigned flags = MDB_NOTLS | (options_.durable ? 0 : MDB_NOSYNC);
  if (int rc = mdb_env_open(env_, options_.path.c_str(), flags, 0600); rc != 0) {
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED) {
      return InvalidArgument(options_.path + " does not hold a hostca store (LMDB: " +
                                 mdb_strerror(rc) + ")",
                             "foreign_store");
    }
    return LmdbError("cannot open the store in " + options_.path, rc);
  }
  return OpenTables(existed);
}

Status LmdbBackend::OpenTables(bool existed) {
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) {
    return LmdbError("cannot open the store", rc);
  }
  auto fail = [&](Status st) {
    mdb_txn_abort(txn);
    return st;
  };
  if (existed) {
    MDB_dbi meta;
    if (mdb_dbi_open(txn, TableName(kMeta), 0, &meta) != 0) {
      return fail(InvalidArgument(options_.path + " holds an LMDB store of another program",
                                  "foreign_store"));
    }
  }
  for (int t = 0; t < kNumTables; ++t) {
    if (int rc = mdb_dbi_open(txn, TableName(static_cast<Table>(t)), MDB_CREATE, &dbis_[t]);
        rc != 0) {
      return fail(LmdbError("cannot open table", rc));
    }
  }
  LmdbKv kv(txn, dbis_);
  auto format = kv.Get(kMeta, kFormatKey);
  if (!format.ok()) {
    return fail(format.status());
  }
  if (!*format) {
    if (existed) {
      return fail(InvalidArgument(options_.path + " holds an LMDB store of another program",
                                  "foreign_store"));
    }
    if (Status st = kv.Put(kMeta, kFormatKey, kFormatValue); !st.ok()) {
      return fail(st);
    }
  } else if (**format != kFormatValue) {
    return fail(InvalidArgument(options_.path + " holds a store of format '" + **format +
                                    "', this hostca reads " + kFormatValue,
                                "foreign_store"));
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) {
    return LmdbError("cannot open the store", rc);
  }
  return Status::Ok();
}

}  // namespace
}  // namespace internal

Result<std::unique_ptr<Storage>> OpenLmdbStorage(const LmdbOptions& options) {
  if (options.path.empty()) {
    return InvalidArgument("the store needs a directory");
  }
  auto backend = std::make_unique<internal::LmdbBackend>(options);
  HOSTCA_RETURN_IF_ERROR(backend->Open());
  return std::unique_ptr<Storage>(
      new internal::GroupCommitStorage(std::move(backend), options.max_batch));
}

}  // namespace hostca::storage
