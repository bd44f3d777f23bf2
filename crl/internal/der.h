// The few DER encodings the CRL builder writes itself (see crl_builder.h for
// why the CRL is assembled from cached entry encodings instead of through
// OpenSSL's X509_CRL objects). Internal to crl/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hostca::crl::internal {

// tag, definite length (short or long form), then `content`.
void AppendTlv(std::string* out, uint8_t tag, std::string_view content);
std::string Tlv(uint8_t tag, std::string_view content);
// INTEGER from a non-negative big-endian magnitude (leading zeros dropped,
// a 0x00 added when the top bit is set).
std::string IntegerFromMagnitude(std::string_view magnitude);
std::string IntegerFromU64(uint64_t v);
// UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5).
std::string Time(int64_t unix_seconds);

inline constexpr uint8_t kSequence = 0x30;
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kOctetString = 0x04;
inline constexpr uint8_t kEnumerated = 0x0a;
inline constexpr uint8_t kBitString = 0x03;

}  // namespace hostca::crl::internal
