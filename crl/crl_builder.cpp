#include "crl/crl_builder.h"

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

std::string EncodeCrlEntry(const CrlEntry& e) {
  std::string body = der::IntegerFromMagnitude(e.serial);
  body += der::Time(e.revoked_at);
  if (e.reason > 0) {
    const std::string reason = Tlv(der::kEnumerated, std::string(1, static_cast<char>(e.reason)));
    body += Tlv(der::kSequence, Extension(std::string_view(kOidReasonCode, 5), reason));
  }
  return Tlv(der::kSequence, body);
}

void CrlEntrySet::Put(const CrlEntry& entry) {
  Remove(entry.serial);
  Kept kept{EncodeCrlEntry(entry), entry.not_after};
  bytes_ += kept.der.size();
  entries_.emplace(entry.serial, std::move(kept));
}

void CrlEntrySet::Remove(const std::string& serial) {
  auto it = entries_.find(serial);
  if (it != entries_.end()) {
    bytes_ -= it->second.der.size();
    entries_.erase(it);
  }
}

size_t CrlEntrySet::DropExpired(int64_t now) {
  size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.not_after < now) {
      bytes_ -= it->second.der.size();
      it = entries_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
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
    for (const auto& [serial, kept] : entries.entries_) {
      out += kept.der;
    }
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
