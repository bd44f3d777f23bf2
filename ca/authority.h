// The CA's own certificate: a self-signed root, or the CSR and the checks
// of an intermediate signed by an external root (DESIGN.md section 3).
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::ca {

struct CaOptions {
  std::string organization = "hostca";  // O= of the CA and of every host certificate
  // 20 years plus the 5 leap days they contain.
  int64_t root_validity_seconds = 20LL * 365 * 86400 + 5 * 86400;
};

// Subject CN=<org> Root CA, O=<org>; basicConstraints critical CA:TRUE;
// keyUsage critical keyCertSign, cRLSign, digitalSignature; SKI; AKI.
Result<X509Ptr> CreateRootCertificate(EVP_PKEY* key, const CaOptions& options, const Clock& clock);

// CN=<org> Intermediate CA, O=<org>, asking for CA:TRUE and keyCertSign/cRLSign.
Result<X509ReqPtr> CreateIntermediateCsr(EVP_PKEY* key, const CaOptions& options);

// The --install-ca-cert checks: the certificate carries `key`'s public key
// ("key_mismatch"), is a CA ("not_a_ca"), is valid now
// ("certificate_expired") and chains to a self-signed root among `issuers`
// ("chain_invalid"). Returns the chain above `cert` up to the root.
Result<std::vector<X509Ptr>> CheckIntermediateCertificate(X509* cert, EVP_PKEY* key,
                                                          const std::vector<X509Ptr>& issuers,
                                                          const Clock& clock);

}  // namespace hostca::ca
