// RecordTxn: the typed records and their indices over a key-value
// transaction (see kv.h for the key layout). One implementation serves every
// backend, so LMDB and the in-memory store behave the same. Read-only when
// constructed from a KvRead (writes then return internal). Not thread-safe;
// lives as long as the transaction it wraps.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "storage/internal/kv.h"
#include "storage/storage.h"

namespace hostca::storage::internal {

// The meta key of the host count (big-endian 64-bit), kept in every store
// of format hostca-lmdb-3 and later (RecordTxn::InitHostCount).
inline constexpr std::string_view kHostCountKey = "storage_host_count";
// The count a kHostCountKey value holds; nullopt when it is not 8 bytes.
std::optional<uint64_t> DecodeHostCount(std::string_view value);

// A key of the hosts table that is a certificate's entry (host_id NUL
// serial), not a host record (a host id never holds a NUL).
inline bool IsHostCertEntry(std::string_view hosts_key) {
  return hosts_key.find('\0') != std::string_view::npos;
}

class RecordTxn final : public WriteTxn {
 public:
  explicit RecordTxn(KvRead& kv) : kv_(kv), w_(nullptr) {}
  explicit RecordTxn(KvWrite& kv) : kv_(kv), w_(&kv) {}

  Result<CertRecord> GetCert(std::string_view serial) override;
  Result<std::vector<CertRecord>> CertsByHost(std::string_view host_id) override;
  Result<std::vector<CertRecord>> CertsExpiringBetween(int64_t from, int64_t to,
                                                       size_t limit) override;
  Status ForEachCertExpiringBetween(int64_t from, int64_t to, CertRead read,
                                    const std::function<bool(const CertRecord&)>& visit) override;
  Status ForEachCertWithStatus(CertStatus status, CertRead read,
                               const std::function<bool(const CertRecord&)>& visit) override;
  Result<uint64_t> CountCerts() override { return kv_.Count(kCerts); }
  Result<uint64_t> CountHosts() override;
  Result<HostRecord> GetHost(std::string_view host_id) override;
  Result<HostRecord> GetHostByName(std::string_view name) override;
  Result<std::vector<HostRecord>> ListHosts() override;
  Result<TokenRecord> GetToken(std::string_view hash) override;
  Result<TokenRecord> GetTokenByName(std::string_view name) override;
  Result<std::vector<TokenRecord>> ListTokens() override;
  Result<MappingRecord> GetMapping(std::string_view id) override;
  Result<std::vector<MappingRecord>> ListMappings() override;
  Result<std::string> GetMeta(std::string_view key) override;
  Result<std::vector<AuditEntry>> ReadAudit(uint64_t from_seq, size_t limit) override;
  Result<AuditEntry> LastAudit() override;

  Status InsertCert(const CertRecord& rec) override;
  Status UpdateCert(const CertRecord& rec) override;
  Status DeleteCert(std::string_view serial) override;
  Status PutHost(const HostRecord& rec) override;
  Status DeleteHost(std::string_view host_id) override;
  Status PutToken(const TokenRecord& rec) override;
  Status DeleteToken(std::string_view hash) override;
  Status PutMapping(const MappingRecord& rec) override;
  Status DeleteMapping(std::string_view id) override;
  Status PutMeta(std::string_view key, std::string_view value) override;
  Result<AuditEntry> AppendAudit(int64_t time, std::string actor, std::string action,
                                 std::string detail) override;

  // Writes the host count, from the hosts table's count, when the store
  // keeps none: a new store, or one written before hostca-lmdb-3, whose
  // hosts table holds host records only. Backends call it where they set
  // the store's format, before any certificate entry goes into hosts.
  Status InitHostCount();
  // Gives every revoked status-index entry that holds "" (a store written
  // before hostca-lmdb-4) its revocation (EncodeRevocation), read from the
  // record; one read and one write per such entry, once per store.
  Status FillRevocations();

 private:
  template <typename R>
  Result<R> GetRecord(Table t, std::string_view key, const char* what);
  template <typename R>
  Result<std::vector<R>> ListAll(Table t);
  // Decodes every record of `t` in key order until visit returns false.
  template <typename R>
  Status VisitAll(Table t, const std::function<bool(R&)>& visit);
  Status Writable() const;
  // The host count kept in meta; before it exists (a store written before
  // hostca-lmdb-3, or one with no host yet) the hosts table holds host
  // records only, and their number is the count.
  Result<std::optional<uint64_t>> StoredHostCount();
  Status PutHostCount(uint64_t n);
  // A certificate record as stored: its fields, and where its DER is
  // (body_seq 0: inline, in rec.der).
  struct StoredCert {
    CertRecord rec;
    uint64_t body_seq = 0;
  };
  Result<StoredCert> GetStoredCert(std::string_view serial);
  // The DER that cert_bodies holds under body_seq; internal when missing.
  Result<std::string> CertBody(uint64_t body_seq);
  // Decodes a certs value; with kWithDer also reads its DER from cert_bodies.
  Result<CertRecord> CertFromValue(std::string_view value, CertRead read);
  Result<CertRecord> GetCertAs(std::string_view serial, CertRead read);
  // Stores a DER under the next sequence number and returns the number.
  Result<uint64_t> AppendCertBody(std::string_view der);
  // GetCert for a serial an index named: a missing record is internal.
  Result<CertRecord> CertFromIndex(std::string_view serial, CertRead read);
  // Walks index `t` from key `start` and visits the certificate each entry
  // names while `serial_of(key)` gives its serial (nullopt: past the range)
  // and `visit` returns true. A kRevocation read takes an entry's value
  // when it holds the revocation (EncodeRevocation) and reads no record.
  Status VisitIndexedCerts(
      Table t, std::string_view start,
      const std::function<std::optional<std::string_view>(std::string_view)>& serial_of,
      CertRead read, const std::function<bool(const CertRecord&)>& visit);
  Status PutCertIndices(const CertRecord& rec);
  Status DelCertIndices(const CertRecord& rec);
  // Removes a name index entry if it points at host_id.
  Status DelNameIfOwned(const std::string& name_key, std::string_view host_id);

  KvRead& kv_;
  KvWrite* w_;
};

}  // namespace hostca::storage::internal
