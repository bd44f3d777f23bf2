// AuditChainVerifier: checks the audit log's hash chain (DESIGN.md section
// 10, common/audit_hash.h) entry by entry as `hostca audit verify` pages
// through GET /v1/audit, so a log of any length is checked in constant memory.
//
// The chain starts at seq 1 with prev_hash = AuditGenesisHash(). Each entry
// must carry the next seq, the previous entry's hash as prev_hash, and a hash
// that recomputes from its fields. The first failure is sticky: later Add
// calls return the same status.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"

namespace hostca::cli {

class AuditChainVerifier {
 public:
  // Checks the next entry as the server renders it: {seq, time_unix, actor,
  // action, detail, prev_hash (hex), hash (hex)}. On failure returns
  // invalid_argument "audit_chain_broken" and records bad_seq(): the seq
  // expected at the position where the chain broke (for a missing entry the
  // missing seq; for a changed or reordered entry the seq that should stand
  // there).
  Status Add(const nlohmann::json& entry);

  // Entries verified so far.
  uint64_t count() const { return count_; }
  // The seq the next entry must carry.
  uint64_t next_seq() const { return next_seq_; }
  std::optional<uint64_t> bad_seq() const { return bad_seq_; }

 private:
  Status Broken(const std::string& why);

  uint64_t count_ = 0;
  uint64_t next_seq_ = 1;
  std::string prev_hash_;  // raw bytes; empty means genesis
  std::optional<uint64_t> bad_seq_;
  Status failure_;
};

}  // namespace hostca::cli
