// The writes of a transaction as bytes, for the redo log (redo_log.h,
// storage/README.md "Next: a redo log in front of LMDB"): RecordingKv
// passes every call on to the transaction it wraps and records the writes
// that succeeded; ReplayOps applies such a record to another transaction.
// NOT YET USED by the store.
//
// Encoding, per write: op byte ('P' put, 'D' delete, 'A' append), table
// byte, key length (u16) and key, then for P and A the value length (u32)
// and value; integers big-endian. Decoding never trusts its input:
// malformed bytes give internal "corrupt redo record".
//
// Thread safety: as the transaction it wraps (one thread).
#pragma once

#include <string>
#include <string_view>

#include "storage/internal/kv.h"

namespace hostca::storage::internal {

class RecordingKv final : public KvWrite {
 public:
  // `inner` must outlive this object; writes are appended to *ops.
  RecordingKv(KvWrite& inner, std::string* ops) : inner_(inner), ops_(ops) {}

  Result<std::optional<std::string>> Get(Table t, std::string_view key) override {
    return inner_.Get(t, key);
  }
  Status Scan(Table t, std::string_view from,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return inner_.Scan(t, from, visit);
  }
  Result<std::optional<std::pair<std::string, std::string>>> Last(Table t) override {
    return inner_.Last(t);
  }
  Result<uint64_t> Count(Table t) override { return inner_.Count(t); }
  Status Put(Table t, std::string_view key, std::string_view value) override;
  Status Del(Table t, std::string_view key) override;
  Status Append(Table t, std::string_view key, std::string_view value) override;

 private:
  KvWrite& inner_;
  std::string* ops_;
};

// Applies the writes encoded in `ops`, in order, to `w`.
Status ReplayOps(std::string_view ops, KvWrite& w);

}  // namespace hostca::storage::internal
