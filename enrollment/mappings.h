// The "mappings to approve" queue (DESIGN.md section 3): names a host asked
// for that are not mapped to it wait here until an admin approves (the name
// becomes an alias of the host) or rejects them.
#pragma once

#include <string>

#include "common/status.h"
#include "storage/storage.h"

namespace hostca::enrollment {

// Adds (host, name) to the queue unless it is already waiting. Names that
// are not valid host names are dropped (they could never be approved).
Status QueueMapping(storage::WriteTxn& txn, const std::string& host_id, const std::string& name,
                    int64_t now);

// Approve: the name becomes an alias of the host. conflict "name_conflict"
// when another host owns it; not_found for an unknown mapping ID.
Status ApproveMapping(storage::WriteTxn& txn, const std::string& id, int64_t now,
                      const std::string& actor);
Status RejectMapping(storage::WriteTxn& txn, const std::string& id, int64_t now,
                     const std::string& actor);

}  // namespace hostca::enrollment
