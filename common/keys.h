// Key types hostca generates, shared by the CA (ca/keys.h: CA and server
// keys) and the client (cli/keygen.h: host keys), which accept different
// subsets by name: the CA no RSA 2048, hosts no RSA 4096.
// Thread-safe (no shared state; OpenSSL's DRBG is).
#pragma once

#include <initializer_list>
#include <string_view>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca {

enum class KeyType { kP256, kP384, kEd25519, kRsa2048, kRsa3072, kRsa4096 };

// "p256", "p384", "ed25519", "rsa2048", "rsa3072", "rsa4096".
std::string_view KeyTypeName(KeyType type);

// The type in `allowed` named `name`; invalid_argument (reason
// "bad_key_type") otherwise, listing `allowed` in its order.
Result<KeyType> ParseKeyType(std::string_view name, std::initializer_list<KeyType> allowed);

// The type of an existing key (a renewal keeps its key's type): RSA by its
// size (4096 bits and more, 3072 and more, else 2048); invalid_argument
// "bad_key_type" for a kind of key hostca does not generate.
Result<KeyType> KeyTypeOf(EVP_PKEY* key);

// A fresh private key; internal when OpenSSL fails.
Result<EvpPkeyPtr> GenerateKey(KeyType type);

}  // namespace hostca
