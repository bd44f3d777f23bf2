// A minimal reader of DER (X.690) for the structures hostca walks on its hot
// path (the CSR of every enrollment). OpenSSL 3.0 parses a CSR through its
// provider decoder machinery, which costs more than the signature check
// itself; walking the few fields we need is a page of code. Untrusted input:
// every read is bounds-checked and fails cleanly.
#pragma once

#include <cstdint>
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
constexpr uint8_t kInteger = 0x02;
constexpr uint8_t kBitString = 0x03;
constexpr uint8_t kNull = 0x05;
constexpr uint8_t kOid = 0x06;
constexpr uint8_t kSequence = 0x30;
constexpr uint8_t kSet = 0x31;
constexpr uint8_t kContext0 = 0xa0;  // [0] constructed
}  // namespace der

}  // namespace hostca
