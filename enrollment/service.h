// EnrollmentService: the policy of getting a certificate (DESIGN.md sections
// 3-5): enroll (first enrollment, token or pre-registration or DNS check by
// security level), renew over TLS client authentication, reissue with a
// reissue token or an open window, and a host revoking its own certificate.
//
// Each call is a short pipeline: check input -> decide on a snapshot -> sign
// (no lock held) -> store through group commit, where everything the decision
// relied on that can race (token uses, name ownership, valid certificates) is
// checked again in the same transaction that stores the certificate.
//
// Thread-safe: all members are thread-safe; calls run concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ca/csr.h"
#include "ca/issuer.h"
#include "common/clock.h"
#include "common/ossl.h"
#include "common/status.h"
#include "crl/publisher.h"
#include "enrollment/domain_mode.h"
#include "enrollment/rate_limiter.h"
#include "enrollment/resolver.h"
#include "enrollment/security_level.h"
#include "storage/storage.h"

namespace hostca::enrollment {

struct EnrollmentOptions {
  int64_t validity_seconds = 365LL * 86400;  // host certificate lifetime
  int64_t backdate_seconds = 300;            // notBefore = now - this (clock skew)
  std::string public_url;  // base of CDP (<url>/crl) and AIA (<url>/ca.crt); empty: none
  ca::CsrPolicy csr_policy;
};

struct EnrollRequest {
  std::string csr;  // PEM or DER
  std::string hostname;
  std::string token;           // may be empty
  std::string source_address;  // the peer's IP address
};

struct IssuedResponse {
  std::string host_id;
  std::string serial_hex;
  std::string certificate_pem;
  int64_t not_after = 0;
  bool reissue = false;
};

// The client certificate of a TLS connection, verified against the CA.
struct ClientIdentity {
  storage::CertRecord record;  // the stored record of the presented certificate
};

class EnrollmentService {
 public:
  EnrollmentService(const ca::Issuer& issuer, storage::Storage& store, const Clock& clock,
                    Resolver& resolver, FailureRateLimiter& limiter, EnrollmentOptions options,
                    crl::RevocationSink* revocations = nullptr, const ModeState* mode = nullptr);

  // POST /v1/enroll. Errors (reason): bad_csr/csr_* , bad_hostname (400);
  // token_required, token_invalid, token_expired, token_used_up,
  // token_wrong_host, reissue_required (403); already_enrolled,
  // name_conflict, external_mode (409: the domain is in external mode);
  // rate_limited (429).
  Result<IssuedResponse> Enroll(const EnrollRequest& req);

  // Verifies a presented client certificate: chains to the CA at the
  // clock's time and is a certificate this CA stored. Errors:
  // client_cert_required / client_cert_invalid (401), certificate_expired,
  // certificate_revoked (403).
  Result<ClientIdentity> Authenticate(X509* cert, STACK_OF(X509) * chain) const;

  // POST /v1/renew with an authenticated identity. external_mode (409) in
  // external mode; external_cert (409) for an external certificate.
  Result<IssuedResponse> Renew(const ClientIdentity& who, const std::string& csr);

  // POST /v1/revoke: revokes the presented certificate. external_cert (409)
  // for an external one: only its CA revokes it.
  Status RevokeOwn(const ClientIdentity& who, int reason);

  SecurityLevel CurrentLevel() const;

 private:
  struct Decision;
  Result<Decision> Decide(const EnrollRequest& req, const std::string& hostname,
                          const std::string& token_hash);
  Result<IssuedResponse> SignAndStore(const Decision& d, const ca::CheckedCsr& csr,
                                      const std::vector<std::string>& requested_names);
  Status CommitIssue(storage::WriteTxn& txn, const Decision& d, const storage::CertRecord& rec,
                     const std::vector<std::string>& requested_names, int64_t now,
                     std::vector<storage::CertRecord>* revoked);
  void Announce(const std::vector<storage::CertRecord>& revoked) const;
  IssuedResponse Respond(const Decision& d, const storage::CertRecord& rec,
                         const std::string& pem) const;
  // True when `cert` is the stored record's certificate byte for byte
  // (`der` is its encoding), names this CA as issuer, is for client
  // authentication, and it and the CA's chain are valid at `now`.
  bool StoredAndCurrent(X509* cert, const storage::CertRecord& rec, const std::string& der,
                        time_t now) const;

  const ca::Issuer& issuer_;
  storage::Storage& store_;
  const Clock& clock_;
  Resolver& resolver_;
  FailureRateLimiter& limiter_;
  const EnrollmentOptions options_;
  crl::RevocationSink* revocations_;  // may be null
  const ModeState* mode_;             // may be null: internal
  X509StorePtr trust_;                // the CA (and its chain) for client certificates
  std::vector<X509Ptr> chain_;        // the CA's chain above it (issuer_.chain_pem())
};

// RFC 5280 reason names in camelCase <-> codes. invalid_argument "bad_reason".
Result<int> ParseRevocationReason(std::string_view name);
std::string RevocationReasonName(int code);

// "valid" | "revoked" | "expired" for a record at `now`.
std::string CertStatusAt(const storage::CertRecord& rec, int64_t now);

}  // namespace hostca::enrollment
