// PEM/DER conversion for certificates, CSRs, CRLs and keys.
//
// Parsers accept untrusted input: they never crash and return
// invalid_argument (reason given per call) for anything malformed.
// Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca {

// The DER of an OpenSSL ASN.1 object through its i2d_ function
// (i2d_X509_NAME, i2d_X509_EXTENSION, ...); `what` names it in the error.
template <typename T, typename F>
Result<std::string> I2d(std::string_view what, T* obj, F i2d) {
  const int len = i2d(obj, nullptr);
  if (len <= 0) {
    return OpenSslError(what);
  }
  std::string out(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  if (i2d(obj, &p) != len) {
    return OpenSslError(what);
  }
  return out;
}

// Certificates.
// The SAN DNS names of `cert`, lower-case (ASCII), in certificate order.
std::vector<std::string> SanDnsNames(X509* cert);
Result<X509Ptr> CertFromPem(std::string_view pem);
Result<X509Ptr> CertFromDer(std::string_view der);
// Accepts either encoding (PEM is recognised by its "-----BEGIN" armour).
Result<X509Ptr> CertFromPemOrDer(std::string_view data);
Result<std::string> CertToPem(X509* cert);
Result<std::string> CertToDer(X509* cert);
// Every certificate of a PEM bundle, in order. An empty bundle is an error.
Result<std::vector<X509Ptr>> CertsFromPemBundle(std::string_view pem);
// A certificate store that trusts every certificate of a PEM bundle (the
// anchors of a client's server verification). Errors as CertsFromPemBundle,
// or internal when OpenSSL cannot allocate.
Result<X509StorePtr> TrustStoreFromPem(std::string_view pem);

// Certificate signing requests (PKCS#10).
Result<X509ReqPtr> CsrFromPemOrDer(std::string_view data);
// The DER inside PEM armour labelled "CERTIFICATE REQUEST" (or the legacy
// "NEW CERTIFICATE REQUEST"), or `data` itself when it is not PEM. Nothing
// is parsed beyond the armour. invalid_argument "bad_csr".
Result<std::string> CsrDerOf(std::string_view data);
Result<std::string> CsrToPem(X509_REQ* csr);

// CRLs.
Result<X509CrlPtr> CrlFromPemOrDer(std::string_view data);
Result<std::string> CrlToPem(X509_CRL* crl);
Result<std::string> CrlToDer(X509_CRL* crl);

// Keys. PrivateKeyToPem writes unencrypted PKCS#8 (for the 0600 TLS key);
// the CA key uses ca/key_store.h, which encrypts.
Result<std::string> PrivateKeyToPem(EVP_PKEY* key);
Result<EvpPkeyPtr> PrivateKeyFromPem(std::string_view pem);
Result<std::string> PublicKeyToDer(EVP_PKEY* key);  // SubjectPublicKeyInfo

// PEM armour around DER bytes without parsing them (for stored, already
// verified DER): base64 in 64-character lines between BEGIN/END `label`.
std::string DerToPem(std::string_view der, std::string_view label);

// Fingerprint: lower-case hex SHA-256 of the DER, no colons.
Result<std::string> CertFingerprintSha256(X509* cert);

}  // namespace hostca
