// CA and server keys: generation and the encrypted CA key file.
// Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "common/keys.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::ca {

using KeyType = ::hostca::KeyType;
using ::hostca::GenerateKey;
using ::hostca::KeyTypeName;

// The CA's key types (`init --key-type`): "p256", "p384", "ed25519",
// "rsa3072", "rsa4096"; invalid_argument (reason "bad_key_type") otherwise.
Result<KeyType> ParseKeyType(std::string_view name);

// The CA key at rest: PKCS#8 encrypted with AES-256-CBC (PBES2, OpenSSL's
// default KDF), PEM, written atomically with mode 0600. With `exclusive` an
// existing file is never replaced (already_exists).
Status WriteEncryptedKey(const std::string& path, EVP_PKEY* key, std::string_view passphrase,
                         bool exclusive);

// Errors: not_found (no file), permission_denied "bad_passphrase" (wrong
// passphrase), invalid_argument "bad_key" (not an encrypted key).
Result<EvpPkeyPtr> LoadEncryptedKey(const std::string& path, std::string_view passphrase);

// A new random passphrase: 32 random bytes as base64url text.
std::string NewPassphrase();

}  // namespace hostca::ca
