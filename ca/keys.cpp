#include "ca/keys.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/encoding.h"
#include "common/file.h"

namespace hostca::ca {

Result<KeyType> ParseKeyType(std::string_view name) {
  if (name == "p256") {
    return KeyType::kP256;
  }
  if (name == "p384") {
    return KeyType::kP384;
  }
  if (name == "ed25519") {
    return KeyType::kEd25519;
  }
  if (name == "rsa3072") {
    return KeyType::kRsa3072;
  }
  if (name == "rsa4096") {
    return KeyType::kRsa4096;
  }
  return InvalidArgument(
      "unknown key type '" + std::string(name) + "' (p256, p384, ed25519, rsa3072, rsa4096)",
      "bad_key_type");
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kP256:
      return "p256";
    case KeyType::kP384:
      return "p384";
    case KeyType::kEd25519:
      return "ed25519";
    case KeyType::kRsa3072:
      return "rsa3072";
    case KeyType::kRsa4096:
      return "rsa4096";
  }
  return "p256";
}

Result<EvpPkeyPtr> GenerateKey(KeyType type) {
  ClearOpenSslErrors();
  EvpPkeyPtr key;
  switch (type) {
    case KeyType::kP256:
      key.reset(EVP_EC_gen("P-256"));
      break;
    case KeyType::kP384:
      key.reset(EVP_EC_gen("P-384"));
      break;
    case KeyType::kEd25519:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
    case KeyType::kRsa3072:
      key.reset(EVP_RSA_gen(3072));
      break;
    case KeyType::kRsa4096:
      key.reset(EVP_RSA_gen(4096));
      break;
  }
  if (!key) {
    return OpenSslError("key generation failed");
  }
  return key;
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
