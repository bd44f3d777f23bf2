#include "cli/keygen.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/pem.h"

namespace hostca::cli {

Result<KeyType> ParseKeyType(std::string_view name) {
  for (KeyType t :
       {KeyType::kP256, KeyType::kP384, KeyType::kEd25519, KeyType::kRsa2048, KeyType::kRsa3072}) {
    if (KeyTypeName(t) == name) {
      return t;
    }
  }
  return InvalidArgument(
      "unknown key type '" + std::string(name) + "' (p256, p384, ed25519, rsa2048, rsa3072)",
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
    case KeyType::kRsa2048:
      return "rsa2048";
    case KeyType::kRsa3072:
      return "rsa3072";
  }
  return "p256";
}

Result<KeyType> KeyTypeOf(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
      return KeyType::kEd25519;
    case EVP_PKEY_RSA:
      return EVP_PKEY_get_bits(key) >= 3072 ? KeyType::kRsa3072 : KeyType::kRsa2048;
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                         &len) != 1) {
        return OpenSslError("cannot read the EC group of the host key");
      }
      if (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256") {
        return KeyType::kP256;
      }
      if (std::string_view(group) == "secp384r1" || std::string_view(group) == "P-384") {
        return KeyType::kP384;
      }
      return InvalidArgument("unsupported EC group " + std::string(group), "bad_key_type");
    }
    default:
      return InvalidArgument("unsupported host key type", "bad_key_type");
  }
}

Result<EvpPkeyPtr> GenerateKey(KeyType type) {
  ClearOpenSslErrors();
  EvpPkeyPtr key;
  switch (type) {
    case KeyType::kP256:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
      break;
    case KeyType::kP384:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
      break;
    case KeyType::kEd25519:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
    case KeyType::kRsa2048:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
      break;
    case KeyType::kRsa3072:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072)));
      break;
  }
  if (!key) {
    return OpenSslError("cannot generate a " + std::string(KeyTypeName(type)) + " key");
  }
  return key;
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
