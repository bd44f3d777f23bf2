// The server's own TLS identity: a P-256 key and a certificate issued by the
// CA for the names operators reach the server by (`--server-name`).
#pragma once

#include <string>
#include <vector>

#include "ca/issuer.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/records.h"

namespace hostca::server {

struct TlsIdentityFiles {
  std::string key_pem;         // unencrypted PKCS#8; written 0600
  std::string cert_chain_pem;  // leaf, then the CA chain
  storage::CertRecord record;  // for the inventory
};

// Names that parse as IPv4/IPv6 addresses become IP SANs, the rest DNS SANs.
Result<TlsIdentityFiles> IssueTlsIdentity(const ca::Issuer& issuer,
                                          const std::vector<std::string>& names,
                                          int64_t validity_days, const Clock& clock);

// An admin client certificate for `name`: subject CN=<name>, OU=admins, SAN
// URI urn:hostca:admin:<name>; its record's host ID is "admin:<name>", which
// is what the API accepts as admin authentication.
Result<TlsIdentityFiles> IssueAdminIdentity(const ca::Issuer& issuer, const std::string& name,
                                            int64_t validity_days, const Clock& clock);

}  // namespace hostca::server
