// The record encoding: round trips, and no crash on any corrupt input.
#include "storage/internal/codec.h"

#include <catch2/catch.hpp>

#include "common/encoding.h"

namespace hostca::storage::internal {
namespace {

CertRecord SampleCert() {
  CertRecord c;
  c.serial = std::string("\x00\x7f\xff", 3);
  c.host_id = "3f0c";
  c.names = {"a.example", "", "b.example"};
  c.not_before = -5;
  c.not_after = INT64_MAX;
  c.issued_at = INT64_MIN;
  c.status = CertStatus::kRevoked;
  c.revocation_reason = 4;
  c.revoked_at = 77;
  c.source = "external";
  c.der = std::string(1000, '\0');
  return c;
}

// Decode, with the certificate decoder's body number dropped, so that one
// template tests every record type.
Status DecodeRecord(std::string_view in, CertRecord* r) {
  uint64_t body_seq = 0;
  return Decode(in, r, &body_seq);
}
template <typename R>
Status DecodeRecord(std::string_view in, R* r) {
  return Decode(in, r);
}

// Every proper prefix and every one-byte change of `enc` decodes to an error
// or to some record, never to a crash (ASan checks the reads).
template <typename R>
void Mangle(const std::string& enc) {
  for (size_t n = 0; n < enc.size(); ++n) {
    R r;
    REQUIRE(DecodeRecord(enc.substr(0, n), &r).code() == Code::kInternal);
  }
  for (size_t i = 0; i < enc.size() && i < 64; ++i) {
    std::string bad = enc;
    bad[i] = static_cast<char>(bad[i] ^ 0xff);
    R r;
    DecodeRecord(bad, &r).IgnoreError();
  }
  R r;
  REQUIRE(DecodeRecord(enc + "x", &r).code() == Code::kInternal);  // trailing bytes
  std::string newer = enc;
  newer[0] = 3;  // an unknown format version
  REQUIRE(DecodeRecord(newer, &r).code() == Code::kInternal);
}

TEST_CASE("records round-trip through the binary encoding") {
  const CertRecord c = SampleCert();
  CertRecord c2;
  uint64_t body_seq = 7;
  REQUIRE(Decode(Encode(c), &c2, &body_seq).ok());
  REQUIRE(body_seq == 0);  // the DER is inline
  REQUIRE(c2.serial == c.serial);
  REQUIRE(c2.names == c.names);
  REQUIRE(c2.not_before == -5);
  REQUIRE(c2.not_after == INT64_MAX);
  REQUIRE(c2.issued_at == INT64_MIN);
  REQUIRE(c2.status == CertStatus::kRevoked);
  REQUIRE(c2.revocation_reason == 4);
  REQUIRE(c2.source == "external");
  REQUIRE(c2.der == c.der);

  // The form whose DER sits in cert_bodies: the same fields and the body's
  // number, no DER.
  CertRecord c3;
  REQUIRE(Decode(EncodeCertRef(c, 0x0102030405060708ull), &c3, &body_seq).ok());
  REQUIRE(body_seq == 0x0102030405060708ull);
  REQUIRE((c3.serial == c.serial && c3.names == c.names && c3.not_after == INT64_MAX &&
           c3.revoked_at == 77 && c3.source == "external" && c3.der.empty()));

  const HostRecord h{"id", "a.example", {"b.example", "c.example"}, 9, true, 12};
  HostRecord h2;
  REQUIRE(Decode(Encode(h), &h2).ok());
  REQUIRE((h2.aliases == h.aliases && h2.preregistered && h2.reissue_until == 12));

  const TokenRecord t{RandomBytes(32), "n", 0xffffffffu, 3, 1, 2, "r", "host"};
  TokenRecord t2;
  REQUIRE(Decode(Encode(t), &t2).ok());
  REQUIRE(
      (t2.hash == t.hash && t2.max_uses == 0xffffffffu && t2.uses == 3 && t2.host_id == "host"));

  const AuditEntry a{7, 8, "admin", "revoke", "detail", RandomBytes(32), RandomBytes(32)};
  AuditEntry a2;
  REQUIRE(Decode(Encode(a), &a2).ok());
  REQUIRE((a2.seq == 7 && a2.prev_hash == a.prev_hash && a2.hash == a.hash));

  const MappingRecord m{"m", "host", "x.example", 5};
  MappingRecord m2;
  REQUIRE(Decode(Encode(m), &m2).ok());
  REQUIRE((m2.name == "x.example" && m2.requested_at == 5));
}

TEST_CASE("corrupt bytes decode to internal errors, never a crash") {
  Mangle<CertRecord>(Encode(SampleCert()));
  Mangle<CertRecord>(EncodeCertRef(SampleCert(), 42));
  CertRecord none;
  uint64_t body_seq = 0;
  REQUIRE(Decode(EncodeCertRef(SampleCert(), 0), &none, &body_seq).code() == Code::kInternal);
  Mangle<HostRecord>(Encode(HostRecord{"id", "a", {"b"}, 1, false, 0}));
  Mangle<TokenRecord>(Encode(TokenRecord{"h", "n", 1, 0, 1, 2, "r", ""}));
  Mangle<AuditEntry>(Encode(AuditEntry{1, 2, "a", "b", "c", "p", "h"}));
  Mangle<MappingRecord>(Encode(MappingRecord{"m", "h", "n", 1}));
  CertRecord c;
  for (int i = 0; i < 2000; ++i) {
    DecodeRecord(RandomBytes(static_cast<size_t>(i % 97)), &c).IgnoreError();
  }
  REQUIRE(DecodeRecord("", &c).code() == Code::kInternal);
  REQUIRE(DecodeRecord(std::string("\x01\xff\xff\xff\xff\x00", 6), &c).code() == Code::kInternal);
}

TEST_CASE("order-preserving keys") {
  REQUIRE(SignedKey(-1) < SignedKey(0));
  REQUIRE(SignedKey(INT64_MIN) < SignedKey(-1));
  REQUIRE(SignedKey(1) < SignedKey(INT64_MAX));
  REQUIRE(BigEndian64(255) < BigEndian64(256));
  REQUIRE(ReadBigEndian64(BigEndian64(0x0102030405060708ull)) == 0x0102030405060708ull);
}

}  // namespace
}  // namespace hostca::storage::internal
