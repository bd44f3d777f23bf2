#include "cli/keygen.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/pem.h"

namespace hostca::cli {

Result<KeyType> ParseKeyType(std::string_view name) {
  return ::hostca::ParseKeyType(name, {KeyType::kP256, KeyType::kP384, KeyType::kEd25519,
                                       KeyType::kRsa2048, KeyType::kRsa3072});
}

Result<std::string> MakeCsrPem(EVP_PKEY* key, const std::string& common_name) {
  ClearOpenSslErrors();
  X509ReqPtr req(X509_REQ_new());
  X509NamePtr subject(X509_NAME_new());
  // A CN holds at most 64 characters; longer names go without (the server
  // takes names from its host record anyway).
  const bool with_cn = !common_name.empty() && common_name.size() <= 64;
  if (!req || !subject || X509_REQ_set_version(req.get(), 0) != 1 ||
      (with_cn &&
       X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                  static_cast<int>(common_name.size()), -1, 0) != 1) ||
      X509_REQ_set_subject_name(req.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1) {
    return OpenSslError("cannot build the certificate request");
  }
  const EVP_MD* md = nullptr;  // Ed25519 signs without a separate digest
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
    const auto type = KeyTypeOf(key);
    md = type.ok() && *type == KeyType::kP384 ? EVP_sha384() : EVP_sha256();
  }
  if (X509_REQ_sign(req.get(), key, md) <= 0) {
    return OpenSslError("cannot sign the certificate request");
  }
  return CsrToPem(req.get());
}

}  // namespace hostca::cli
