// Issuer: builds and signs host certificates (DESIGN.md section 3) from a
// typed IssuanceRequest that the enrollment policy decided. Like Botan's
// X509_CA it holds only the CA key and certificate; time and names come in
// the request.
//
// Thread-safe: Issue may run concurrently on many threads; there is no lock
// around signing (each call has its own signing context). What does not
// change per certificate (issuer name, AKI, key usage, EKU, basic
// constraints) is built once in Create.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::ca {

// 16 random bytes forming a positive INTEGER whose DER content is exactly 16
// bytes (first byte 0x01..0x7f).
std::string NewSerial();
// Lower-case hex of the serial integer without leading zeros.
std::string SerialToHex(std::string_view raw);
// The reverse, for lookups; invalid_argument (not_found-like input) on bad hex.
Result<std::string> SerialFromHex(std::string_view hex);
// The serial of a certificate as raw big-endian bytes (as stored).
std::string SerialOf(const X509* cert);

struct IssuanceRequest {
  std::string common_name;  // host certificates: the host ID
  std::string organizational_unit = "hosts";
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // IP SANs (the server's TLS certificate)
  std::vector<std::string> uris;          // e.g. "urn:uuid:<host-id>"
  EVP_PKEY* public_key = nullptr;         // borrowed; the only thing taken from a CSR
  // The same key as the CSR encoded it (CheckedCsr::spki_der), copied into
  // the certificate as it is; "" = encode public_key (OpenSSL 3.0 encodes a
  // key through its provider encoders, a large share of an issuance).
  std::string_view public_key_spki;
  std::string serial;                     // raw bytes from NewSerial()
  int64_t not_before = 0, not_after = 0;  // unix seconds
  std::string crl_url;                    // CRL distribution point; empty = omitted
  std::string ca_issuers_url;             // AIA caIssuers; empty = omitted
};

struct IssuedCertificate {
  std::string der;
  std::string pem;
  std::string serial;  // raw
  int64_t not_before = 0, not_after = 0;
};

class Issuer {
 public:
  // `chain`: certificates above ca_cert up to the root (empty for a root CA).
  // invalid_argument "key_mismatch" when key does not belong to ca_cert.
  static Result<std::unique_ptr<Issuer>> Create(EvpPkeyPtr key, X509Ptr ca_cert,
                                                std::vector<X509Ptr> chain,
                                                std::string organization);

  // invalid_argument for an empty SAN list, a bad IP address, a missing key
  // or not_after <= not_before.
  Result<IssuedCertificate> Issue(const IssuanceRequest& req) const;

  X509* ca_cert() const { return ca_cert_.get(); }
  EVP_PKEY* key() const { return key_.get(); }
  // The digest to sign with this CA key (nullptr for Ed25519).
  const EVP_MD* digest() const { return md_; }
  // The issuing chain without the leaf, ending with the root (for a root
  // CA: just the root), as PEM.
  const std::vector<std::string>& chain_pem() const { return chain_pem_; }
  const std::string& organization() const { return organization_; }
  const std::string& fingerprint_sha256() const { return fingerprint_; }
  // The signatureAlgorithm of what this issuer signs, DER, and the CA's
  // subject name, DER (the issuer of its certificates and CRLs).
  const std::string& signature_algorithm_der() const { return signature_algorithm_der_; }
  const std::string& issuer_name_der() const { return issuer_name_der_; }
  // The signature value of `tbs` (a TBSCertificate or TBSCertList) with the
  // CA key and digest(), without the BIT STRING wrapping.
  Result<std::string> Sign(std::string_view tbs) const;

 private:
  Issuer() = default;
  Status AppendExtensions(std::string* exts, const IssuanceRequest& req,
                          std::string_view key_bits) const;

  EvpPkeyPtr key_;
  X509Ptr ca_cert_;
  std::vector<X509Ptr> chain_;
  std::string organization_;
  std::vector<std::string> chain_pem_;
  std::string fingerprint_;
  const EVP_MD* md_ = nullptr;
  EvpMdPtr sha1_;
  // Kept encodings: the AlgorithmIdentifier OpenSSL writes for the CA key,
  // the CA's subject (every certificate's issuer) and the extensions every
  // host certificate carries, each a whole Extension.
  std::string signature_algorithm_der_, issuer_name_der_;
  std::string basic_constraints_der_, key_usage_sig_der_, key_usage_rsa_der_, eku_der_, aki_der_;
};

// The digest hostca signs with for a key: SHA-384 for P-384, none for
// Ed25519, SHA-256 otherwise.
const EVP_MD* DigestFor(EVP_PKEY* key);

}  // namespace hostca::ca
