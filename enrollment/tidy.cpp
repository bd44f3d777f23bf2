#include "enrollment/tidy.h"

#include <limits>

#include "enrollment/domain_mode.h"

namespace hostca::enrollment {

Result<uint64_t> TidyExpired(storage::Storage& store, int64_t now, const TidyOptions& options,
                             const std::string& actor) {
  const int64_t cutoff = now - options.retention_seconds;
  uint64_t total = 0;
  while (true) {
    size_t removed = 0;
    HOSTCA_RETURN_IF_ERROR(store.Update([&](storage::WriteTxn& txn) -> Status {
      removed = 0;
      HOSTCA_ASSIGN_OR_RETURN(
          auto expired,
          txn.CertsExpiringBetween(std::numeric_limits<int64_t>::min(), cutoff, options.batch));
      for (const auto& rec : expired) {
        HOSTCA_RETURN_IF_ERROR(txn.DeleteCert(rec.serial));
        if (rec.source == "external") {
          HOSTCA_RETURN_IF_ERROR(AdjustExternalCount(txn, -1));
        }
        ++removed;
      }
      return Status::Ok();
    }));
    total += removed;
    if (removed < options.batch) {
      break;
    }
  }
  if (total > 0) {
    HOSTCA_RETURN_IF_ERROR(store.Update([&](storage::WriteTxn& txn) {
      return txn
          .AppendAudit(
              now, actor, "tidy",
              "removed=" + std::to_string(total) + " expired_before=" + std::to_string(cutoff))
          .status();
    }));
  }
  return total;
}

}  // namespace hostca::enrollment
