#include "storage/internal/record_txn.h"

#include <algorithm>
#include <set>

#include "common/audit_hash.h"
#include "common/encoding.h"
#include "storage/internal/codec.h"

namespace hostca::storage::internal {
namespace {

std::string HostKey(std::string_view host_id, std::string_view serial) {
  std::string k(host_id);
  k.push_back('\0');
  k.append(serial);
  return k;
}

std::string ExpiryKey(int64_t not_after, std::string_view serial) {
  return SignedKey(not_after) + std::string(serial);
}

std::string StatusKey(CertStatus s, std::string_view serial) {
  return std::string(1, static_cast<char>(s)) + std::string(serial);
}

// Host names are DNS names, which compare case-insensitively: the unique
// index is keyed by the lower-case form, the record keeps the name as given.
std::string NameKey(std::string_view name) { return AsciiLower(name); }

// Key limits keep every index key below LMDB's 511-byte maximum.
constexpr size_t kMaxBinaryKey = 64;  // serials, token hashes
constexpr size_t kMaxTextKey = 255;   // ids, names, meta keys (no NUL)

Status CheckKey(std::string_view what, std::string_view key, size_t max_size) {
  if (key.empty() || key.size() > max_size || key.find('\0') != std::string_view::npos) {
    return InvalidArgument(std::string(what) + " must be 1 to " + std::to_string(max_size) +
                           " bytes without NUL");
  }
  return Status::Ok();
}

// Raw bytes (serials, hashes) may hold any byte value.
Status CheckBinaryKey(std::string_view what, std::string_view key) {
  if (key.empty() || key.size() > kMaxBinaryKey) {
    return InvalidArgument(std::string(what) + " must be 1 to " + std::to_string(kMaxBinaryKey) +
                           " bytes");
  }
  return Status::Ok();
}

Status CheckCert(const CertRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(CheckBinaryKey("a certificate serial", rec.serial));
  // host_id may be empty (a certificate of no host, e.g. the server's own).
  if (rec.host_id.size() > kMaxTextKey || rec.host_id.find('\0') != std::string::npos) {
    return InvalidArgument("bad host id in a certificate record");
  }
  return Status::Ok();
}

Status CheckHost(const HostRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(CheckKey("a host id", rec.host_id, kMaxTextKey));
  HOSTCA_RETURN_IF_ERROR(CheckKey("a host name", rec.primary_name, kMaxTextKey));
  for (const std::string& a : rec.aliases) {
    HOSTCA_RETURN_IF_ERROR(CheckKey("a host name", a, kMaxTextKey));
  }
  return Status::Ok();
}

// Meta keys the store keeps for itself (the format marker, the host count).
constexpr std::string_view kReservedMetaPrefix = "storage_";

}  // namespace

std::optional<uint64_t> DecodeHostCount(std::string_view value) {
  return value.size() == 8 ? std::optional(ReadBigEndian64(value)) : std::nullopt;
}

Status RecordTxn::Writable() const {
  return w_ != nullptr ? Status::Ok() : Internal("write in a read-only transaction");
}

template <typename R>
Result<R> RecordTxn::GetRecord(Table t, std::string_view key, const char* what) {
  HOSTCA_ASSIGN_OR_RETURN(auto raw, kv_.Get(t, key));
  if (!raw) {
    return NotFound(std::string("no such ") + what);
  }
  R rec;
  HOSTCA_RETURN_IF_ERROR(Decode(*raw, &rec));
  return rec;
}

template <typename R>
Status RecordTxn::VisitAll(Table t, const std::function<bool(R&)>& visit) {
  Status decode_error;
  HOSTCA_RETURN_IF_ERROR(kv_.Scan(t, "", [&](std::string_view k, std::string_view v) {
    if (t == kHosts && IsHostCertEntry(k)) {
      return true;  // a certificate of the host listed before it
    }
    R rec;
    decode_error = Decode(v, &rec);
    return decode_error.ok() && visit(rec);
  }));
  return decode_error;
}

template <typename R>
Result<std::vector<R>> RecordTxn::ListAll(Table t) {
  std::vector<R> out;
  HOSTCA_RETURN_IF_ERROR(VisitAll<R>(t, [&out](R& rec) {
    out.push_back(std::move(rec));
    return true;
  }));
  return out;
}

Result<std::string> RecordTxn::CertBody(uint64_t body_seq) {
  HOSTCA_ASSIGN_OR_RETURN(auto der, kv_.Get(kCertBodies, BigEndian64(body_seq)));
  if (!der) {
    return Internal("corrupt record: a certificate's DER is not stored");
  }
  return std::move(*der);
}

Result<CertRecord> RecordTxn::CertFromValue(std::string_view value, CertRead read) {
  CertRecord rec;
  uint64_t body_seq = 0;
  HOSTCA_RETURN_IF_ERROR(Decode(value, &rec, &body_seq));
  if (read != CertRead::kWithDer) {
    rec.der.clear();  // also that of a record with its DER inline (older stores)
  } else if (body_seq != 0) {
    HOSTCA_ASSIGN_OR_RETURN(rec.der, CertBody(body_seq));
  }
  return rec;
}

Result<CertRecord> RecordTxn::GetCert(std::string_view serial) {
  return GetCertAs(serial, CertRead::kWithDer);
}

Result<CertRecord> RecordTxn::GetCertAs(std::string_view serial, CertRead read) {
  HOSTCA_ASSIGN_OR_RETURN(auto raw, kv_.Get(kCerts, serial));
  if (!raw) {
    return NotFound("no such certificate");
  }
  return CertFromValue(*raw, read);
}

Result<CertRecord> RecordTxn::CertFromIndex(std::string_view serial, CertRead read) {
  auto rec = GetCertAs(serial, read);
  if (!rec.ok() && rec.status().code() == Code::kNotFound) {
    return Internal("corrupt index: it names a certificate that is not stored");
  }
  return rec;
}

Result<std::vector<CertRecord>> RecordTxn::CertsByHost(std::string_view host_id) {
  if (host_id.size() > kMaxTextKey) {
    return std::vector<CertRecord>();  // no such key can exist
  }
  // Beside the host's record in the hosts table; a store written before
  // hostca-lmdb-3 may still hold some in certs_by_host.
  std::set<std::string> serials;
  const std::string prefix = HostKey(host_id, "");
  for (const Table t : {kHosts, kCertsByHost}) {
    HOSTCA_RETURN_IF_ERROR(kv_.Scan(t, prefix, [&](std::string_view k, std::string_view) {
      if (k.substr(0, prefix.size()) != prefix) {
        return false;
      }
      serials.emplace(k.substr(prefix.size()));
      return true;
    }));
  }
  std::vector<CertRecord> out;
  for (const std::string& s : serials) {
    HOSTCA_ASSIGN_OR_RETURN(CertRecord rec, CertFromIndex(s, CertRead::kWithDer));
    out.push_back(std::move(rec));
  }
  std::sort(out.begin(), out.end(),
            [](const CertRecord& a, const CertRecord& b) { return a.issued_at < b.issued_at; });
  return out;
}

Status RecordTxn::VisitIndexedCerts(
    Table t, std::string_view start,
    const std::function<std::optional<std::string_view>(std::string_view)>& serial_of,
    CertRead read, const std::function<bool(const CertRecord&)>& visit) {
  Status inner;
  HOSTCA_RETURN_IF_ERROR(kv_.Scan(t, start, [&](std::string_view k, std::string_view v) {
    const std::optional<std::string_view> serial = serial_of(k);
    if (!serial) {
      return false;
    }
    if (CertRecord from_index; read == CertRead::kRevocation && DecodeRevocation(v, &from_index)) {
      from_index.serial = std::string(*serial);
      return visit(from_index);
    }
    auto rec = CertFromIndex(*serial, read);  // an entry written before ("") reads the record
    if (!rec.ok()) {
      inner = rec.status();
      return false;
    }
    return visit(*rec);
  }));
  return inner;
}

Result<std::vector<CertRecord>> RecordTxn::CertsExpiringBetween(int64_t from, int64_t to,
                                                                size_t limit) {
  std::vector<CertRecord> out;
  if (limit == 0) {
    return out;
  }
  HOSTCA_RETURN_IF_ERROR(
      ForEachCertExpiringBetween(from, to, CertRead::kWithDer, [&](const CertRecord& rec) {
        out.push_back(rec);
        return out.size() < limit;
      }));
  return out;
}

Status RecordTxn::ForEachCertExpiringBetween(int64_t from, int64_t to, CertRead read,
                                             const std::function<bool(const CertRecord&)>& visit) {
  const std::string end = SignedKey(to);
  return VisitIndexedCerts(
      kCertsByExpiry, SignedKey(from),
      [&](std::string_view k) -> std::optional<std::string_view> {
        if (k.substr(0, 8) >= end) {
          return std::nullopt;
        }
        return k.substr(8);
      },
      read, visit);
}

Status RecordTxn::ForEachCertWithStatus(CertStatus status, CertRead read,
                                        const std::function<bool(const CertRecord&)>& visit) {
  if (status == CertStatus::kValid) {
    // Not indexed (see PutCertIndices): every record, in serial order.
    Status inner;
    HOSTCA_RETURN_IF_ERROR(kv_.Scan(kCerts, "", [&](std::string_view, std::string_view v) {
      auto rec = CertFromValue(v, read);
      if (!rec.ok()) {
        inner = rec.status();
        return false;
      }
      return rec->status != CertStatus::kValid || visit(*rec);
    }));
    return inner;
  }
  const std::string prefix(1, static_cast<char>(status));
  return VisitIndexedCerts(
      kCertsByStatus, prefix,
      [&](std::string_view k) -> std::optional<std::string_view> {
        if (k.substr(0, 1) != prefix) {
          return std::nullopt;
        }
        return k.substr(1);
      },
      read, visit);
}

Result<HostRecord> RecordTxn::GetHost(std::string_view host_id) {
  if (IsHostCertEntry(host_id)) {
    return NotFound("no such host");  // a certificate's entry, not a host
  }
  return GetRecord<HostRecord>(kHosts, host_id, "host");
}

Result<HostRecord> RecordTxn::GetHostByName(std::string_view name) {
  HOSTCA_ASSIGN_OR_RETURN(auto id, kv_.Get(kHostNames, NameKey(name)));
  if (!id) {
    return NotFound("no host named " + std::string(name));
  }
  return GetHost(*id);
}

Result<std::vector<HostRecord>> RecordTxn::ListHosts() { return ListAll<HostRecord>(kHosts); }

Result<std::optional<uint64_t>> RecordTxn::StoredHostCount() {
  HOSTCA_ASSIGN_OR_RETURN(auto v, kv_.Get(kMeta, kHostCountKey));
  if (!v) {
    return std::optional<uint64_t>();
  }
  const std::optional<uint64_t> n = DecodeHostCount(*v);
  if (!n) {
    return Internal("corrupt record: the stored host count");
  }
  return n;
}

Result<uint64_t> RecordTxn::CountHosts() {
  HOSTCA_ASSIGN_OR_RETURN(const std::optional<uint64_t> stored, StoredHostCount());
  if (stored) {
    return *stored;
  }
  return kv_.Count(kHosts);
}

Status RecordTxn::InitHostCount() {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_ASSIGN_OR_RETURN(const std::optional<uint64_t> stored, StoredHostCount());
  if (stored) {
    return Status::Ok();
  }
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t hosts, kv_.Count(kHosts));
  return PutHostCount(hosts);
}

Status RecordTxn::FillRevocations() {
  HOSTCA_RETURN_IF_ERROR(Writable());
  const std::string prefix(1, static_cast<char>(CertStatus::kRevoked));
  std::vector<std::string> empty;  // written after the walk, not under its cursor
  HOSTCA_RETURN_IF_ERROR(
      kv_.Scan(kCertsByStatus, prefix, [&](std::string_view k, std::string_view v) {
        if (k.substr(0, 1) != prefix) {
          return false;
        }
        if (v.empty()) {
          empty.emplace_back(k);
        }
        return true;
      }));
  for (const std::string& key : empty) {
    auto stored = GetStoredCert(std::string_view(key).substr(1));
    if (!stored.ok()) {
      // A dangling entry stays as it is: the store check reports it.
      if (stored.status().code() == Code::kNotFound) {
        continue;
      }
      return stored.status();
    }
    HOSTCA_RETURN_IF_ERROR(w_->Put(kCertsByStatus, key, EncodeRevocation(stored->rec)));
  }
  return Status::Ok();
}

Status RecordTxn::PutHostCount(uint64_t n) { return w_->Put(kMeta, kHostCountKey, BigEndian64(n)); }

Result<TokenRecord> RecordTxn::GetToken(std::string_view hash) {
  return GetRecord<TokenRecord>(kTokens, hash, "token");
}

Result<TokenRecord> RecordTxn::GetTokenByName(std::string_view name) {
  HOSTCA_ASSIGN_OR_RETURN(auto hash, kv_.Get(kTokenNames, name));
  if (!hash) {
    return NotFound("no token named " + std::string(name));
  }
  return GetToken(*hash);
}

Result<std::vector<TokenRecord>> RecordTxn::ListTokens() { return ListAll<TokenRecord>(kTokens); }

Result<MappingRecord> RecordTxn::GetMapping(std::string_view id) {
  return GetRecord<MappingRecord>(kMappings, id, "mapping");
}

Result<std::vector<MappingRecord>> RecordTxn::ListMappings() {
  return ListAll<MappingRecord>(kMappings);
}

Result<std::string> RecordTxn::GetMeta(std::string_view key) {
  HOSTCA_ASSIGN_OR_RETURN(auto v, kv_.Get(kMeta, key));
  if (!v) {
    return NotFound("no meta key " + std::string(key));
  }
  return *v;
}

Result<std::vector<AuditEntry>> RecordTxn::ReadAudit(uint64_t from_seq, size_t limit) {
  std::vector<AuditEntry> out;
  Status inner;
  HOSTCA_RETURN_IF_ERROR(
      kv_.Scan(kAudit, BigEndian64(from_seq), [&](std::string_view, std::string_view v) {
        if (out.size() >= limit) {
          return false;
        }
        AuditEntry e;
        inner = Decode(v, &e);
        if (!inner.ok()) {
          return false;
        }
        out.push_back(std::move(e));
        return true;
      }));
  HOSTCA_RETURN_IF_ERROR(inner);
  return out;
}

Result<AuditEntry> RecordTxn::LastAudit() {
  HOSTCA_ASSIGN_OR_RETURN(auto last, kv_.Last(kAudit));
  if (!last) {
    return NotFound("the audit log is empty");
  }
  AuditEntry e;
  HOSTCA_RETURN_IF_ERROR(Decode(last->second, &e));
  return e;
}

// A certificate's host entry sits beside its host's record in the hosts
// table (host_id NUL serial), not in an index of its own: a new host's
// record and its first certificate's entry share a B-tree leaf, where two
// tables keyed by random host ids dirtied a random page each per
// enrollment. The hosts table then no longer counts hosts, so the count is
// kept in meta (InitHostCount).
//
// The status index holds only certificates that are not valid (revoked):
// the CRL and the revoked listing read it, and a valid certificate's entry
// would be one more random-key B-tree insert per issuance, pages written
// and synced in every commit. Stores written before keep their valid
// entries; they are deleted with the certificate's other entries. A
// revoked entry's value is what a CRL entry needs (EncodeRevocation).
Status RecordTxn::PutCertIndices(const CertRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(w_->Put(kHosts, HostKey(rec.host_id, rec.serial), ""));
  HOSTCA_RETURN_IF_ERROR(w_->Put(kCertsByExpiry, ExpiryKey(rec.not_after, rec.serial), ""));
  if (rec.status == CertStatus::kValid) {
    return Status::Ok();
  }
  return w_->Put(kCertsByStatus, StatusKey(rec.status, rec.serial), EncodeRevocation(rec));
}

Status RecordTxn::DelCertIndices(const CertRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(w_->Del(kHosts, HostKey(rec.host_id, rec.serial)));
  HOSTCA_RETURN_IF_ERROR(w_->Del(kCertsByHost, HostKey(rec.host_id, rec.serial)));  // older stores
  HOSTCA_RETURN_IF_ERROR(w_->Del(kCertsByExpiry, ExpiryKey(rec.not_after, rec.serial)));
  return w_->Del(kCertsByStatus, StatusKey(rec.status, rec.serial));  // absent for valid ones
}

Result<uint64_t> RecordTxn::AppendCertBody(std::string_view der) {
  HOSTCA_ASSIGN_OR_RETURN(auto last, kv_.Last(kCertBodies));
  const uint64_t seq = last ? ReadBigEndian64(last->first) + 1 : 1;
  HOSTCA_RETURN_IF_ERROR(w_->Append(kCertBodies, BigEndian64(seq), der));
  return seq;
}

Result<RecordTxn::StoredCert> RecordTxn::GetStoredCert(std::string_view serial) {
  HOSTCA_ASSIGN_OR_RETURN(auto raw, kv_.Get(kCerts, serial));
  if (!raw) {
    return NotFound("no such certificate");
  }
  StoredCert out;
  HOSTCA_RETURN_IF_ERROR(Decode(*raw, &out.rec, &out.body_seq));
  return out;
}

// The DER goes to cert_bodies, an append-only table keyed by a sequence
// number, and the record under the serial keeps only the fields and that
// number. The serial-keyed table takes a random-key insert per issuance:
// without the DER (most of a record's bytes) its B-tree has about a quarter
// of the pages (at 1M certificates 68k leaves, beside the bodies' 202k), so
// fewer of its pages are read, split and written per commit, and the
// bodies' pages fill one after the other (MDB_APPEND).
Status RecordTxn::InsertCert(const CertRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(CheckCert(rec));
  HOSTCA_ASSIGN_OR_RETURN(auto existing, kv_.Get(kCerts, rec.serial));
  if (existing) {
    return AlreadyExists("serial already used", "duplicate_serial");
  }
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t seq, AppendCertBody(rec.der));
  HOSTCA_RETURN_IF_ERROR(w_->Put(kCerts, rec.serial, EncodeCertRef(rec, seq)));
  return PutCertIndices(rec);
}

// A serial's certificate never changes: rec.der must be empty or the
// stored DER. A record of a store written before cert_bodies (DER inline)
// gets its DER moved to cert_bodies here.
Status RecordTxn::UpdateCert(const CertRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(CheckCert(rec));
  HOSTCA_ASSIGN_OR_RETURN(StoredCert old, GetStoredCert(rec.serial));
  uint64_t seq = old.body_seq;
  if (!rec.der.empty()) {
    std::string stored = old.rec.der;
    if (seq != 0) {
      HOSTCA_ASSIGN_OR_RETURN(stored, CertBody(seq));
    }
    if (rec.der != stored) {
      return InvalidArgument("a stored certificate's DER cannot change");
    }
  }
  HOSTCA_RETURN_IF_ERROR(DelCertIndices(old.rec));
  if (seq == 0) {
    HOSTCA_ASSIGN_OR_RETURN(seq, AppendCertBody(old.rec.der));
  }
  HOSTCA_RETURN_IF_ERROR(w_->Put(kCerts, rec.serial, EncodeCertRef(rec, seq)));
  return PutCertIndices(rec);
}

Status RecordTxn::DeleteCert(std::string_view serial) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_ASSIGN_OR_RETURN(StoredCert old, GetStoredCert(serial));
  HOSTCA_RETURN_IF_ERROR(DelCertIndices(old.rec));
  if (old.body_seq != 0) {
    HOSTCA_RETURN_IF_ERROR(w_->Del(kCertBodies, BigEndian64(old.body_seq)));
  }
  return w_->Del(kCerts, serial);
}

Status RecordTxn::PutHost(const HostRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(CheckHost(rec));
  std::set<std::string> names;
  names.insert(NameKey(rec.primary_name));
  for (const std::string& a : rec.aliases) {
    names.insert(NameKey(a));
  }
  // Check every name before writing anything, so a refused PutHost leaves
  // the transaction as it was even if the caller ignores the error.
  for (const std::string& n : names) {
    HOSTCA_ASSIGN_OR_RETURN(auto owner, kv_.Get(kHostNames, n));
    if (owner && *owner != rec.host_id) {
      return Conflict(n + " belongs to host " + *owner, "name_conflict");
    }
  }
  auto old = GetHost(rec.host_id);
  if (old.ok()) {
    std::vector<std::string> old_names = old->aliases;
    old_names.push_back(old->primary_name);
    for (const std::string& n : old_names) {
      if (names.count(NameKey(n)) == 0) {
        HOSTCA_RETURN_IF_ERROR(DelNameIfOwned(NameKey(n), rec.host_id));
      }
    }
  } else if (old.status().code() != Code::kNotFound) {
    return old.status();
  } else {
    HOSTCA_ASSIGN_OR_RETURN(const uint64_t hosts, CountHosts());
    HOSTCA_RETURN_IF_ERROR(PutHostCount(hosts + 1));
  }
  for (const std::string& n : names) {
    HOSTCA_RETURN_IF_ERROR(w_->Put(kHostNames, n, rec.host_id));
  }
  return w_->Put(kHosts, rec.host_id, Encode(rec));
}

Status RecordTxn::DelNameIfOwned(const std::string& name_key, std::string_view host_id) {
  HOSTCA_ASSIGN_OR_RETURN(auto owner, kv_.Get(kHostNames, name_key));
  if (owner && *owner == host_id) {
    return w_->Del(kHostNames, name_key);
  }
  return Status::Ok();
}

Status RecordTxn::DeleteHost(std::string_view host_id) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_ASSIGN_OR_RETURN(HostRecord old, GetHost(host_id));
  HOSTCA_RETURN_IF_ERROR(DelNameIfOwned(NameKey(old.primary_name), host_id));
  for (const std::string& a : old.aliases) {
    HOSTCA_RETURN_IF_ERROR(DelNameIfOwned(NameKey(a), host_id));
  }
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t hosts, CountHosts());
  HOSTCA_RETURN_IF_ERROR(PutHostCount(hosts > 0 ? hosts - 1 : 0));
  return w_->Del(kHosts, host_id);
}

Status RecordTxn::PutToken(const TokenRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(CheckBinaryKey("a token hash", rec.hash));
  HOSTCA_RETURN_IF_ERROR(CheckKey("a token name", rec.name, kMaxTextKey));
  HOSTCA_ASSIGN_OR_RETURN(auto owner, kv_.Get(kTokenNames, rec.name));
  if (owner && *owner != rec.hash) {
    return AlreadyExists("a token named " + rec.name + " exists", "token_name_taken");
  }
  auto old = GetToken(rec.hash);
  if (old.ok() && old->name != rec.name) {
    HOSTCA_RETURN_IF_ERROR(w_->Del(kTokenNames, old->name));
  } else if (!old.ok() && old.status().code() != Code::kNotFound) {
    return old.status();
  }
  HOSTCA_RETURN_IF_ERROR(w_->Put(kTokenNames, rec.name, rec.hash));
  return w_->Put(kTokens, rec.hash, Encode(rec));
}

Status RecordTxn::DeleteToken(std::string_view hash) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_ASSIGN_OR_RETURN(TokenRecord old, GetToken(hash));
  HOSTCA_ASSIGN_OR_RETURN(auto owner, kv_.Get(kTokenNames, old.name));
  if (owner && *owner == hash) {
    HOSTCA_RETURN_IF_ERROR(w_->Del(kTokenNames, old.name));
  }
  return w_->Del(kTokens, hash);
}

Status RecordTxn::PutMapping(const MappingRecord& rec) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(CheckKey("a mapping id", rec.id, kMaxTextKey));
  return w_->Put(kMappings, rec.id, Encode(rec));
}

Status RecordTxn::DeleteMapping(std::string_view id) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(GetMapping(id).status());
  return w_->Del(kMappings, id);
}

Status RecordTxn::PutMeta(std::string_view key, std::string_view value) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  HOSTCA_RETURN_IF_ERROR(CheckKey("a meta key", key, kMaxTextKey));
  if (key.substr(0, kReservedMetaPrefix.size()) == kReservedMetaPrefix) {
    return InvalidArgument("meta keys starting with storage_ belong to the store");
  }
  return w_->Put(kMeta, key, value);
}

Result<AuditEntry> RecordTxn::AppendAudit(int64_t time, std::string actor, std::string action,
                                          std::string detail) {
  HOSTCA_RETURN_IF_ERROR(Writable());
  AuditEntry e;
  auto last = LastAudit();
  if (last.ok()) {
    e.seq = last->seq + 1;
    e.prev_hash = last->hash;
  } else if (last.status().code() == Code::kNotFound) {
    e.seq = 1;
    e.prev_hash = AuditGenesisHash();
  } else {
    return last.status();
  }
  e.time = time;
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.detail = std::move(detail);
  e.hash = AuditEntryHash(e.prev_hash, e.seq, e.time, e.actor, e.action, e.detail);
  HOSTCA_RETURN_IF_ERROR(w_->Append(kAudit, BigEndian64(e.seq), Encode(e)));
  return e;
}

}  // namespace hostca::storage::internal
