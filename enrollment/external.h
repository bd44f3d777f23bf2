// ExternalEnrollment: hosts that hold a certificate signed by an external CA
// (DESIGN.md section 7). A host proves possession over TLS client
// authentication; the certificate's chain and CRL status are checked by
// crl::ExternalVerifier, its identity (SAN DNS names, or the subject's common
// name when so configured) must belong to the named host, and the result is
// stored as a certificate record with source "external".
//
// External records are keyed by the SHA-256 fingerprint of the certificate
// (32 bytes) rather than by serial: an external CA's serials are unique only
// per issuer, and hostca's own serials (16-17 bytes) never have that length.
// A host has at most one external record; enrolling another replaces it.
//
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include <openssl/x509.h>

#include "common/clock.h"
#include "common/status.h"
#include "crl/external_verifier.h"
#include "enrollment/domain_mode.h"
#include "enrollment/service.h"
#include "storage/storage.h"

namespace hostca::enrollment {

// How an external certificate's identity is matched to a host.
enum class ExternalIdentity {
  kSanDns,     // the named hostname is one of the certificate's SAN DNS names (default)
  kSubjectCn,  // the subject's common name is the named hostname
};
// "san" | "subject"; invalid_argument "bad_identity" otherwise.
Result<ExternalIdentity> ParseExternalIdentity(std::string_view name);

struct ExternalEnrolled {
  std::string host_id;
  std::string fingerprint_sha256;
  int64_t not_after = 0;
  bool replaced = false;  // an earlier external certificate of the host was replaced
};

class ExternalEnrollment {
 public:
  ExternalEnrollment(const crl::ExternalVerifier& verifier, storage::Storage& store,
                     const Clock& clock, ExternalIdentity identity)
      : verifier_(verifier), store_(store), clock_(clock), identity_(identity) {}

  // POST /v1/external/enroll. Errors (reason): client_cert_required (401);
  // the verifier's external_* errors; bad_hostname (400); unknown_host (404:
  // neither a host's name nor an approved alias); external_identity_mismatch
  // (403: the certificate does not name the host, or also names another
  // host).
  Result<ExternalEnrolled> Enroll(X509* cert, STACK_OF(X509) * chain, const std::string& hostname);

  // A presented external client certificate: verified (chain and CRL) and
  // enrolled. Errors: the verifier's; external_not_enrolled (401).
  Result<ClientIdentity> Authenticate(X509* cert, STACK_OF(X509) * chain) const;

  // DELETE /v1/external: forgets the host's external certificate.
  // not_found "external_not_enrolled" when it has none.
  Status Remove(const std::string& host_id, const std::string& actor);

  // True when `cert` chains to the external trust bundle (no CRL check).
  bool IsExternal(X509* cert, STACK_OF(X509) * chain) const {
    return verifier_.ChainsToBundle(cert, chain);
  }
  const crl::ExternalVerifier& verifier() const { return verifier_; }

 private:
  const crl::ExternalVerifier& verifier_;
  storage::Storage& store_;
  const Clock& clock_;
  const ExternalIdentity identity_;
};

}  // namespace hostca::enrollment
