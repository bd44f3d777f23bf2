#include "server/tls_identity.h"

#include <arpa/inet.h>

#include "ca/keys.h"
#include "common/pem.h"

namespace hostca::server {
namespace {

bool IsIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// A certificate for `public_key` per `req` (names, subject), valid from
// now - 5 min for `validity_days`, with its inventory record; no key_pem.
Result<TlsIdentityFiles> IssueForKey(const ca::Issuer& issuer, ca::IssuanceRequest req,
                                     EVP_PKEY* public_key, const std::string& host_id,
                                     int64_t validity_days, const Clock& clock) {
  req.public_key = public_key;
  req.serial = ca::NewSerial();
  const int64_t now = clock.NowSeconds();
  req.not_before = now - 300;
  req.not_after = now + validity_days * 86400;
  HOSTCA_ASSIGN_OR_RETURN(ca::IssuedCertificate issued, issuer.Issue(req));
  TlsIdentityFiles out;
  out.cert_chain_pem = issued.pem;
  out.record.serial = issued.serial;
  out.record.host_id = host_id;
  out.record.names = req.dns_names;
  out.record.names.insert(out.record.names.end(), req.ip_addresses.begin(), req.ip_addresses.end());
  out.record.not_before = issued.not_before;
  out.record.not_after = issued.not_after;
  out.record.issued_at = now;
  out.record.der = std::move(issued.der);
  return out;
}

// The same for a new P-256 key, whose PEM goes into key_pem.
Result<TlsIdentityFiles> IssueWithNewKey(const ca::Issuer& issuer, const ca::IssuanceRequest& req,
                                         const std::string& host_id, int64_t validity_days,
                                         const Clock& clock) {
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(ca::KeyType::kP256));
  HOSTCA_ASSIGN_OR_RETURN(TlsIdentityFiles out,
                          IssueForKey(issuer, req, key.get(), host_id, validity_days, clock));
  HOSTCA_ASSIGN_OR_RETURN(out.key_pem, PrivateKeyToPem(key.get()));
  return out;
}

}  // namespace

Result<TlsIdentityFiles> IssueTlsIdentity(const ca::Issuer& issuer,
                                          const std::vector<std::string>& names,
                                          int64_t validity_days, const Clock& clock) {
  ca::IssuanceRequest req;
  req.common_name = "hostca server";
  req.organizational_unit = "servers";
  for (const std::string& n : names) {
    (IsIpAddress(n) ? req.ip_addresses : req.dns_names).push_back(n);
  }
  HOSTCA_ASSIGN_OR_RETURN(TlsIdentityFiles out,
                          IssueWithNewKey(issuer, req, "hostca-server", validity_days, clock));
  for (const std::string& pem : issuer.chain_pem()) {
    // The served chain stops below the root when there is an intermediate;
    // sending the root too is harmless and keeps this simple.
    out.cert_chain_pem += pem;
  }
  return out;
}

Status CheckAdminName(const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos) {
    return InvalidArgument("admin name must be 1..64 characters of A-Z a-z 0-9 . _ -",
                           "bad_admin_name");
  }
  return Status::Ok();
}

Result<TlsIdentityFiles> IssueAdminIdentity(const ca::Issuer& issuer, const std::string& name,
                                            int64_t validity_days, const Clock& clock,
                                            EVP_PKEY* public_key) {
  HOSTCA_RETURN_IF_ERROR(CheckAdminName(name));
  if (validity_days < 1 || validity_days > 3650) {
    return InvalidArgument("an admin certificate is valid for 1..3650 days", "bad_validity");
  }
  ca::IssuanceRequest req;
  req.common_name = name;
  req.organizational_unit = "admins";
  req.uris = {"urn:hostca:admin:" + name};
  return public_key == nullptr
             ? IssueWithNewKey(issuer, req, "admin:" + name, validity_days, clock)
             : IssueForKey(issuer, req, public_key, "admin:" + name, validity_days, clock);
}

Status RecordAdminCert(storage::Storage& store, const storage::CertRecord& record,
                       const std::string& name, const std::string& actor, int64_t now) {
  const std::string serial = ca::SerialToHex(record.serial);
  return store.Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_RETURN_IF_ERROR(txn.InsertCert(record));
    return txn.AppendAudit(now, actor, "admin_cert.issue", "name=" + name + " serial=" + serial)
        .status();
  });
}

}  // namespace hostca::server
