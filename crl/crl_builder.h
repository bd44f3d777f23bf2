// CRL v2 building and signing (RFC 5280 section 5).
//
// A CRL is (entries, CRL number, thisUpdate, nextUpdate) -> signed DER, as
// in Botan's X509_CA. hostca keeps every entry's DER encoding from the moment
// it is revoked (CrlEntrySet), so a republish only concatenates the kept
// encodings and signs once: no per-publish re-encoding of a million entries.
// That is why the CRL is assembled here from DER pieces rather than through
// OpenSSL's X509_CRL objects, which would rebuild, sort and re-encode every
// X509_REVOKED on every publish (seconds at a million entries). OpenSSL still
// provides the signature and the algorithm identifier, and the tests parse
// every CRL with OpenSSL, GnuTLS and Botan.
//
// Thread safety: CrlSigner is immutable after Create and thread-safe.
// CrlEntrySet is not thread-safe; its owner (Publisher) serialises access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "ca/issuer.h"
#include "common/status.h"

namespace hostca::crl {

struct CrlEntry {
  std::string serial;  // raw INTEGER content octets, as stored
  int64_t revoked_at = 0;
  int reason = 0;         // RFC 5280 CRLReason; 0 (unspecified) is left out of the entry
  int64_t not_after = 0;  // the entry leaves the CRL once the certificate expired
};

class CrlEntrySet {
 public:
  void Put(const CrlEntry& entry);
  void Remove(const std::string& serial);
  // Drops entries of certificates expired before `now`; returns how many.
  size_t DropExpired(int64_t now);
  size_t size() const { return entries_.size(); }
  size_t encoded_bytes() const { return bytes_; }
  bool Contains(const std::string& serial) const { return entries_.count(serial) != 0; }

 private:
  friend class CrlSigner;
  struct Kept {
    std::string der;  // the revokedCertificates element
    int64_t not_after;
  };
  std::unordered_map<std::string, Kept> entries_;
  size_t bytes_ = 0;
};

class CrlSigner {
 public:
  // Precomputes the AKI and IDP; the issuer name and signature algorithm
  // are the issuer's kept encodings.
  // `distribution_point` (the URL certificates name in their CRL
  // distribution point) goes into a critical issuingDistributionPoint, so
  // validators that match the two (Botan, OpenSSL) accept the CRL as the one
  // for those certificates; empty: no IDP.
  static Result<std::unique_ptr<CrlSigner>> Create(const ca::Issuer& issuer,
                                                   const std::string& distribution_point = "");

  // The DER of a signed CRL holding every entry of `entries`.
  Result<std::string> Sign(const CrlEntrySet& entries, uint64_t number, int64_t this_update,
                           int64_t next_update) const;

 private:
  CrlSigner(const ca::Issuer& issuer) : issuer_(issuer) {}
  const ca::Issuer& issuer_;
  std::string aki_ext_der_;  // Extension
  std::string idp_ext_der_;  // Extension, or empty
};

// Encodes one revokedCertificates element.
std::string EncodeCrlEntry(const CrlEntry& entry);

}  // namespace hostca::crl
