#include "enrollment/admin.h"

#include <algorithm>

#include "ca/issuer.h"
#include "common/encoding.h"
#include "enrollment/mappings.h"
#include "enrollment/names.h"
#include "enrollment/service.h"

namespace hostca::enrollment {
namespace {

Status RevokeRecord(storage::WriteTxn& txn, storage::CertRecord rec, int reason, int64_t now,
                    std::vector<storage::CertRecord>* revoked) {
  rec.status = storage::CertStatus::kRevoked;
  rec.revocation_reason = reason;
  rec.revoked_at = now;
  HOSTCA_RETURN_IF_ERROR(txn.UpdateCert(rec));
  revoked->push_back(std::move(rec));
  return Status::Ok();
}

}  // namespace

Status AdminService::CheckAdminToken(const std::string& presented) const {
  std::string stored;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(stored, txn.GetMeta("admin_token_sha256"));
    return Status::Ok();
  }));
  // Hashing first makes the comparison length-independent as well.
  if (presented.empty() || !ConstantTimeEquals(HexEncode(Sha256(presented)), stored)) {
    return Unauthenticated("missing or wrong admin credentials", "admin_unauthenticated");
  }
  return Status::Ok();
}

Result<CreatedToken> AdminService::CreateToken(const TokenSpec& spec, const std::string& actor) {
  HOSTCA_RETURN_IF_ERROR(ValidateTokenSpec(spec));
  const int64_t now = clock_.NowSeconds();
  storage::TokenRecord rec;
  CreatedToken created = NewToken(spec, now, &rec);
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    if (txn.GetTokenByName(spec.name).ok()) {
      return AlreadyExists("a token named '" + spec.name + "' exists", "token_name_taken");
    }
    if (!spec.host_id.empty()) {
      HOSTCA_RETURN_IF_ERROR(txn.GetHost(spec.host_id).status());
    }
    HOSTCA_RETURN_IF_ERROR(txn.PutToken(rec));
    return txn
        .AppendAudit(now, actor, "token.create",
                     "name=" + spec.name + " max_uses=" + std::to_string(spec.max_uses) +
                         (spec.host_id.empty() ? "" : " host=" + spec.host_id))
        .status();
  }));
  return created;
}

Result<std::vector<storage::TokenRecord>> AdminService::ListTokens() const {
  std::vector<storage::TokenRecord> out;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(out, txn.ListTokens());
    return Status::Ok();
  }));
  return out;
}

Status AdminService::DeleteToken(const std::string& name, const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  return store_.Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(auto token, txn.GetTokenByName(name));
    HOSTCA_RETURN_IF_ERROR(txn.DeleteToken(token.hash));
    return txn.AppendAudit(now, actor, "token.delete", "name=" + name).status();
  });
}

Result<int> AdminService::CleanupTokens(const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  int removed = 0;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    removed = 0;
    HOSTCA_ASSIGN_OR_RETURN(auto tokens, txn.ListTokens());
    for (const auto& t : tokens) {
      if (TokenIsSpent(t, now)) {
        HOSTCA_RETURN_IF_ERROR(txn.DeleteToken(t.hash));
        ++removed;
      }
    }
    return txn.AppendAudit(now, actor, "token.cleanup", "removed=" + std::to_string(removed))
        .status();
  }));
  return removed;
}

Result<std::string> AdminService::AddHost(const std::string& hostname,
                                          const std::vector<std::string>& aliases,
                                          const std::string& actor) {
  storage::HostRecord host;
  HOSTCA_ASSIGN_OR_RETURN(host.primary_name, NormalizeHostname(hostname));
  for (const std::string& a : aliases) {
    HOSTCA_ASSIGN_OR_RETURN(std::string alias, NormalizeHostname(a));
    if (alias != host.primary_name &&
        std::find(host.aliases.begin(), host.aliases.end(), alias) == host.aliases.end()) {
      host.aliases.push_back(alias);
    }
  }
  const int64_t now = clock_.NowSeconds();
  host.host_id = NewHostId();
  host.created_at = now;
  host.preregistered = true;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    std::vector<std::string> names = host.aliases;
    names.push_back(host.primary_name);
    for (const std::string& n : names) {
      if (auto owner = txn.GetHostByName(n); owner.ok()) {
        return Conflict(n + " belongs to host " + owner->host_id, "name_conflict");
      }
    }
    HOSTCA_RETURN_IF_ERROR(txn.PutHost(host));
    return txn
        .AppendAudit(now, actor, "host.add", "host=" + host.host_id + " name=" + host.primary_name)
        .status();
  }));
  return host.host_id;
}

Result<storage::HostRecord> AdminService::FindHost(storage::ReadTxn& txn,
                                                   const std::string& id_or_name) const {
  if (IsHostId(id_or_name)) {
    return txn.GetHost(id_or_name);
  }
  auto name = NormalizeHostname(id_or_name);
  if (!name.ok()) {
    return NotFound("no host " + id_or_name);
  }
  return txn.GetHostByName(*name);
}

Result<std::vector<storage::HostRecord>> AdminService::ListHosts() const {
  std::vector<storage::HostRecord> out;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(out, txn.ListHosts());
    return Status::Ok();
  }));
  return out;
}

Result<HostView> AdminService::GetHost(const std::string& id_or_name) const {
  HostView view;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(view.host, FindHost(txn, id_or_name));
    HOSTCA_ASSIGN_OR_RETURN(view.certs, txn.CertsByHost(view.host.host_id));
    return Status::Ok();
  }));
  return view;
}

Status AdminService::AllowReissue(const std::string& id_or_name, int64_t seconds,
                                  const std::string& actor) {
  if (seconds < 60 || seconds > 30LL * 86400) {
    return InvalidArgument("seconds must be between 60 and 2592000 (30 days)");
  }
  const int64_t now = clock_.NowSeconds();
  return store_.Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(auto host, FindHost(txn, id_or_name));
    host.reissue_until = now + seconds;
    HOSTCA_RETURN_IF_ERROR(txn.PutHost(host));
    return txn
        .AppendAudit(now, actor, "host.allow_reissue",
                     "host=" + host.host_id + " seconds=" + std::to_string(seconds))
        .status();
  });
}

Result<int> AdminService::RevokeHost(const std::string& id_or_name, int reason,
                                     const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  int revoked = 0;
  std::vector<storage::CertRecord> records;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    revoked = 0;
    records.clear();
    HOSTCA_ASSIGN_OR_RETURN(auto host, FindHost(txn, id_or_name));
    HOSTCA_ASSIGN_OR_RETURN(auto certs, txn.CertsByHost(host.host_id));
    for (const auto& c : certs) {
      // External certificates are revoked by their CA, not on this CRL.
      if (c.status == storage::CertStatus::kValid && c.source != "external") {
        HOSTCA_RETURN_IF_ERROR(RevokeRecord(txn, c, reason, now, &records));
        ++revoked;
      }
    }
    return txn
        .AppendAudit(now, actor, "host.revoke",
                     "host=" + host.host_id + " reason=" + RevocationReasonName(reason) +
                         " certificates=" + std::to_string(revoked))
        .status();
  }));
  Announce(records);
  return revoked;
}

Result<std::vector<storage::MappingRecord>> AdminService::ListMappings() const {
  std::vector<storage::MappingRecord> out;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(out, txn.ListMappings());
    return Status::Ok();
  }));
  return out;
}

Status AdminService::ApproveMapping(const std::string& id, const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  return store_.Update(
      [&](storage::WriteTxn& txn) { return enrollment::ApproveMapping(txn, id, now, actor); });
}

Status AdminService::RejectMapping(const std::string& id, const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  return store_.Update(
      [&](storage::WriteTxn& txn) { return enrollment::RejectMapping(txn, id, now, actor); });
}

namespace {

// Listings walk the indices without the DER (storage::CertRead::kFields);
// the answer shows an external certificate's issuer and serial, read from
// its DER.
Status WithExternalDer(storage::ReadTxn& txn, std::vector<storage::CertRecord>& certs) {
  for (storage::CertRecord& c : certs) {
    if (c.source == "external" && c.der.empty()) {
      HOSTCA_ASSIGN_OR_RETURN(c, txn.GetCert(c.serial));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<storage::CertRecord>> AdminService::ListCerts(const CertFilter& f) const {
  const int64_t now = clock_.NowSeconds();
  if (!f.status.empty() && f.status != "valid" && f.status != "revoked" && f.status != "expired") {
    return InvalidArgument("status must be valid, revoked or expired");
  }
  std::vector<storage::CertRecord> out;
  auto keep = [&](const storage::CertRecord& c) {
    if (!f.status.empty() && CertStatusAt(c, now) != f.status) {
      return false;
    }
    if (f.expires_before != 0 && c.not_after >= f.expires_before) {
      return false;
    }
    return f.name.empty() || std::find(c.names.begin(), c.names.end(), f.name) != c.names.end();
  };
  // Visited, not fetched in bulk: stops at `limit` kept records whatever the
  // filters drop.
  auto take = [&](const storage::CertRecord& c) {
    if (keep(c)) {
      out.push_back(c);
    }
    return out.size() < f.limit;
  };
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    std::vector<storage::CertRecord> candidates;
    if (!f.host.empty()) {
      HOSTCA_ASSIGN_OR_RETURN(auto host, FindHost(txn, f.host));
      HOSTCA_ASSIGN_OR_RETURN(candidates, txn.CertsByHost(host.host_id));
    } else if (f.status == "revoked") {
      HOSTCA_RETURN_IF_ERROR(txn.ForEachCertWithStatus(storage::CertStatus::kRevoked,
                                                       storage::CertRead::kFields, take));
      return WithExternalDer(txn, out);
    } else {
      // Walk the expiry index: "valid" and "expires_before" start at now.
      const int64_t from = (f.status == "valid") ? now + 1 : 0;
      const int64_t to = f.expires_before != 0 ? f.expires_before : INT64_MAX;
      const int64_t to_status = f.status == "expired" ? std::min(to, now + 1) : to;
      HOSTCA_RETURN_IF_ERROR(
          txn.ForEachCertExpiringBetween(from, to_status, storage::CertRead::kFields, take));
      return WithExternalDer(txn, out);
    }
    for (auto& c : candidates) {
      if (out.size() >= f.limit) {
        break;
      }
      if (keep(c)) {
        out.push_back(std::move(c));
      }
    }
    return Status::Ok();
  }));
  return out;
}

namespace {

// A record's key from the API's hex: hostca's serials are at most 21 bytes
// (42 digits); 64 digits are the SHA-256 fingerprint that keys an external
// certificate's record (enrollment/external.h).
Result<std::string> RecordKeyFromHex(const std::string& hex) {
  if (hex.size() == 64) {
    std::string lower = hex;
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (auto raw = HexDecode(lower); raw.ok()) {
      return raw;
    }
  }
  return ca::SerialFromHex(hex);
}

}  // namespace

Result<storage::CertRecord> AdminService::GetCert(const std::string& serial_hex) const {
  HOSTCA_ASSIGN_OR_RETURN(const std::string serial, RecordKeyFromHex(serial_hex));
  storage::CertRecord rec;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(rec, txn.GetCert(serial));
    return Status::Ok();
  }));
  return rec;
}

Status AdminService::RevokeCert(const std::string& serial_hex, int reason,
                                const std::string& actor) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string serial, RecordKeyFromHex(serial_hex));
  const int64_t now = clock_.NowSeconds();
  std::vector<storage::CertRecord> records;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    records.clear();
    HOSTCA_ASSIGN_OR_RETURN(auto rec, txn.GetCert(serial));
    if (rec.source == "external") {
      return Conflict("certificate " + serial_hex +
                          " was signed by an external CA: revoke it there (the host can drop "
                          "it with hostca external remove)",
                      "external_cert");
    }
    if (rec.status == storage::CertStatus::kRevoked) {
      return Conflict("certificate " + serial_hex + " is already revoked", "already_revoked");
    }
    HOSTCA_RETURN_IF_ERROR(RevokeRecord(txn, rec, reason, now, &records));
    return txn
        .AppendAudit(now, actor, "cert.revoke",
                     "serial=" + serial_hex + " reason=" + RevocationReasonName(reason))
        .status();
  }));
  Announce(records);
  return Status::Ok();
}

Result<SecurityLevel> AdminService::GetLevel() const {
  std::string name = "high";
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    if (auto v = txn.GetMeta("security_level"); v.ok()) {
      name = *v;
    }
    return Status::Ok();
  }));
  return ParseSecurityLevel(name);
}

Status AdminService::SetLevel(SecurityLevel level, const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  return store_.Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta("security_level", SecurityLevelName(level)));
    return txn
        .AppendAudit(now, actor, "level.set", "level=" + std::string(SecurityLevelName(level)))
        .status();
  });
}

Result<std::string> AdminService::GetMode() const {
  if (mode_ != nullptr) {
    return std::string(DomainModeName(mode_->Get()));
  }
  std::string mode = "internal";
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    if (auto v = txn.GetMeta("mode"); v.ok()) {
      mode = *v;
    }
    return Status::Ok();
  }));
  return mode;
}

Status AdminService::SetMode(const std::string& name, const std::string& actor) {
  HOSTCA_ASSIGN_OR_RETURN(const DomainMode mode, ParseDomainMode(name));
  if (mode != DomainMode::kInternal && (mode_ == nullptr || !caps_.trust_bundle)) {
    return Conflict("mode " + name +
                        " needs external certificates to be trusted: set [external] "
                        "trust_bundle in the server's configuration and restart it",
                    "external_not_configured");
  }
  if (mode == DomainMode::kExternal && !caps_.server_cert) {
    return Conflict(
        "mode external needs the server's own external certificate for its HTTPS listener: "
        "set [external] server_cert and server_key in the configuration and restart it",
        "external_server_cert_missing");
  }
  const std::lock_guard<std::mutex> lock(mode_mu_);
  const int64_t now = clock_.NowSeconds();
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    if (mode == DomainMode::kExternal) {
      HOSTCA_ASSIGN_OR_RETURN(const int64_t enrolled, ExternalCertCount(txn));
      if (enrolled == 0) {
        return Conflict(
            "mode external would lock every host out: no host has enrolled an external "
            "certificate yet (hostca external enroll); use mode mixed meanwhile",
            "no_external_hosts");
      }
    }
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta("mode", name));
    return txn.AppendAudit(now, actor, "mode.set", "mode=" + name).status();
  }));
  if (mode_ != nullptr) {
    mode_->Set(mode);
  }
  return Status::Ok();
}

Result<std::vector<storage::AuditEntry>> AdminService::ReadAudit(uint64_t from_seq,
                                                                 size_t limit) const {
  std::vector<storage::AuditEntry> out;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(out, txn.ReadAudit(from_seq, std::min<size_t>(limit, 10000)));
    return Status::Ok();
  }));
  return out;
}

}  // namespace hostca::enrollment
