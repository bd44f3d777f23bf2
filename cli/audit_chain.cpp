#include "cli/audit_chain.h"

#include "common/audit_hash.h"
#include "common/encoding.h"

namespace hostca::cli {

Status AuditChainVerifier::Broken(const std::string& why) {
  bad_seq_ = next_seq_;
  failure_ = InvalidArgument("audit chain broken at seq " + std::to_string(next_seq_) + ": " + why,
                             "audit_chain_broken");
  return failure_;
}

Status AuditChainVerifier::Add(const nlohmann::json& entry) {
  if (bad_seq_.has_value()) {
    return failure_;
  }
  const bool well_formed =
      entry.is_object() && entry.contains("seq") && entry["seq"].is_number_integer() &&
      (entry["seq"].is_number_unsigned() || entry["seq"].get<int64_t>() >= 0) &&
      entry.contains("time_unix") && entry["time_unix"].is_number_integer() &&
      entry.contains("actor") && entry["actor"].is_string() && entry.contains("action") &&
      entry["action"].is_string() && entry.contains("detail") && entry["detail"].is_string() &&
      entry.contains("prev_hash") && entry["prev_hash"].is_string() && entry.contains("hash") &&
      entry["hash"].is_string();
  if (!well_formed) {
    return Broken("malformed entry " + entry.dump());
  }
  const uint64_t seq = entry["seq"].get<uint64_t>();
  if (seq != next_seq_) {
    return Broken(seq > next_seq_ ? "entry missing (next entry has seq " + std::to_string(seq) + ")"
                                  : "out of order (found seq " + std::to_string(seq) + ")");
  }
  const auto prev = HexDecode(entry["prev_hash"].get<std::string>());
  const auto hash = HexDecode(entry["hash"].get<std::string>());
  if (!prev.ok() || !hash.ok()) {
    return Broken("hash is not hex");
  }
  const std::string expected_prev = prev_hash_.empty() ? AuditGenesisHash() : prev_hash_;
  if (*prev != expected_prev) {
    return Broken("prev_hash does not match the previous entry's hash");
  }
  const std::string recomputed = AuditEntryHash(
      *prev, seq, entry["time_unix"].get<int64_t>(), entry["actor"].get<std::string>(),
      entry["action"].get<std::string>(), entry["detail"].get<std::string>());
  if (recomputed != *hash) {
    return Broken("hash does not match the entry's content");
  }
  prev_hash_ = *hash;
  ++next_seq_;
  ++count_;
  return Status::Ok();
}

}  // namespace hostca::cli
