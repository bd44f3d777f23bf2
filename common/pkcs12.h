// PKCS#12 files: a certificate, its private key and its chain in one
// passphrase-protected file, the format browsers, Windows, Java keystores
// and load balancers import.
//
// Files are written the modern way (OpenSSL 3's defaults for
// `openssl pkcs12 -export`, with a stronger iteration count): key and
// certificate bags encrypted with PBES2 (PBKDF2 with HMAC-SHA256,
// AES-256-CBC, kPkcs12Iterations), and an HMAC-SHA256 integrity MAC over the
// whole file with the same passphrase. Legacy files (RC2/3DES, SHA-1 MAC)
// decode as far as OpenSSL's default provider allows.
//
// Thread-safe (no shared state). Passphrases are taken as UTF-8 bytes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca {

// PBKDF2 iterations for the bags and the MAC.
inline constexpr int kPkcs12Iterations = 100000;

struct Pkcs12Contents {
  X509Ptr cert;                // the end-entity certificate (the one matching the key)
  EvpPkeyPtr key;              // its private key
  std::vector<X509Ptr> chain;  // the other certificates, in file order
};

// Encodes `cert`, `key` and `chain` (borrowed; intermediates and root, any
// order) as DER PKCS#12 under `passphrase`, with `friendly_name` (may be
// empty) on the certificate and key. Errors: invalid_argument
// "empty_passphrase"; invalid_argument "key_mismatch" when the key does not
// belong to the certificate; internal for an OpenSSL failure.
Result<std::string> EncodePkcs12(X509* cert, EVP_PKEY* key, const std::vector<X509*>& chain,
                                 const std::string& passphrase, const std::string& friendly_name);

// Decodes DER PKCS#12 (untrusted input: never crashes). Errors, all
// invalid_argument: "bad_pkcs12" (not a PKCS#12 file, or an algorithm
// OpenSSL cannot decrypt), "pkcs12_bad_passphrase" (the MAC does not verify
// with `passphrase`), "pkcs12_no_key" / "pkcs12_no_cert" (the file lacks
// one), "key_mismatch" (its key belongs to none of its certificates).
Result<Pkcs12Contents> DecodePkcs12(std::string_view der, const std::string& passphrase);

// A passphrase file's content without its trailing newline ("\n" or
// "\r\n"; other bytes, spaces included, are part of the passphrase).
// Errors: the file's read error; invalid_argument "empty_passphrase".
Result<std::string> ReadPassphraseFile(const std::string& path);

}  // namespace hostca
