// Small encodings: hex, base64url, SHA-256, random bytes, RFC 3339 times.
// Thread-safe (no shared state; RandomBytes uses OpenSSL's DRBG).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca {

// Lower-case hex.
std::string HexEncode(std::string_view bytes);
// Accepts upper or lower case; invalid_argument on odd length or bad digit.
Result<std::string> HexDecode(std::string_view hex);

// RFC 4648 base64url without padding (used for token values).
std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);

// Raw 32-byte SHA-256 digest.
std::string Sha256(std::string_view data);

// `n` bytes from OpenSSL's CSPRNG. Aborts the process if the CSPRNG fails:
// a CA must never continue with weak randomness.
std::string RandomBytes(size_t n);

// Seconds since the Unix epoch as UTC through strftime's `format` (at most
// 63 characters out).
std::string FormatUtc(int64_t unix_seconds, const char* format);

// Seconds since the Unix epoch <-> RFC 3339 UTC ("2026-11-22T11:27:00Z").
std::string FormatRfc3339(int64_t unix_seconds);
Result<int64_t> ParseRfc3339(std::string_view text);

// ASCII A-Z to a-z, every other byte as it is (DNS names, URL schemes).
std::string AsciiLower(std::string_view s);

// Constant-time comparison of two byte strings of any length.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace hostca
