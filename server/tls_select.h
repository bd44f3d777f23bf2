// The HTTPS listener's certificates, chosen per connection in OpenSSL's
// certificate callback:
//  1. a client naming a server (SNI) that one of the SNI certificates
//     answers for (server/sni_table.h) gets that certificate;
//  2. otherwise the default: the configured external certificate in
//     external mode, or in mixed mode when one is configured (DESIGN.md
//     section 7; a mode switch applies from the next handshake without
//     rebuilding the listener);
//  3. otherwise `[tls] default_certificate` when configured, else the
//     internal identity (DATA/tls/server.crt, issued by the CA).
//
// Thread-safe: identities are immutable after Load; the mode is atomic.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"
#include "enrollment/domain_mode.h"

namespace hostca::server {

struct TlsIdentity {
  X509Ptr leaf;
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;  // intermediates after the leaf; never a self-signed root
  std::string description;     // for logs: the subject and where it came from
};

// Loads a certificate (PEM; further certificates in the file are its chain),
// an optional separate chain file and the key (PEM; encrypted keys need
// `passphrase`). Self-signed certificates of the chain are left out: the
// listener does not send a root. invalid_argument "bad_tls_identity" when anything is
// missing, unreadable, or the key does not match the certificate.
Result<TlsIdentity> LoadTlsIdentity(const std::string& cert_path, const std::string& key_path,
                                    const std::string& chain_path, const std::string& passphrase);

class SniTable;

class CertSelector {
 public:
  // `external`, `default_identity` and `sni` may be null (none configured);
  // without a default the context's own certificate is served.
  CertSelector(const enrollment::ModeState& mode, std::unique_ptr<TlsIdentity> external,
               std::unique_ptr<TlsIdentity> default_identity = nullptr,
               std::unique_ptr<SniTable> sni = nullptr);
  ~CertSelector();
  CertSelector(const CertSelector&) = delete;
  CertSelector& operator=(const CertSelector&) = delete;

  // Registers the callback on `ctx`; the context's own certificate (set
  // before) is the internal identity and stays the default.
  bool Install(SSL_CTX* ctx);
  bool has_external() const { return external_ != nullptr; }
  // True when a connection made now is served the external identity.
  bool ServesExternal() const;
  // The identity for a handshake naming `server_name` (null or "" when the
  // client sent no SNI), per the order above; null means the context's own
  // certificate (the internal identity). Borrowed from this selector.
  const TlsIdentity* Choose(const char* server_name) const;
  // Every leaf this selector may serve instead of the context's own
  // certificate (SNI, external, default), whatever the mode. Borrowed.
  std::vector<X509*> Leaves() const;

 private:
  static int Callback(SSL* ssl, void* arg);
  const enrollment::ModeState& mode_;
  std::unique_ptr<TlsIdentity> external_;
  std::unique_ptr<TlsIdentity> default_;
  std::unique_ptr<SniTable> sni_;
};

}  // namespace hostca::server
