// The HTTPS listener's certificates, chosen per connection (DESIGN.md
// section 7): the internal identity (DATA/tls, issued by the CA) in internal
// mode, and the configured external certificate in external mode, or in
// mixed mode when one is configured. The choice is made in OpenSSL's
// certificate callback, so a mode switch applies from the next handshake
// without rebuilding the listener.
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
  std::vector<X509Ptr> chain;  // intermediates after the leaf
  std::string description;     // for logs: the subject and where it came from
};

// Loads a certificate (PEM; further certificates in the file are its chain),
// an optional separate chain file and the key (PEM; encrypted keys need
// `passphrase`). invalid_argument "bad_tls_identity" when anything is
// missing, unreadable, or the key does not match the certificate.
Result<TlsIdentity> LoadTlsIdentity(const std::string& cert_path, const std::string& key_path,
                                    const std::string& chain_path, const std::string& passphrase);

class CertSelector {
 public:
  CertSelector(const enrollment::ModeState& mode, std::unique_ptr<TlsIdentity> external)
      : mode_(mode), external_(std::move(external)) {}

  // Registers the callback on `ctx`; the context's own certificate (set
  // before) is the internal identity and stays the default.
  bool Install(SSL_CTX* ctx);
  bool has_external() const { return external_ != nullptr; }
  // True when a connection made now is served the external identity.
  bool ServesExternal() const;

 private:
  static int Callback(SSL* ssl, void* arg);
  const enrollment::ModeState& mode_;
  std::unique_ptr<TlsIdentity> external_;
};

}  // namespace hostca::server
