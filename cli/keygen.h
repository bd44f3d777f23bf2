// Host keys and certificate signing requests of the `hostca` client.
// Thread-safe (no shared state; OpenSSL's DRBG is).
#pragma once

#include <string>
#include <string_view>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::cli {

enum class KeyType { kP256, kP384, kEd25519, kRsa2048, kRsa3072 };

// "p256" | "p384" | "ed25519" | "rsa2048" | "rsa3072"; invalid_argument otherwise.
Result<KeyType> ParseKeyType(std::string_view name);
std::string_view KeyTypeName(KeyType type);
// The type of an existing key (renewal keeps the key type); invalid_argument
// for a kind of key hostca does not generate.
Result<KeyType> KeyTypeOf(EVP_PKEY* key);

// A fresh private key; internal when OpenSSL fails.
Result<EvpPkeyPtr> GenerateKey(KeyType type);

// A PKCS#10 request for `key` with subject CN=`common_name`, signed with
// SHA-256 (SHA-384 for P-384; none for Ed25519), PEM. The server takes the
// names from its host record, so the CSR carries no extensions.
Result<std::string> MakeCsrPem(EVP_PKEY* key, const std::string& common_name);

}  // namespace hostca::cli
