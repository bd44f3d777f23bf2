// The key-value layer under the typed store: ordered tables of byte keys.
// The record logic (record_txn.cpp) is written once against it; LMDB
// (lmdb_kv.h) and the in-memory store implement it. An object of these
// interfaces is one transaction: not thread-safe, valid while it lasts.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::storage::internal {

enum Table : int {
  kCerts = 0,      // serial -> CertRecord
  kCertsByHost,    // host_id \0 serial -> "": stores before hostca-lmdb-3, read and drained
  kCertsByExpiry,  // be64(not_after ^ sign) serial -> ""
  kCertsByStatus,  // status byte, serial -> EncodeRevocation, or "" (older; not valid ones only)
  kHosts,          // host_id -> HostRecord, and host_id \0 serial -> "" (its certificates)
  kHostNames,      // name -> host_id
  kTokens,         // hash -> TokenRecord
  kTokenNames,     // name -> hash
  kMappings,       // id -> MappingRecord
  kMeta,           // key -> value
  kAudit,          // be64(seq) -> AuditEntry
  kCertBodies,     // be64(seq) -> certificate DER, append-only (a CertRecord names its seq)
  kNumTables
};
const char* TableName(Table t);

class KvRead {
 public:
  virtual ~KvRead() = default;
  virtual Result<std::optional<std::string>> Get(Table t, std::string_view key) = 0;
  // Visits keys >= from in order until visit returns false.
  virtual Status Scan(Table t, std::string_view from,
                      const std::function<bool(std::string_view, std::string_view)>& visit) = 0;
  // The greatest key and its value, or nullopt when empty.
  virtual Result<std::optional<std::pair<std::string, std::string>>> Last(Table t) = 0;
  virtual Result<uint64_t> Count(Table t) = 0;
};

class KvWrite : public KvRead {
 public:
  // resource_exhausted "map_full" when the store is full.
  virtual Status Put(Table t, std::string_view key, std::string_view value) = 0;
  virtual Status Del(Table t, std::string_view key) = 0;  // absent keys are fine
  // Put of a key greater than every key of `t` (sequence-keyed tables):
  // LMDB then fills pages completely instead of splitting them in half.
  // internal when the key is not the greatest.
  virtual Status Append(Table t, std::string_view key, std::string_view value) = 0;
};

// Reason of the status a backend returns when its map is full; the writer
// grows the map and retries the batch.
inline constexpr char kMapFullReason[] = "map_full";

}  // namespace hostca::storage::internal
