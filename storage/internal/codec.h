// Binary encoding of the records: a version byte, then fields as big-endian
// integers and length-prefixed strings. Written by hand rather than with a
// serialisation library because it is on the hot path of every issuance and
// of scans over millions of records, where a compact fixed layout with no
// allocation beyond the strings is fastest; and it adds no dependency.
// Decoding never trusts its input: malformed bytes give internal "corrupt record".
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/records.h"

namespace hostca::storage::internal {

// A certificate record with its DER inline (version 1: stores written
// before cert_bodies, and tests).
std::string Encode(const CertRecord& r);
// A certificate record without its DER, which is cert_bodies' entry
// body_seq (> 0).
std::string EncodeCertRef(const CertRecord& r, uint64_t body_seq);
std::string Encode(const HostRecord& r);
std::string Encode(const TokenRecord& r);
std::string Encode(const MappingRecord& r);
std::string Encode(const AuditEntry& r);

// Either form: body_seq is 0 and r->der the DER for an inline record, else
// the body's sequence number and r->der empty.
Status Decode(std::string_view in, CertRecord* r, uint64_t* body_seq);
Status Decode(std::string_view in, HostRecord* r);
Status Decode(std::string_view in, TokenRecord* r);
Status Decode(std::string_view in, MappingRecord* r);
Status Decode(std::string_view in, AuditEntry* r);

// The value of a revoked certificate's status-index entry (format
// hostca-lmdb-4): not_after, revoked_at and the reason, so the CRL's walk
// need not read the record. Entries written before hold "" until the store
// is marked -4 (RecordTxn::FillRevocations).
std::string EncodeRevocation(const CertRecord& r);
// Sets r's not_after, revoked_at and revocation_reason (status kRevoked);
// false when `in` is not such a value (an older entry's "" included).
bool DecodeRevocation(std::string_view in, CertRecord* r);

// The low `bytes` bytes of v, most significant first (the codec's, the
// redo log's and kv_ops' integers), and back: at most `bytes` bytes of
// `in` are read, fewer when it is shorter.
void AppendBigEndian(std::string* out, uint64_t v, size_t bytes);
uint64_t ReadBigEndian(std::string_view in, size_t bytes);
// Order-preserving 8-byte keys.
std::string BigEndian64(uint64_t v);
uint64_t ReadBigEndian64(std::string_view in);
std::string SignedKey(int64_t v);  // flips the sign bit so negative values sort first

}  // namespace hostca::storage::internal
