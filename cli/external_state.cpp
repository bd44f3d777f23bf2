#include "cli/external_state.h"

#include <openssl/pem.h>

#include <filesystem>

#include "common/file.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

Status Bad(const std::string& msg) { return InvalidArgument(msg, "bad_external_cert"); }

}  // namespace

Result<ExternalIdentity> LoadExternalIdentity(const std::string& cert_path,
                                              const std::string& key_path,
                                              const std::string& chain_path) {
  ExternalIdentity id;
  auto cert_pem = ReadFile(cert_path);
  if (!cert_pem.ok()) {
    return cert_pem.status();
  }
  auto certs = CertsFromPemBundle(*cert_pem);
  if (!certs.ok() || certs->empty()) {
    return Bad(cert_path + " holds no PEM certificate");
  }
  id.tls.cert = std::move(certs->front());
  HOSTCA_ASSIGN_OR_RETURN(id.cert_pem, CertToPem(id.tls.cert.get()));
  // Further certificates in the certificate file count as chain.
  for (size_t i = 1; i < certs->size(); ++i) {
    HOSTCA_ASSIGN_OR_RETURN(std::string pem, CertToPem((*certs)[i].get()));
    id.chain_pem += pem;
    id.tls.chain.push_back(std::move((*certs)[i]));
  }
  if (!chain_path.empty()) {
    auto chain_pem = ReadFile(chain_path);
    if (!chain_pem.ok()) {
      return chain_pem.status();
    }
    auto chain = CertsFromPemBundle(*chain_pem);
    if (!chain.ok()) {
      return Bad(chain_path + " is not a PEM certificate bundle");
    }
    for (X509Ptr& c : *chain) {
      HOSTCA_ASSIGN_OR_RETURN(std::string pem, CertToPem(c.get()));
      id.chain_pem += pem;
      id.tls.chain.push_back(std::move(c));
    }
  }
  auto key_pem = ReadFile(key_path);
  if (!key_pem.ok()) {
    return key_pem.status();
  }
  auto key = PrivateKeyFromPem(*key_pem);
  if (!key.ok()) {
    return Bad(key_path + " holds no unencrypted PEM private key");
  }
  id.tls.key = std::move(*key);
  if (X509_check_private_key(id.tls.cert.get(), id.tls.key.get()) != 1) {
    ClearOpenSslErrors();
    return Bad("the key " + key_path + " does not belong to the certificate " + cert_path);
  }
  HOSTCA_ASSIGN_OR_RETURN(id.key_pem, PrivateKeyToPem(id.tls.key.get()));
  return id;
}

Result<ExternalIdentity> LoadInstalledExternal(const std::string& state_dir) {
  const ExternalPaths p(state_dir);
  if (!FileExists(p.meta()) || !FileExists(p.cert()) || !FileExists(p.key())) {
    return NotFound(
        "no external certificate is installed in " + p.dir + " (hostca external enroll)",
        "no_external_cert");
  }
  return LoadExternalIdentity(p.cert(), p.key(), FileExists(p.chain()) ? p.chain() : "");
}

Result<std::string> SelfSignedOf(const std::string& pem) {
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, CertsFromPemBundle(pem));
  std::string out;
  for (const X509Ptr& c : certs) {
    if (X509_check_issued(c.get(), c.get()) == X509_V_OK) {
      HOSTCA_ASSIGN_OR_RETURN(std::string one, CertToPem(c.get()));
      out += one;
    }
  }
  return out;
}

Status SaveExternal(const std::string& state_dir, const ExternalIdentity& id,
                    const std::string& trust_pem, const nlohmann::json& meta) {
  const ExternalPaths p(state_dir);
  HOSTCA_RETURN_IF_ERROR(MakeDirs(p.dir, 0700));
  // external.json last: it marks a complete set (LoadInstalledExternal).
  if (FileExists(p.meta())) {
    std::error_code ec;
    std::filesystem::remove(p.meta(), ec);
  }
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(p.key(), id.key_pem, 0600));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(p.cert(), id.cert_pem, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(p.chain(), id.chain_pem, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(p.trust(), trust_pem, 0644));
  return WriteFileAtomic(p.meta(), meta.dump(2) + "\n", 0644);
}

Status RemoveExternal(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::remove_all(ExternalPaths(state_dir).dir, ec);
  if (ec) {
    return Unavailable("cannot remove " + ExternalPaths(state_dir).dir + ": " + ec.message());
  }
  return Status::Ok();
}

std::string ExternalTrustPem(const std::string& state_dir) {
  auto pem = ReadFile(ExternalPaths(state_dir).trust());
  return pem.ok() ? *pem : std::string();
}

}  // namespace hostca::cli
