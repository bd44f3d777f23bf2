#include "storage/internal/lmdb_kv.h"

#include <cerrno>
#include <memory>

namespace hostca::storage::internal {
namespace {

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

std::string_view AsView(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

struct CursorCloser {
  void operator()(MDB_cursor* c) const { mdb_cursor_close(c); }
};
using CursorPtr = std::unique_ptr<MDB_cursor, CursorCloser>;

Result<CursorPtr> OpenCursor(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* cur = nullptr;
  if (const int rc = mdb_cursor_open(txn, dbi, &cur); rc != 0) {
    return LmdbError("cannot open a cursor", rc);
  }
  return CursorPtr(cur);
}

}  // namespace

const char* TableName(Table t) {
  static constexpr const char* kNames[kNumTables] = {
      "certs",    "certs_by_host", "certs_by_expiry", "certs_by_status",
      "hosts",    "host_names",    "tokens",          "token_names",
      "mappings", "meta",          "audit",           "cert_bodies"};
  return kNames[t];
}

Status LmdbError(const std::string& what, int rc) {
  const std::string msg = what + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return ResourceExhausted(msg, kMapFullReason);
    case ENOSPC:
      return ResourceExhausted(msg, "storage_full");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI:
      return Internal(msg);
    default:
      return Unavailable(msg);
  }
}

TxnHandle& TxnHandle::operator=(TxnHandle&& other) noexcept {
  if (this != &other) {
    Abort();
    txn_ = other.txn_;
    other.txn_ = nullptr;
  }
  return *this;
}

Status TxnHandle::Commit(const std::string& what) {
  MDB_txn* txn = txn_;
  txn_ = nullptr;
  const int rc = mdb_txn_commit(txn);  // frees txn whatever the outcome
  return rc == 0 ? Status::Ok() : LmdbError(what, rc);
}

void TxnHandle::Abort() {
  if (txn_ != nullptr) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

Result<TxnHandle> BeginTxn(MDB_env* env, MDB_txn* parent, unsigned flags, const std::string& what) {
  MDB_txn* txn = nullptr;
  if (const int rc = mdb_txn_begin(env, parent, flags, &txn); rc != 0) {
    return LmdbError(what, rc);
  }
  return TxnHandle(txn);
}

Result<std::optional<std::string>> LmdbKv::Get(Table t, std::string_view key) {
  if (key.empty() || key.size() > 511) {
    return std::optional<std::string>();  // cannot exist; LMDB would say MDB_BAD_VALSIZE
  }
  MDB_val k = Val(key);
  MDB_val v;
  const int rc = mdb_get(txn_, dbis_[t], &k, &v);
  if (rc == MDB_NOTFOUND) {
    return std::optional<std::string>();
  }
  if (rc != 0) {
    return LmdbError(std::string("cannot read ") + TableName(t), rc);
  }
  return std::optional<std::string>(std::string(AsView(v)));
}

Status LmdbKv::Scan(Table t, std::string_view from,
                    const std::function<bool(std::string_view, std::string_view)>& visit) {
  HOSTCA_ASSIGN_OR_RETURN(CursorPtr cur, OpenCursor(txn_, dbis_[t]));
  MDB_val k = Val(from);
  MDB_val v;
  int rc = mdb_cursor_get(cur.get(), &k, &v, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == 0 && visit(AsView(k), AsView(v))) {
    rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return LmdbError(std::string("cannot scan ") + TableName(t), rc);
  }
  return Status::Ok();
}

Result<std::optional<std::pair<std::string, std::string>>> LmdbKv::Last(Table t) {
  HOSTCA_ASSIGN_OR_RETURN(CursorPtr cur, OpenCursor(txn_, dbis_[t]));
  MDB_val k;
  MDB_val v;
  const int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND) {
    return std::optional<std::pair<std::string, std::string>>();
  }
  if (rc != 0) {
    return LmdbError(std::string("cannot scan ") + TableName(t), rc);
  }
  return std::optional(std::pair(std::string(AsView(k)), std::string(AsView(v))));
}

Result<uint64_t> LmdbKv::Count(Table t) {
  MDB_stat st;
  if (const int rc = mdb_stat(txn_, dbis_[t], &st); rc != 0) {
    return LmdbError(std::string("cannot count ") + TableName(t), rc);
  }
  return static_cast<uint64_t>(st.ms_entries);
}

Status LmdbKv::Put(Table t, std::string_view key, std::string_view value) {
  return PutWithFlags(t, key, value, 0);
}

Status LmdbKv::Append(Table t, std::string_view key, std::string_view value) {
  return PutWithFlags(t, key, value, MDB_APPEND);
}

Status LmdbKv::PutWithFlags(Table t, std::string_view key, std::string_view value, unsigned flags) {
  // The record layer keeps keys far below LMDB's limit (511 bytes); this is a
  // backstop so a bad key is an error, not MDB_BAD_VALSIZE.
  if (key.empty() || key.size() > 511) {
    return InvalidArgument(std::string("key of bad length for ") + TableName(t));
  }
  MDB_val k = Val(key);
  MDB_val v = Val(value);
  const int rc = mdb_put(txn_, dbis_[t], &k, &v, flags);
  if (rc == MDB_MAP_FULL) {
    map_full_ = true;
  }
  if (rc == MDB_KEYEXIST) {  // only MDB_APPEND gives it: the key was not the greatest
    return Failed(Internal(std::string("append out of order in ") + TableName(t)));
  }
  return rc == 0 ? Status::Ok()
                 : Failed(LmdbError(std::string("cannot write ") + TableName(t), rc));
}

Status LmdbKv::Failed(Status st) {
  if (write_error_.ok()) {
    write_error_ = st;
  }
  return st;
}

Status LmdbKv::Del(Table t, std::string_view key) {
  if (key.empty() || key.size() > 511) {
    return Status::Ok();  // cannot exist
  }
  MDB_val k = Val(key);
  const int rc = mdb_del(txn_, dbis_[t], &k, nullptr);
  if (rc == MDB_MAP_FULL) {
    map_full_ = true;  // a delete can need a page (copy-on-write)
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return Failed(LmdbError(std::string("cannot delete from ") + TableName(t), rc));
  }
  return Status::Ok();
}

}  // namespace hostca::storage::internal
