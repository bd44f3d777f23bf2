// The server's own TLS identity: a P-256 key and a certificate issued by the
// CA for the names operators reach the server by (`--server-name`).
#pragma once

#include <string>
#include <vector>

#include "ca/issuer.h"
#include "common/clock.h"
#include "common/status.h"
#include "storage/records.h"
#include "storage/storage.h"

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

// invalid_argument "bad_admin_name" unless `name` is 1..64 of A-Z a-z 0-9 . _ -
Status CheckAdminName(const std::string& name);

// An admin client certificate for `name`: subject CN=<name>, OU=admins, SAN
// URI urn:hostca:admin:<name>; its record's host ID is "admin:<name>", which
// is what the API accepts as admin authentication. For `public_key` (from
// a checked CSR; key_pem stays empty), or for a new P-256 key when null.
// invalid_argument "bad_admin_name", "bad_validity" (1..3650 days).
Result<TlsIdentityFiles> IssueAdminIdentity(const ca::Issuer& issuer, const std::string& name,
                                            int64_t validity_days, const Clock& clock,
                                            EVP_PKEY* public_key = nullptr);

// Stores an admin certificate's record and its audit entry
// ("admin_cert.issue" by `actor`) in one transaction.
Status RecordAdminCert(storage::Storage& store, const storage::CertRecord& record,
                       const std::string& name, const std::string& actor, int64_t now);

}  // namespace hostca::server
