#include "ca/keys.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/encoding.h"
#include "common/file.h"

namespace hostca::ca {

Result<KeyType> ParseKeyType(std::string_view name) {
  return ::hostca::ParseKeyType(name, {KeyType::kP256, KeyType::kP384, KeyType::kEd25519,
                                       KeyType::kRsa3072, KeyType::kRsa4096});
}

Status WriteEncryptedKey(const std::string& path, EVP_PKEY* key, std::string_view passphrase,
                         bool exclusive) {
  if (passphrase.empty()) {
    return InvalidArgument("the CA key passphrase is empty");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), passphrase.data(),
                                    static_cast<int>(passphrase.size()), nullptr, nullptr) != 1) {
    return OpenSslError("cannot encrypt the CA key");
  }
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio.get(), &mem);
  const std::string_view pem(mem->data, mem->length);
  return exclusive ? WriteFileExclusive(path, pem, 0600) : WriteFileAtomic(path, pem, 0600);
}

Result<EvpPkeyPtr> LoadEncryptedKey(const std::string& path, std::string_view passphrase) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(path));
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") == std::string::npos) {
    return InvalidArgument(path + " is not an encrypted PKCS#8 private key", "bad_key");
  }
  ClearOpenSslErrors();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::string pass(passphrase);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, pass.data()));
  OPENSSL_cleanse(pass.data(), pass.size());
  if (!key) {
    ClearOpenSslErrors();
    return PermissionDenied("cannot decrypt the CA key " + path + ": wrong passphrase",
                            "bad_passphrase");
  }
  return key;
}

std::string NewPassphrase() { return Base64UrlEncode(RandomBytes(32)); }

}  // namespace hostca::ca
