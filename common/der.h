// A minimal reader and writer of DER (X.690) for the structures hostca walks
// or builds on its hot paths (the CSR and certificate of every enrollment,
// the CRL). OpenSSL 3.0 parses a CSR through its
// provider decoder machinery, which costs more than the signature check
// itself; walking the few fields we need is a page of code. Untrusted input:
// every read is bounds-checked and fails cleanly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hostca {

struct DerTlv {
  uint8_t tag = 0;           // the identifier octet (single-byte tags only)
  std::string_view content;  // the value octets
  std::string_view whole;    // tag, length and value
};

// Reads one TLV from the front of *in and advances *in past it. False for a
// multi-byte tag, an indefinite or non-minimal length, a length over 2^24 or
// past the end of the input.
bool ReadDer(std::string_view* in, DerTlv* out);

// ReadDer that also requires `tag`.
bool ReadDer(std::string_view* in, uint8_t tag, DerTlv* out);

namespace der {
constexpr uint8_t kBoolean = 0x01;
constexpr uint8_t kInteger = 0x02;
constexpr uint8_t kBitString = 0x03;
constexpr uint8_t kOctetString = 0x04;
constexpr uint8_t kNull = 0x05;
constexpr uint8_t kEnumerated = 0x0a;
constexpr uint8_t kOid = 0x06;
constexpr uint8_t kSequence = 0x30;
constexpr uint8_t kSet = 0x31;
constexpr uint8_t kContext0 = 0xa0;  // [0] constructed
constexpr uint8_t kContext3 = 0xa3;  // [3] constructed

// Writing. The encoders build what OpenSSL's ASN.1 objects would, byte for
// byte, without allocating an object per field: the certificate of every
// enrollment and every CRL republish are assembled from kept encodings.

// tag, definite length (short or long form), then `content`.
void AppendTlv(std::string* out, uint8_t tag, std::string_view content);
// The tag and length of a TLV whose content, `content_len` bytes, the caller
// appends itself (a large one written in place, as the CRL's entries), and
// their size.
void AppendHeader(std::string* out, uint8_t tag, size_t content_len);
size_t HeaderSize(size_t content_len);
std::string Tlv(uint8_t tag, std::string_view content);
// INTEGER from a non-negative big-endian magnitude (leading zeros dropped,
// a 0x00 added when the top bit is set). The Append form writes it onto
// *out; IntegerFromMagnitudeSize is the size of its whole TLV, for a
// caller that writes the enclosing header first.
std::string IntegerFromMagnitude(std::string_view magnitude);
void AppendIntegerFromMagnitude(std::string* out, std::string_view magnitude);
size_t IntegerFromMagnitudeSize(std::string_view magnitude);
std::string IntegerFromU64(uint64_t v);
// UTCTime for 1950 to 2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5).
std::string Time(int64_t unix_seconds);
}  // namespace der

}  // namespace hostca
