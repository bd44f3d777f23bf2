#include "storage/internal/codec.h"

#include <vector>

namespace hostca::storage::internal {
namespace {

constexpr uint8_t kVersion = 1;
// A certificate record whose DER sits in cert_bodies: the fields of version
// 1 with the body's sequence number in place of the DER.
constexpr uint8_t kCertRefVersion = 2;

class Writer {
 public:
  explicit Writer(uint8_t version = kVersion) { out_.push_back(static_cast<char>(version)); }
  void U64(uint64_t v) { out_ += BigEndian64(v); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void U32(uint32_t v) { AppendBigEndian(&out_, v, 4); }
  void Strs(const std::vector<std::string>& v) {
    U32(static_cast<uint32_t>(v.size()));
    for (const auto& s : v) {
      Str(s);
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  // Reads a record of version kVersion up to max_version.
  explicit Reader(std::string_view in, uint8_t max_version = kVersion) : in_(in) {
    if (in_.empty() || static_cast<uint8_t>(in_[0]) < kVersion ||
        static_cast<uint8_t>(in_[0]) > max_version) {
      ok_ = false;
    } else {
      version_ = static_cast<uint8_t>(in_[0]);
      pos_ = 1;
    }
  }
  uint8_t version() const { return version_; }
  uint64_t U64() {
    if (!Need(8)) {
      return 0;
    }
    const uint64_t v = ReadBigEndian64(in_.substr(pos_, 8));
    pos_ += 8;
    return v;
  }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  uint32_t U32() {
    if (!Need(4)) {
      return 0;
    }
    const auto v = static_cast<uint32_t>(ReadBigEndian(in_.substr(pos_), 4));
    pos_ += 4;
    return v;
  }
  uint8_t U8() {
    if (!Need(1)) {
      return 0;
    }
    return static_cast<uint8_t>(in_[pos_++]);
  }
  std::string Str() {
    const uint32_t n = U32();
    if (!Need(n)) {
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::vector<std::string> Strs() {
    const uint32_t n = U32();
    std::vector<std::string> v;
    for (uint32_t i = 0; i < n && ok_; ++i) {
      v.push_back(Str());
    }
    return v;
  }
  Status Done() const {
    return ok_ && pos_ == in_.size() ? Status::Ok() : Internal("corrupt record in the store");
  }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
    }
    return ok_;
  }
  std::string_view in_;
  size_t pos_ = 0;
  uint8_t version_ = 0;
  bool ok_ = true;
};

}  // namespace

void AppendBigEndian(std::string* out, uint64_t v, size_t bytes) {
  for (size_t i = bytes; i-- > 0;) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint64_t ReadBigEndian(std::string_view in, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes && i < in.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(in[i]);
  }
  return v;
}

std::string BigEndian64(uint64_t v) {
  std::string out;
  out.reserve(8);
  AppendBigEndian(&out, v, 8);
  return out;
}

uint64_t ReadBigEndian64(std::string_view in) { return ReadBigEndian(in, 8); }

std::string SignedKey(int64_t v) { return BigEndian64(static_cast<uint64_t>(v) ^ (1ull << 63)); }

namespace {
constexpr char kRevocationVersion = 1;
constexpr size_t kRevocationSize = 1 + 8 + 8 + 1;
}  // namespace

// Version byte, not_after and revoked_at as signed big-endian, then the
// reason plus one (0: none, for a record revoked without one).
std::string EncodeRevocation(const CertRecord& r) {
  std::string out(1, kRevocationVersion);
  out += SignedKey(r.not_after);
  out += SignedKey(r.revoked_at);
  const int reason =
      r.revocation_reason < 0 || r.revocation_reason > 254 ? -1 : r.revocation_reason;
  out.push_back(static_cast<char>(reason + 1));
  return out;
}

bool DecodeRevocation(std::string_view in, CertRecord* r) {
  if (in.size() != kRevocationSize || in[0] != kRevocationVersion) {
    return false;
  }
  const auto signed_at = [&](size_t pos) {
    return static_cast<int64_t>(ReadBigEndian64(in.substr(pos, 8)) ^ (1ull << 63));
  };
  r->not_after = signed_at(1);
  r->revoked_at = signed_at(9);
  r->revocation_reason = static_cast<int>(static_cast<uint8_t>(in[17])) - 1;
  r->status = CertStatus::kRevoked;
  return true;
}

namespace {

void WriteCertFields(Writer& w, const CertRecord& r) {
  w.Str(r.serial);
  w.Str(r.host_id);
  w.Strs(r.names);
  w.I64(r.not_before);
  w.I64(r.not_after);
  w.I64(r.issued_at);
  w.U8(static_cast<uint8_t>(r.status));
  w.I64(r.revocation_reason);
  w.I64(r.revoked_at);
  w.Str(r.source);
}

}  // namespace

std::string Encode(const CertRecord& r) {
  Writer w;
  WriteCertFields(w, r);
  w.Str(r.der);
  return w.Take();
}

std::string EncodeCertRef(const CertRecord& r, uint64_t body_seq) {
  Writer w(kCertRefVersion);
  WriteCertFields(w, r);
  w.U64(body_seq);
  return w.Take();
}

Status Decode(std::string_view in, CertRecord* r, uint64_t* body_seq) {
  Reader rd(in, kCertRefVersion);
  r->serial = rd.Str();
  r->host_id = rd.Str();
  r->names = rd.Strs();
  r->not_before = rd.I64();
  r->not_after = rd.I64();
  r->issued_at = rd.I64();
  const uint8_t status = rd.U8();
  r->status = status == 1 ? CertStatus::kRevoked : CertStatus::kValid;
  r->revocation_reason = static_cast<int>(rd.I64());
  r->revoked_at = rd.I64();
  r->source = rd.Str();
  *body_seq = 0;
  r->der.clear();
  if (rd.version() == kCertRefVersion) {
    *body_seq = rd.U64();
    if (*body_seq == 0) {
      return Internal("corrupt record in the store");
    }
  } else {
    r->der = rd.Str();
  }
  return status > 1 ? Internal("corrupt certificate status") : rd.Done();
}

std::string Encode(const HostRecord& r) {
  Writer w;
  w.Str(r.host_id);
  w.Str(r.primary_name);
  w.Strs(r.aliases);
  w.I64(r.created_at);
  w.U8(r.preregistered ? 1 : 0);
  w.I64(r.reissue_until);
  return w.Take();
}

Status Decode(std::string_view in, HostRecord* r) {
  Reader rd(in);
  r->host_id = rd.Str();
  r->primary_name = rd.Str();
  r->aliases = rd.Strs();
  r->created_at = rd.I64();
  r->preregistered = rd.U8() != 0;
  r->reissue_until = rd.I64();
  return rd.Done();
}

std::string Encode(const TokenRecord& r) {
  Writer w;
  w.Str(r.hash);
  w.Str(r.name);
  w.U32(r.max_uses);
  w.U32(r.uses);
  w.I64(r.created_at);
  w.I64(r.expires_at);
  w.Str(r.reason);
  w.Str(r.host_id);
  return w.Take();
}

Status Decode(std::string_view in, TokenRecord* r) {
  Reader rd(in);
  r->hash = rd.Str();
  r->name = rd.Str();
  r->max_uses = rd.U32();
  r->uses = rd.U32();
  r->created_at = rd.I64();
  r->expires_at = rd.I64();
  r->reason = rd.Str();
  r->host_id = rd.Str();
  return rd.Done();
}

std::string Encode(const MappingRecord& r) {
  Writer w;
  w.Str(r.id);
  w.Str(r.host_id);
  w.Str(r.name);
  w.I64(r.requested_at);
  return w.Take();
}

Status Decode(std::string_view in, MappingRecord* r) {
  Reader rd(in);
  r->id = rd.Str();
  r->host_id = rd.Str();
  r->name = rd.Str();
  r->requested_at = rd.I64();
  return rd.Done();
}

std::string Encode(const AuditEntry& r) {
  Writer w;
  w.U64(r.seq);
  w.I64(r.time);
  w.Str(r.actor);
  w.Str(r.action);
  w.Str(r.detail);
  w.Str(r.prev_hash);
  w.Str(r.hash);
  return w.Take();
}

Status Decode(std::string_view in, AuditEntry* r) {
  Reader rd(in);
  r->seq = rd.U64();
  r->time = rd.I64();
  r->actor = rd.Str();
  r->action = rd.Str();
  r->detail = rd.Str();
  r->prev_hash = rd.Str();
  r->hash = rd.Str();
  return rd.Done();
}

}  // namespace hostca::storage::internal
