// The typed records hostca stores (storage.h reads and writes them). Plain
// value types with no behaviour; thread safety as for any value.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hostca::storage {

// "expired" is derived from not_after and the time, never stored.
enum class CertStatus : uint8_t { kValid = 0, kRevoked = 1 };
// "valid" or "revoked".
std::string CertStatusName(CertStatus status);

struct CertRecord {
  std::string serial;              // raw big-endian bytes of the serial (16 for ours); the key
  std::string host_id;             // UUID text
  std::vector<std::string> names;  // DNS names in the certificate
  int64_t not_before = 0, not_after = 0, issued_at = 0;  // unix seconds
  CertStatus status = CertStatus::kValid;
  int revocation_reason = -1;  // RFC 5280 CRLReason code, -1 when not revoked
  int64_t revoked_at = 0;
  std::string source = "internal";  // "internal" | "external"
  std::string der;                  // the certificate, DER
};

struct HostRecord {
  std::string host_id;
  std::string primary_name;
  std::vector<std::string> aliases;  // approved extra names
  int64_t created_at = 0;
  bool preregistered = false;  // added by an admin
  int64_t reissue_until = 0;   // end of an open reissue window, 0 = none
};

struct TokenRecord {
  std::string hash;  // raw SHA-256 of the token value (the key); the value is never stored
  std::string name;  // unique
  uint32_t max_uses = 1, uses = 0;
  int64_t created_at = 0, expires_at = 0;
  std::string reason, host_id;  // host_id set: a reissue token
};

// A name a host asked for that waits for an admin's approval.
struct MappingRecord {
  std::string id;  // random hex
  std::string host_id;
  std::string name;
  int64_t requested_at = 0;
};

struct AuditEntry {
  uint64_t seq = 0;  // 1, 2, 3, ... assigned by AppendAudit
  int64_t time = 0;
  std::string actor, action, detail;  // never secrets
  std::string prev_hash, hash;        // raw SHA-256 (common/audit_hash.h)
};

// Counters for /metrics. writes counts the Update calls in committed
// batches; failed_commits the batches whose commit failed.
struct StorageStats {
  uint64_t commits = 0, writes = 0, failed_commits = 0, max_batch = 0;
  // Batch sizes: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+.
  std::array<uint64_t, 8> batch_histogram{};
  // Wall time of each successful group commit's Commit call: its page
  // writes and fsyncs, what a caller waits for once its write ran. Counts
  // per bucket (not cumulative) of the upper bounds kCommitSecondsLe, the
  // last one unbounded; their sum is `commits`.
  static constexpr std::array<double, 9> kCommitSecondsLe{0.0005, 0.001, 0.002, 0.004, 0.008,
                                                          0.016,  0.032, 0.1,   1.0};
  std::array<uint64_t, 10> commit_seconds_histogram{};
  double commit_seconds = 0;  // sum over the successful commits
  // Time the writer spent running the writes of the batches it committed,
  // before each Commit (B-tree lookups and updates in memory).
  double apply_seconds = 0;
  uint64_t map_size_bytes = 0, used_bytes = 0, cert_count = 0;  // sizes: 0 in memory
  // Pages of used_bytes on LMDB's freelist, in bytes: free for commits to
  // reuse (storage/README.md, "Free pages"). 0 in memory.
  uint64_t free_bytes = 0;
  uint64_t map_resizes = 0;  // times the LMDB map grew since open
  // The map takes one page per read fault, without the kernel's
  // fault-around (storage/internal/single_page_faults.h; Linux 6.7+).
  bool single_page_faults = false;
  // The redo log (storage/README.md): checkpoints made durable since open,
  // their time from start to durable, the commits appended to the log and
  // the time of those appends with their fdatasync (part of commit_seconds:
  // the rest is LMDB's own commit), and the transactions the open
  // replayed after a crash. 0 without the log.
  uint64_t checkpoints = 0;
  double checkpoint_seconds = 0;
  uint64_t log_appends = 0;
  double log_seconds = 0;
  uint64_t replayed = 0;
  // Writebacks of data.mdb's dirty pages started between checkpoints
  // (LmdbOptions::writeback_ms).
  uint64_t writebacks = 0;
  // True once the store stopped writing (Storage::WriteHealth).
  bool writes_stopped = false;
};

}  // namespace hostca::storage
