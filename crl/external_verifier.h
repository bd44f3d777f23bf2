// ExternalVerifier: checks certificates signed by an external CA (DESIGN.md
// section 7): the chain must validate to the configured trust bundle at the
// clock's time, and pass the configured CRL check. CRLs come from a
// directory (PEM or DER, any file name) and otherwise from the certificates'
// CRL distribution points over plain HTTP, refreshed every
// `cdp_refresh_seconds` (or sooner when the cached CRL's nextUpdate passed)
// and cached in memory and, when `cache_dir` is set, on disk so a restart
// does not need the network. A failed refresh keeps using the cached CRL
// until its nextUpdate; a URL whose download failed is not tried again for
// a minute (at most `cdp_refresh_seconds`). The trust anchor (a self-signed
// root of the bundle) is never checked against a CRL.
//
// Thread-safe: Verify runs concurrently; the CRL cache has its own lock and
// downloads happen outside it (one download per URL at a time; other
// threads wait for it or use the still valid cached CRL).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "common/clock.h"
#include "common/status.h"

namespace hostca::crl {

// leaf: the end-entity certificate must not be on its issuer's CRL.
// chain: neither may any intermediate be (the trust anchor is not checked).
// disabled: no CRL is consulted.
enum class ExternalCrlCheck { kLeaf, kChain, kDisabled };

// "leaf" | "chain" | "disabled"; invalid_argument "bad_crl_check" otherwise.
Result<ExternalCrlCheck> ParseExternalCrlCheck(std::string_view name);
std::string ExternalCrlCheckName(ExternalCrlCheck check);

// Downloads a CRL from a distribution point URL. Injected: the server uses
// NewHttpCrlFetcher; unit tests may pass their own.
class CrlFetcher {
 public:
  virtual ~CrlFetcher() = default;
  // The body (DER or PEM), or unavailable "external_crl_unavailable" with
  // the URL and what went wrong.
  virtual Result<std::string> Fetch(const std::string& url) = 0;
};

// Plain http:// URLs only (RFC 5280 CDPs are http or ldap; https would need
// a trust decision of its own). Bodies over `max_bytes` are refused.
std::unique_ptr<CrlFetcher> NewHttpCrlFetcher(int timeout_seconds = 10,
                                              size_t max_bytes = 64u << 20);

struct ExternalTrustOptions {
  std::string trust_bundle_pem;  // external roots and intermediates, PEM
  ExternalCrlCheck crl_check = ExternalCrlCheck::kLeaf;
  std::string crl_dir;  // "" = none
  bool cdp_download = true;
  int64_t cdp_refresh_seconds = 86400;
  std::string cache_dir;  // "" = memory only; created 0700 when missing
};

// What hostca records about a verified external certificate.
struct ExternalCertInfo {
  std::string der;                     // the leaf, DER
  std::string fingerprint_sha256;      // lower-case hex of SHA-256 over `der`
  std::string serial_hex;              // the external CA's serial, lower-case hex, no leading zeros
  std::string subject_dn;              // RFC 2253 form, e.g. "CN=web1.example.com,O=Example"
  std::string subject_cn;              // the subject's (last) commonName; "" when none
  std::string issuer_dn;               // RFC 2253 form
  std::vector<std::string> dns_names;  // SAN dNSName entries, lower-cased
  int64_t not_before = 0, not_after = 0;
};

class ExternalVerifier {
 public:
  // invalid_argument "bad_trust_bundle" when the bundle holds no
  // certificate, does not parse, or holds no self-signed root (only roots
  // are trust anchors; bundle intermediates only help build the path to
  // one). The status of MakeDirs when `cache_dir` cannot be created.
  // `fetcher` may be null: NewHttpCrlFetcher() is then used when
  // `cdp_download` is on.
  static Result<std::unique_ptr<ExternalVerifier>> Create(const ExternalTrustOptions& options,
                                                          const Clock& clock,
                                                          std::unique_ptr<CrlFetcher> fetcher);
  ~ExternalVerifier();

  // Verifies `leaf` with the intermediates the client sent (`chain`, may be
  // null; it may also hold the leaf itself, as SSL_get_peer_cert_chain does
  // on a client connection) for TLS client use. Errors (reason):
  //   unauthenticated "external_untrusted": does not chain to the bundle
  //     (also: bad signature, wrong purpose, malformed);
  //   permission_denied "external_expired" / "external_not_yet_valid" (the
  //     leaf or any chain certificate);
  //   permission_denied "external_revoked": the leaf is on its issuer's CRL;
  //   permission_denied "external_chain_revoked": an intermediate is (chain);
  //   unavailable "external_crl_unavailable": a needed CRL is missing (not in
  //     the directory, no CDP, download failed and nothing cached), stale
  //     (nextUpdate passed), or does not verify against its issuer.
  // Messages name the certificate (subject DN) and the CRL's source (file
  // or URL); they hold no secrets and may be logged.
  Result<ExternalCertInfo> Verify(X509* leaf, STACK_OF(X509) * chain) const;

  // True when `leaf` (with `chain`) chains to the trust bundle at the
  // clock's time, without any CRL check: tells external client certificates
  // from internal ones cheaply.
  bool ChainsToBundle(X509* leaf, STACK_OF(X509) * chain) const;

  // The subject names of the bundle's certificates (for the TLS
  // CertificateRequest's acceptable-issuer list). Caller owns the copies.
  std::vector<X509_NAME*> BundleSubjectNames() const;

  // Counters for /metrics.
  struct Stats {
    uint64_t crl_downloads = 0, crl_download_failures = 0, crl_cache_hits = 0;
  };
  Stats GetStats() const;

 private:
  struct Impl;
  explicit ExternalVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hostca::crl
