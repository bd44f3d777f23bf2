#include "server/tls_select.h"

#include <openssl/pem.h>

#include "common/file.h"
#include "common/pem.h"
#include "server/sni_table.h"

namespace hostca::server {
namespace {

Status Bad(const std::string& msg) { return InvalidArgument(msg, "bad_tls_identity"); }

std::string SubjectOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

}  // namespace

Result<TlsIdentity> LoadTlsIdentity(const std::string& cert_path, const std::string& key_path,
                                    const std::string& chain_path, const std::string& passphrase) {
  TlsIdentity id;
  auto cert_pem = ReadFile(cert_path);
  if (!cert_pem.ok()) {
    return Bad("cannot read the certificate " + cert_path + ": " + cert_pem.status().message());
  }
  auto certs = CertsFromPemBundle(*cert_pem);
  if (!certs.ok() || certs->empty()) {
    return Bad(cert_path + " holds no PEM certificate");
  }
  id.leaf = std::move(certs->front());
  for (size_t i = 1; i < certs->size(); ++i) {
    id.chain.push_back(std::move((*certs)[i]));
  }
  if (!chain_path.empty()) {
    auto chain_pem = ReadFile(chain_path);
    if (!chain_pem.ok()) {
      return Bad("cannot read the chain " + chain_path + ": " + chain_pem.status().message());
    }
    auto chain = CertsFromPemBundle(*chain_pem);
    if (!chain.ok()) {
      return Bad(chain_path + " is not a PEM certificate bundle");
    }
    for (X509Ptr& c : *chain) {
      id.chain.push_back(std::move(c));
    }
  }
  // A self-signed root is a trust anchor the client must already hold
  // (RFC 8446 section 4.4.2 lets the server omit it), and every certificate
  // sent costs each client a parse (about 1.6 million instructions with
  // OpenSSL 3.0): an operator's bundle that ends with its root is served
  // without it. Checked here, once, not per handshake.
  std::erase_if(id.chain, [](const X509Ptr& c) { return IsSelfSigned(c.get()); });
  auto key_pem = ReadFile(key_path);
  if (!key_pem.ok()) {
    return Bad("cannot read the key " + key_path + ": " + key_pem.status().message());
  }
  BioPtr bio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  ClearOpenSslErrors();
  // No callback and a passphrase string: OpenSSL uses the string for an
  // encrypted key (and ignores it for a plain one). An empty passphrase
  // must not be offered to an encrypted key: pass an empty string anyway,
  // which fails cleanly as a wrong passphrase.
  id.key.reset(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>(passphrase.c_str())));
  ClearOpenSslErrors();
  if (!id.key) {
    return Bad("cannot load the key " + key_path +
               (passphrase.empty() ? " (if it is encrypted, set server_key_passphrase_file)"
                                   : " (wrong passphrase, or not a PEM private key)"));
  }
  if (X509_check_private_key(id.leaf.get(), id.key.get()) != 1) {
    ClearOpenSslErrors();
    return Bad("the key " + key_path + " does not belong to the certificate " + cert_path);
  }
  id.description = SubjectOf(id.leaf.get()) + " from " + cert_path;
  return id;
}

CertSelector::CertSelector(const enrollment::ModeState& mode, std::unique_ptr<TlsIdentity> external,
                           std::unique_ptr<TlsIdentity> default_identity,
                           std::unique_ptr<SniTable> sni)
    : mode_(mode),
      external_(std::move(external)),
      default_(std::move(default_identity)),
      sni_(std::move(sni)) {}

CertSelector::~CertSelector() = default;

bool CertSelector::Install(SSL_CTX* ctx) {
  SSL_CTX_set_cert_cb(ctx, &CertSelector::Callback, this);
  return true;
}

bool CertSelector::ServesExternal() const {
  return external_ != nullptr && mode_.Get() != enrollment::DomainMode::kInternal;
}

const TlsIdentity* CertSelector::Choose(const char* server_name) const {
  if (sni_ != nullptr && server_name != nullptr) {
    if (const TlsIdentity* id = sni_->Find(server_name); id != nullptr) {
      return id;
    }
  }
  if (ServesExternal()) {
    return external_.get();
  }
  return default_.get();
}

std::vector<X509*> CertSelector::Leaves() const {
  std::vector<X509*> out;
  if (sni_ != nullptr) {
    for (const TlsIdentity* id : sni_->identities()) {
      out.push_back(id->leaf.get());
    }
  }
  for (const TlsIdentity* id : {external_.get(), default_.get()}) {
    if (id != nullptr) {
      out.push_back(id->leaf.get());
    }
  }
  return out;
}

int CertSelector::Callback(SSL* ssl, void* arg) {
  const auto* self = static_cast<const CertSelector*>(arg);
  const TlsIdentity* id = self->Choose(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  if (id == nullptr) {
    return 1;  // the context's certificate: the internal identity
  }
  // A stack of borrowed pointers: SSL_use_cert_and_key takes its own
  // references to the chain, so only the stack itself is freed.
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (chain == nullptr) {
    return 0;
  }
  bool pushed = true;
  for (const X509Ptr& c : id->chain) {
    pushed = pushed && sk_X509_push(chain, c.get()) != 0;
  }
  // Drop the context's certificate first: SSL_use_cert_and_key replaces
  // only the slot of its key type, and a client preferring the other type
  // (an RSA certificate chosen, the internal P-256 one left beside it)
  // would otherwise be served the internal certificate.
  SSL_certs_clear(ssl);
  const int ok = pushed ? SSL_use_cert_and_key(ssl, id->leaf.get(), id->key.get(), chain, 1) : 0;
  sk_X509_free(chain);
  return ok == 1 ? 1 : 0;
}

}  // namespace hostca::server
