#include "enrollment/external.h"

#include <algorithm>

#include "common/encoding.h"
#include "common/pem.h"
#include "enrollment/names.h"

namespace hostca::enrollment {
namespace {

Result<std::string> RecordKey(const crl::ExternalCertInfo& info) {
  return HexDecode(info.fingerprint_sha256);
}

}  // namespace

Result<ExternalIdentity> ParseExternalIdentity(std::string_view name) {
  if (name == "san") {
    return ExternalIdentity::kSanDns;
  }
  if (name == "subject") {
    return ExternalIdentity::kSubjectCn;
  }
  return InvalidArgument("identity must be san or subject", "bad_identity");
}

Result<ExternalEnrolled> ExternalEnrollment::Enroll(X509* cert, STACK_OF(X509) * chain,
                                                    const std::string& requested) {
  if (cert == nullptr) {
    return Unauthenticated(
        "external enrollment needs TLS client authentication with the external certificate",
        "client_cert_required");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string hostname, NormalizeHostname(requested));
  HOSTCA_ASSIGN_OR_RETURN(const crl::ExternalCertInfo info, verifier_.Verify(cert, chain));
  const bool named = identity_ == ExternalIdentity::kSanDns
                         ? std::find(info.dns_names.begin(), info.dns_names.end(), hostname) !=
                               info.dns_names.end()
                         : AsciiLower(info.subject_cn) == hostname;
  if (!named) {
    return PermissionDenied(
        "the external certificate (" + info.subject_dn + ") does not name " + hostname +
            (identity_ == ExternalIdentity::kSanDns ? " among its SAN DNS names"
                                                    : " as its subject's common name"),
        "external_identity_mismatch");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string key, RecordKey(info));
  const int64_t now = clock_.NowSeconds();
  ExternalEnrolled out;
  out.fingerprint_sha256 = info.fingerprint_sha256;
  out.not_after = info.not_after;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    out.replaced = false;
    auto host = txn.GetHostByName(hostname);
    if (!host.ok()) {
      return host.status().code() == Code::kNotFound
                 ? NotFound(hostname +
                                " is not a known host: an admin adds it first "
                                "(hostca host add), or the host enrolls with hostca once",
                            "unknown_host")
                 : host.status();
    }
    out.host_id = host->host_id;
    if (identity_ == ExternalIdentity::kSanDns) {
      for (const std::string& name : info.dns_names) {
        auto owner = txn.GetHostByName(name);
        if (owner.ok() && owner->host_id != host->host_id) {
          return PermissionDenied(
              "the external certificate also names " + name + ", which belongs to another host",
              "external_identity_mismatch");
        }
      }
    }
    if (auto existing = txn.GetCert(key); existing.ok()) {
      if (existing->host_id != host->host_id) {
        return PermissionDenied("this external certificate is enrolled for another host",
                                "external_identity_mismatch");
      }
      return Status::Ok();  // enrolled before: nothing changes
    } else if (existing.status().code() != Code::kNotFound) {
      return existing.status();
    }
    HOSTCA_ASSIGN_OR_RETURN(auto certs, txn.CertsByHost(host->host_id));
    for (const storage::CertRecord& c : certs) {
      if (c.source == "external") {
        HOSTCA_RETURN_IF_ERROR(txn.DeleteCert(c.serial));
        HOSTCA_RETURN_IF_ERROR(AdjustExternalCount(txn, -1));
        out.replaced = true;
      }
    }
    storage::CertRecord rec;
    rec.serial = key;
    rec.host_id = host->host_id;
    rec.names = info.dns_names;
    rec.not_before = info.not_before;
    rec.not_after = info.not_after;
    rec.issued_at = now;
    rec.source = "external";
    rec.der = info.der;
    HOSTCA_RETURN_IF_ERROR(txn.InsertCert(rec));
    HOSTCA_RETURN_IF_ERROR(AdjustExternalCount(txn, +1));
    return txn
        .AppendAudit(now, "host:" + host->host_id, "external.enroll",
                     "fingerprint=" + info.fingerprint_sha256 + " issuer=" + info.issuer_dn +
                         " serial=" + info.serial_hex + (out.replaced ? " replaced" : ""))
        .status();
  }));
  return out;
}

Result<ClientIdentity> ExternalEnrollment::Authenticate(X509* cert, STACK_OF(X509) * chain) const {
  if (cert == nullptr) {
    return Unauthenticated("this call needs TLS client authentication", "client_cert_required");
  }
  HOSTCA_ASSIGN_OR_RETURN(const crl::ExternalCertInfo info, verifier_.Verify(cert, chain));
  HOSTCA_ASSIGN_OR_RETURN(const std::string key, RecordKey(info));
  ClientIdentity who;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    auto rec = txn.GetCert(key);
    if (!rec.ok()) {
      return rec.status().code() == Code::kNotFound
                 ? Unauthenticated(
                       "this external certificate is not enrolled: run hostca external enroll",
                       "external_not_enrolled")
                 : rec.status();
    }
    who.record = std::move(*rec);
    return Status::Ok();
  }));
  if (who.record.source != "external" || who.record.der != info.der) {
    return Unauthenticated("the client certificate does not match the stored one",
                           "client_cert_invalid");
  }
  return who;
}

Status ExternalEnrollment::Remove(const std::string& host_id, const std::string& actor) {
  const int64_t now = clock_.NowSeconds();
  return store_.Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(auto certs, txn.CertsByHost(host_id));
    std::string removed;
    for (const storage::CertRecord& c : certs) {
      if (c.source == "external") {
        HOSTCA_RETURN_IF_ERROR(txn.DeleteCert(c.serial));
        HOSTCA_RETURN_IF_ERROR(AdjustExternalCount(txn, -1));
        removed = HexEncode(c.serial);
      }
    }
    if (removed.empty()) {
      return NotFound("the host has no external certificate enrolled", "external_not_enrolled");
    }
    return txn
        .AppendAudit(now, actor, "external.remove", "host=" + host_id + " fingerprint=" + removed)
        .status();
  });
}

}  // namespace hostca::enrollment
