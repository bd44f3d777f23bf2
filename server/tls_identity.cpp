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

}  // namespace

Result<TlsIdentityFiles> IssueTlsIdentity(const ca::Issuer& issuer,
                                          const std::vector<std::string>& names,
                                          int64_t validity_days, const Clock& clock) {
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(ca::KeyType::kP256));
  ca::IssuanceRequest req;
  req.common_name = "hostca server";
  req.organizational_unit = "servers";
  for (const std::string& n : names) {
    (IsIpAddress(n) ? req.ip_addresses : req.dns_names).push_back(n);
  }
  req.public_key = key.get();
  req.serial = ca::NewSerial();
  const int64_t now = clock.NowSeconds();
  req.not_before = now - 300;
  req.not_after = now + validity_days * 86400;
  HOSTCA_ASSIGN_OR_RETURN(ca::IssuedCertificate issued, issuer.Issue(req));

  TlsIdentityFiles out;
  HOSTCA_ASSIGN_OR_RETURN(out.key_pem, PrivateKeyToPem(key.get()));
  out.cert_chain_pem = issued.pem;
  for (const std::string& pem : issuer.chain_pem()) {
    // The served chain stops below the root when there is an intermediate;
    // sending the root too is harmless and keeps this simple.
    out.cert_chain_pem += pem;
  }
  out.record.serial = issued.serial;
  out.record.host_id = "hostca-server";
  out.record.names = names;
  out.record.not_before = issued.not_before;
  out.record.not_after = issued.not_after;
  out.record.issued_at = now;
  out.record.der = issued.der;
  return out;
}

Result<TlsIdentityFiles> IssueAdminIdentity(const ca::Issuer& issuer, const std::string& name,
                                            int64_t validity_days, const Clock& clock) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos) {
    return InvalidArgument("admin name must be 1..64 characters of A-Z a-z 0-9 . _ -");
  }
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(ca::KeyType::kP256));
  ca::IssuanceRequest req;
  req.common_name = name;
  req.organizational_unit = "admins";
  req.uris = {"urn:hostca:admin:" + name};
  req.public_key = key.get();
  req.serial = ca::NewSerial();
  const int64_t now = clock.NowSeconds();
  req.not_before = now - 300;
  req.not_after = now + validity_days * 86400;
  HOSTCA_ASSIGN_OR_RETURN(ca::IssuedCertificate issued, issuer.Issue(req));
  TlsIdentityFiles out;
  HOSTCA_ASSIGN_OR_RETURN(out.key_pem, PrivateKeyToPem(key.get()));
  out.cert_chain_pem = issued.pem;
  out.record.serial = issued.serial;
  out.record.host_id = "admin:" + name;
  out.record.not_before = issued.not_before;
  out.record.not_after = issued.not_after;
  out.record.issued_at = now;
  out.record.der = issued.der;
  return out;
}

}  // namespace hostca::server
