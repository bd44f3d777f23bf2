// CSR checks (DESIGN.md section 3): the only thing hostca takes from a CSR
// is its public key, after the self-signature verified and the key type
// passed the policy. Input is untrusted: never crashes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::ca {

struct CsrPolicy {
  int min_rsa_bits = 2048;
};

struct CheckedCsr {
  EvpPkeyPtr public_key;
  std::string key_description;                   // "ECDSA P-256", "RSA 2048", "Ed25519"
  std::vector<std::string> requested_dns_names;  // from the CSR's SAN, at most 32; never trusted
  std::string spki_der;  // the SubjectPublicKeyInfo as the CSR encoded it (checked above)
};

// invalid_argument with reasons: bad_csr (malformed), csr_bad_signature,
// csr_key_type (not ECDSA P-256/P-384, Ed25519 or RSA), csr_key_too_small,
// csr_requests_ca (basicConstraints CA:TRUE requested). The signature must be
// ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512, or Ed25519; anything else
// (SHA-1, RSA-PSS) is csr_bad_signature.
Result<CheckedCsr> ParseAndCheckCsr(std::string_view pem_or_der, const CsrPolicy& policy);

}  // namespace hostca::ca
