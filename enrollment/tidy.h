// Tidy (DESIGN.md section 10): removes the records of certificates that
// expired more than `retention_seconds` ago. Their CRL entries have already
// left the CRL (entries leave once the certificate expired). Works through
// the expiry index in bounded batches, so it costs what it removes, not what
// the store holds.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "storage/storage.h"

namespace hostca::enrollment {

struct TidyOptions {
  int64_t retention_seconds = 90LL * 86400;  // keep expired records this long
  size_t batch = 1000;                       // records removed per transaction
};

// Returns how many records were removed; appends one audit entry when any were.
Result<uint64_t> TidyExpired(storage::Storage& store, int64_t now, const TidyOptions& options,
                             const std::string& actor);

}  // namespace hostca::enrollment
