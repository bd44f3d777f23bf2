#include "common/keys.h"

#include <openssl/core_names.h>

#include <string>

namespace hostca {

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
    case KeyType::kRsa4096:
      return "rsa4096";
  }
  return "p256";
}

Result<KeyType> ParseKeyType(std::string_view name, std::initializer_list<KeyType> allowed) {
  std::string names;
  for (KeyType t : allowed) {
    if (KeyTypeName(t) == name) {
      return t;
    }
    names += names.empty() ? "" : ", ";
    names += KeyTypeName(t);
  }
  return InvalidArgument("unknown key type '" + std::string(name) + "' (" + names + ")",
                         "bad_key_type");
}

Result<KeyType> KeyTypeOf(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
      return KeyType::kEd25519;
    case EVP_PKEY_RSA: {
      const int bits = EVP_PKEY_get_bits(key);
      return bits >= 4096 ? KeyType::kRsa4096
                          : (bits >= 3072 ? KeyType::kRsa3072 : KeyType::kRsa2048);
    }
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                         &len) != 1) {
        return OpenSslError("cannot read the EC group of the key");
      }
      const std::string_view name(group);  // zero-filled: NUL-terminated
      if (name == "prime256v1" || name == "P-256") {
        return KeyType::kP256;
      }
      if (name == "secp384r1" || name == "P-384") {
        return KeyType::kP384;
      }
      return InvalidArgument("unsupported EC group " + std::string(name), "bad_key_type");
    }
    default:
      return InvalidArgument("unsupported key type", "bad_key_type");
  }
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
    case KeyType::kRsa2048:
      key.reset(EVP_RSA_gen(2048));
      break;
    case KeyType::kRsa3072:
      key.reset(EVP_RSA_gen(3072));
      break;
    case KeyType::kRsa4096:
      key.reset(EVP_RSA_gen(4096));
      break;
  }
  if (!key) {
    return OpenSslError("cannot generate a " + std::string(KeyTypeName(type)) + " key");
  }
  return key;
}

}  // namespace hostca
