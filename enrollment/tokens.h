// Authorization tokens (DESIGN.md section 5): made by admins, shown once,
// stored only as a SHA-256 hash, spent in the same store transaction that
// stores the certificate they pay for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/storage.h"

namespace hostca::enrollment {

struct TokenSpec {
  std::string name;             // unique, 1..64 of [A-Za-z0-9._-]
  uint32_t max_uses = 1;        // 1..100000; reissue tokens are always single-use
  int64_t ttl_seconds = 86400;  // 60 s .. 365 days
  std::string reason;           // free text for the audit log, at most 256 bytes
  std::string host_id;          // set: a reissue token bound to this host
};

struct CreatedToken {
  std::string name;
  std::string value;  // 32 random bytes, base64url: shown once, never stored
  int64_t expires_at = 0;
};

// invalid_argument for a bad name, count, TTL or reason.
Status ValidateTokenSpec(const TokenSpec& spec);

// Builds the record and value of a new token. Does not store it.
CreatedToken NewToken(const TokenSpec& spec, int64_t now, storage::TokenRecord* record);

// The store key of a presented token value; invalid_argument "token_invalid"
// when the value cannot be a token (wrong length or alphabet).
Result<std::string> TokenHashOf(std::string_view value);

// Can `token` pay for a certificate of host `host_id` (empty: a new host) at
// `now`? permission_denied with token_expired, token_used_up or
// token_wrong_host.
Status CheckToken(const storage::TokenRecord& token, std::string_view host_id, int64_t now);

// Re-reads the token inside `txn`, checks it and counts one use; returns the
// updated record. Errors as CheckToken plus token_invalid when it no longer
// exists.
Result<storage::TokenRecord> SpendToken(storage::WriteTxn& txn, const std::string& hash,
                                        std::string_view host_id, int64_t now);

// Expired or used up: what `token cleanup` deletes.
bool TokenIsSpent(const storage::TokenRecord& token, int64_t now);

}  // namespace hostca::enrollment
