// Host keys and certificate signing requests of the `hostca` client.
// Thread-safe (no shared state; OpenSSL's DRBG is).
#pragma once

#include <string>
#include <string_view>

#include "common/keys.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::cli {

using KeyType = ::hostca::KeyType;
using ::hostca::GenerateKey;
using ::hostca::KeyTypeName;
using ::hostca::KeyTypeOf;

// The host key types (`enroll --key-type`): "p256", "p384", "ed25519",
// "rsa2048", "rsa3072"; invalid_argument (reason "bad_key_type") otherwise.
Result<KeyType> ParseKeyType(std::string_view name);

// A PKCS#10 request for `key` with subject CN=`common_name`, signed with
// SHA-256 (SHA-384 for P-384; none for Ed25519), PEM. The server takes the
// names from its host record, so the CSR carries no extensions.
Result<std::string> MakeCsrPem(EVP_PKEY* key, const std::string& common_name);

}  // namespace hostca::cli
