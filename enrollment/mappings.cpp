#include "enrollment/mappings.h"

#include <algorithm>

#include "common/encoding.h"
#include "enrollment/names.h"

namespace hostca::enrollment {

Status QueueMapping(storage::WriteTxn& txn, const std::string& host_id, const std::string& name,
                    int64_t now) {
  auto normalized = NormalizeHostname(name);
  if (!normalized.ok()) {
    return Status::Ok();
  }
  HOSTCA_ASSIGN_OR_RETURN(auto waiting, txn.ListMappings());
  for (const storage::MappingRecord& m : waiting) {
    if (m.host_id == host_id && m.name == *normalized) {
      return Status::Ok();
    }
  }
  storage::MappingRecord rec;
  rec.id = HexEncode(RandomBytes(8));
  rec.host_id = host_id;
  rec.name = *normalized;
  rec.requested_at = now;
  HOSTCA_RETURN_IF_ERROR(txn.PutMapping(rec));
  return txn.AppendAudit(now, "host:" + host_id, "mapping.request", "name=" + rec.name).status();
}

Status ApproveMapping(storage::WriteTxn& txn, const std::string& id, int64_t now,
                      const std::string& actor) {
  HOSTCA_ASSIGN_OR_RETURN(storage::MappingRecord m, txn.GetMapping(id));
  HOSTCA_ASSIGN_OR_RETURN(storage::HostRecord host, txn.GetHost(m.host_id));
  auto owner = txn.GetHostByName(m.name);
  if (owner.ok() && owner->host_id != host.host_id) {
    return Conflict(m.name + " belongs to host " + owner->host_id, "name_conflict");
  }
  if (!owner.ok()) {
    host.aliases.push_back(m.name);
    HOSTCA_RETURN_IF_ERROR(txn.PutHost(host));
  }
  HOSTCA_RETURN_IF_ERROR(txn.DeleteMapping(id));
  return txn.AppendAudit(now, actor, "mapping.approve", "host=" + host.host_id + " name=" + m.name)
      .status();
}

Status RejectMapping(storage::WriteTxn& txn, const std::string& id, int64_t now,
                     const std::string& actor) {
  HOSTCA_ASSIGN_OR_RETURN(storage::MappingRecord m, txn.GetMapping(id));
  HOSTCA_RETURN_IF_ERROR(txn.DeleteMapping(id));
  return txn.AppendAudit(now, actor, "mapping.reject", "host=" + m.host_id + " name=" + m.name)
      .status();
}

}  // namespace hostca::enrollment
