// SniTable: the HTTPS listener's extra certificates, chosen by the name the
// client asks for in the TLS handshake (SNI). Each certificate answers for
// its SAN DNS names: exact names, case-insensitive, and "*.example.com"
// wildcards covering exactly one more label ("a.example.com", not
// "example.com" or "a.b.example.com"). An exact name wins over a wildcard.
//
// The certificates come from DATA/tls/sni/NAME.crt + NAME.key (written by
// `hostca-server import-tls`) and from `[tls] sni_certificates` in the
// configuration (one PEM file each with the certificate, its chain and its
// unencrypted key).
//
// Thread-safe for Find once loaded (immutable); Add is for loading only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/tls_select.h"

namespace hostca::server {

class SniTable {
 public:
  // Adds `id` under each of its SAN DNS names. invalid_argument
  // "sni_no_names" when it has none, "duplicate_sni_name" when another
  // certificate already answers for one of them (nothing is added then).
  Status Add(std::unique_ptr<TlsIdentity> id);
  // The identity answering for `server_name`, or null. Borrowed: lives as
  // long as the table.
  const TlsIdentity* Find(std::string_view server_name) const;
  bool empty() const { return ids_.empty(); }
  // Every certificate of the table, in the order added. Borrowed.
  std::vector<const TlsIdentity*> identities() const;
  size_t size() const { return ids_.size(); }

 private:
  std::vector<std::unique_ptr<TlsIdentity>> ids_;
  std::map<std::string, const TlsIdentity*> names_;  // lower-case name -> identity
};

// True when `cert` is self-signed: its issuer is its subject and its own key
// verifies its signature.
bool IsSelfSigned(X509* cert);

// Loads every DATA/tls/sni/*.crt with the .key beside it (a missing
// directory is an empty set), then each file of `pem_files` (certificate,
// chain and key in one PEM). Errors name the file: "bad_tls_identity",
// "sni_no_names", "duplicate_sni_name".
Result<SniTable> LoadSniTable(const std::string& sni_dir,
                              const std::vector<std::string>& pem_files);

// `[tls] default_certificate` (leaf and chain, PEM) with `key_path` (PEM;
// "" = the key is in the certificate file). invalid_argument
// "self_signed_default" for a self-signed certificate: clients that do not
// send SNI could never verify it.
Result<std::unique_ptr<TlsIdentity>> LoadDefaultIdentity(const std::string& cert_path,
                                                         const std::string& key_path);

}  // namespace hostca::server
