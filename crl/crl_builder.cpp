#include "crl/crl_builder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>

#include "common/der.h"
#include "common/huge_pages.h"
#include "common/ossl.h"

namespace hostca::crl {

using der::AppendTlv;
using der::Tlv;

namespace {

constexpr char kOidReasonCode[] = "\x06\x03\x55\x1d\x15";
constexpr char kOidCrlNumber[] = "\x06\x03\x55\x1d\x14";
constexpr char kOidAki[] = "\x06\x03\x55\x1d\x23";
constexpr char kOidIdp[] = "\x06\x03\x55\x1d\x1c";
constexpr char kCritical[] = "\x01\x01\xff";

// Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } (not critical).
std::string Extension(std::string_view oid_der, std::string_view value_der) {
  std::string body(oid_der);
  AppendTlv(&body, der::kOctetString, value_der);
  return Tlv(der::kSequence, body);
}

}  // namespace

void AppendCrlEntry(std::string* out, const CrlEntry& e) {
  // Written in place: every revoked certificate is encoded once at start-up.
  const std::string time = der::Time(e.revoked_at);  // at most 17 bytes
  // crlEntryExtensions { Extension { reasonCode, OCTET STRING { ENUMERATED } } }
  const char reason[] = {der::kSequence,
                         12,
                         der::kSequence,
                         10,
                         kOidReasonCode[0],
                         kOidReasonCode[1],
                         kOidReasonCode[2],
                         kOidReasonCode[3],
                         kOidReasonCode[4],
                         der::kOctetString,
                         3,
                         der::kEnumerated,
                         1,
                         static_cast<char>(e.reason)};
  const size_t reason_len = e.reason > 0 ? sizeof(reason) : 0;
  der::AppendHeader(out, der::kSequence,
                    der::IntegerFromMagnitudeSize(e.serial) + time.size() + reason_len);
  der::AppendIntegerFromMagnitude(out, e.serial);
  out->append(time);
  out->append(reason, reason_len);
}

std::string EncodeCrlEntry(const CrlEntry& e) {
  std::string out;
  AppendCrlEntry(&out, e);
  return out;
}

namespace {
uint64_t SerialHash(std::string_view serial) { return std::hash<std::string_view>{}(serial); }
}  // namespace

CrlEntrySet::Head CrlEntrySet::HeadAt(uint64_t offset) const {
  Head head;
  std::memcpy(&head, arena_.data() + offset, sizeof(head));
  return head;
}

std::string_view CrlEntrySet::SerialAt(uint64_t offset) const {
  return std::string_view(arena_.data() + offset + sizeof(Head), HeadAt(offset).serial_len);
}

size_t CrlEntrySet::Find(std::string_view serial, uint64_t hash) const {
  if (slots_size_ == 0) {
    return 0;
  }
  const size_t mask = slots_size_ - 1;
  const uint64_t tag = hash >> kOffsetBits;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_[i];
    if (slot == 0) {
      return slots_size_;
    }
    if (slot != kTombstone && slot >> kOffsetBits == tag && SerialAt(OffsetOf(slot)) == serial) {
      return i;
    }
  }
}

void CrlEntrySet::Insert(uint64_t offset, uint64_t hash) {
  const size_t mask = slots_size_ - 1;
  size_t i = hash & mask;
  while (slots_[i] != 0 && slots_[i] != kTombstone) {
    i = (i + 1) & mask;
  }
  if (slots_[i] == kTombstone) {
    --tombstones_;
  }
  slots_[i] = SlotOf(offset, hash);
  ++live_;
}

void CrlEntrySet::Rehash(size_t live) {
  size_t size = 16;
  while (size < 2 * (live + 1)) {
    size *= 2;
  }
  // A fresh mapping is zero (all slots empty) and costs no writes to clear.
  slots_buffer_ = MappedBuffer(size * sizeof(uint64_t));
  slots_ = reinterpret_cast<uint64_t*>(slots_buffer_.data());
  slots_size_ = size;
  live_ = 0;
  tombstones_ = 0;
  ForEachLiveRecord([this](uint64_t offset, const Head&) {
    const std::string_view serial = SerialAt(offset);
    const uint64_t hash = SerialHash(serial);
    if (const size_t i = Find(serial, hash); i < slots_size_) {
      // An earlier record of the serial (a Load gave it twice): replaced.
      MarkRemoved(OffsetOf(slots_[i]));
      slots_[i] = SlotOf(offset, hash);
    } else {
      Insert(offset, hash);
    }
  });
}

bool CrlEntrySet::Contains(std::string_view serial) const {
  return Find(serial, SerialHash(serial)) < slots_size_;
}

void CrlEntrySet::Arena::Reserve(size_t bytes) {
  if (size_ + bytes > buffer_.capacity()) {
    buffer_.Grow(std::max({buffer_.capacity() * 2, size_ + bytes, size_t{64} << 10}));
  }
}

void CrlEntrySet::Arena::Append(std::string_view bytes) {
  Reserve(bytes.size());
  std::memcpy(buffer_.data() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

uint64_t CrlEntrySet::AppendRecord(const CrlEntry& entry) {
  if (arena_.size() + 1 >= uint64_t{1} << kOffsetBits) {
    std::abort();  // a terabyte of entries: the slots cannot name the offset
  }
  scratch_.clear();
  AppendCrlEntry(&scratch_, entry);
  const Head head{entry.not_after, static_cast<uint32_t>(entry.serial.size()),
                  static_cast<uint32_t>(scratch_.size())};
  const uint64_t offset = arena_.size();
  arena_.Reserve(sizeof(Head) + entry.serial.size() + scratch_.size());
  arena_.Append(std::string_view(reinterpret_cast<const char*>(&head), sizeof(head)));
  arena_.Append(entry.serial);
  arena_.Append(scratch_);
  bytes_ += head.der_len;
  return offset;
}

void CrlEntrySet::Put(const CrlEntry& entry) {
  Remove(entry.serial);
  const uint64_t offset = AppendRecord(entry);
  if (4 * (live_ + tombstones_ + 1) > 3 * slots_size_) {
    Rehash(live_ + 1);  // the new record is in the arena: Rehash indexes it
  } else {
    Insert(offset, SerialHash(entry.serial));
  }
}

Status CrlEntrySet::Load(const std::function<Status(const AddEntry& add)>& produce) {
  size_t added = 0;
  const AddEntry add = [&](const CrlEntry& entry) {
    AppendRecord(entry);
    ++added;
  };
  Status st = Status::Ok();
  try {
    st = produce(add);
  } catch (...) {
    Rehash(live_ + added);  // what was appended is indexed before anything else runs
    throw;
  }
  Rehash(live_ + added);
  MaybeCompact();  // entries given twice
  return st;
}

void CrlEntrySet::MarkRemoved(uint64_t offset) {
  Head head = HeadAt(offset);
  bytes_ -= head.der_len;
  removed_bytes_ += RecordSize(head);
  head.der_len |= kRemoved;
  std::memcpy(arena_.data() + offset, &head, sizeof(head));
}

void CrlEntrySet::RemoveSlot(size_t i) {
  const uint64_t offset = OffsetOf(slots_[i]);
  slots_[i] = kTombstone;
  --live_;
  ++tombstones_;
  MarkRemoved(offset);
}

void CrlEntrySet::Remove(std::string_view serial) {
  const size_t i = Find(serial, SerialHash(serial));
  if (i >= slots_size_) {
    return;
  }
  RemoveSlot(i);
  MaybeCompact();
}

size_t CrlEntrySet::DropExpired(int64_t now) {
  size_t dropped = 0;
  ForEachLiveRecord([&](uint64_t offset, const Head& head) {
    if (head.not_after < now) {
      const std::string_view serial = SerialAt(offset);
      if (const size_t i = Find(serial, SerialHash(serial)); i < slots_size_) {
        RemoveSlot(i);  // always: every live record is indexed
      }
      ++dropped;
    }
  });
  MaybeCompact();
  return dropped;
}

void CrlEntrySet::MaybeCompact() {
  if (removed_bytes_ == 0 || removed_bytes_ * 2 < arena_.size()) {
    return;
  }
  Arena kept;
  kept.Reserve(arena_.size() - removed_bytes_);
  ForEachLiveRecord([&](uint64_t offset, const Head& head) {
    kept.Append(std::string_view(arena_.data() + offset, RecordSize(head)));
  });
  arena_ = std::move(kept);
  removed_bytes_ = 0;
  Rehash(live_);  // the offsets moved
}

void CrlEntrySet::AppendEncodings(std::string* out) const {
  ForEachLiveRecord([&](uint64_t offset, const Head& head) {
    out->append(arena_.data() + offset + sizeof(Head) + head.serial_len, head.der_len);
  });
}

Result<std::unique_ptr<CrlSigner>> CrlSigner::Create(const ca::Issuer& issuer,
                                                     const std::string& distribution_point) {
  std::unique_ptr<CrlSigner> s(new CrlSigner(issuer));
  // AKI: keyIdentifier [0] = the CA's subjectKeyIdentifier.
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer.ca_cert());
  if (ski == nullptr) {
    return InvalidArgument("the CA certificate has no subjectKeyIdentifier");
  }
  const std::string keyid(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                          static_cast<size_t>(ASN1_STRING_length(ski)));
  s->aki_ext_der_ = Extension(std::string_view(kOidAki, 5), Tlv(der::kSequence, Tlv(0x80, keyid)));
  if (!distribution_point.empty()) {
    // IssuingDistributionPoint { distributionPoint [0] { fullName [0] { URI [6] } } }
    const std::string idp = Tlv(
        der::kSequence, Tlv(der::kContext0, Tlv(der::kContext0, Tlv(0x86, distribution_point))));
    std::string body(kOidIdp, 5);
    body.append(kCritical, 3);
    AppendTlv(&body, der::kOctetString, idp);
    s->idp_ext_der_ = Tlv(der::kSequence, body);
  }
  return s;
}

// The CRL is written into one buffer: the kept entries copied once, in
// place, the TBS signed where it lies, the signature appended. A 1M-entry
// CRL is 49 MB, and every full-size copy of it is fresh memory that the
// kernel maps a page at a time: some 12,000 page faults, 0.2 s on the
// benchmark machine of 2026-12-05 (16 us a fault), where the five copies
// this used to make (the entries, the TBS's content, the TBS, the body, the
// whole) took the 1M sign to 1.25 s, and one buffer to 0.39 s
// (bench/results/crl-2026-12-05-five-copies, -one-buffer).
Result<std::string> CrlSigner::Sign(const CrlEntrySet& entries, uint64_t number,
                                    int64_t this_update, int64_t next_update) const {
  const std::string& alg = issuer_.signature_algorithm_der();
  std::string head = der::IntegerFromU64(1);  // v2
  head += alg;
  head += issuer_.issuer_name_der();
  head += der::Time(this_update);
  head += der::Time(next_update);
  const std::string exts = Tlv(
      0xa0, Tlv(der::kSequence,
                aki_ext_der_ + idp_ext_der_ +
                    Extension(std::string_view(kOidCrlNumber, 5), der::IntegerFromU64(number))));
  const size_t revoked = entries.encoded_bytes();
  const size_t tbs_content =
      head.size() + (revoked == 0 ? 0 : der::HeaderSize(revoked) + revoked) + exts.size();
  const size_t tbs_len = der::HeaderSize(tbs_content) + tbs_content;

  // The outer SEQUENCE's length depends on the signature's, known only
  // after signing: room is left for the header the longest signature of
  // this key would need, and what a shorter one leaves unused is cut off
  // the front (a move of the whole buffer only when the lengths straddle a
  // power of 256).
  const int key_max = EVP_PKEY_get_size(issuer_.key());
  const size_t max_sig = key_max > 0 ? static_cast<size_t>(key_max) : 1024;
  const size_t max_body = tbs_len + alg.size() + der::HeaderSize(max_sig + 1) + max_sig + 1;
  const size_t lead = der::HeaderSize(max_body);
  std::string out;
  out.reserve(lead + max_body);
  AdviseHugePages(out.data(), out.capacity());
  out.resize(lead);
  der::AppendHeader(&out, der::kSequence, tbs_content);
  out += head;
  if (revoked != 0) {
    der::AppendHeader(&out, der::kSequence, revoked);
    entries.AppendEncodings(&out);
  }
  out += exts;
  if (out.size() != lead + tbs_len) {
    return Internal("the CRL's entries do not add up to their counted size");
  }
  HOSTCA_ASSIGN_OR_RETURN(std::string sig,
                          issuer_.Sign(std::string_view(out).substr(lead, tbs_len)));
  if (sig.size() > max_sig) {
    return Internal("the CA key's signature is longer than its stated maximum");
  }
  out += alg;
  der::AppendHeader(&out, der::kBitString, sig.size() + 1);
  out.push_back('\0');  // no unused bits in the BIT STRING
  out += sig;

  std::string header;  // at most lead bytes: the body is at most max_body
  der::AppendHeader(&header, der::kSequence, out.size() - lead);
  const size_t begin = lead - header.size();
  out.replace(begin, header.size(), header);
  if (begin != 0) {
    out.erase(0, begin);
  }
  return out;
}

}  // namespace hostca::crl
