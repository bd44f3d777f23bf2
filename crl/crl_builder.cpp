#include "crl/crl_builder.h"

#include "common/der.h"
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
    const std::string idp =
        Tlv(der::kSequence, Tlv(0xa0, Tlv(0xa0, Tlv(0x86, distribution_point))));
    std::string body(kOidIdp, 5);
    body.append(kCritical, 3);
    AppendTlv(&body, der::kOctetString, idp);
    s->idp_ext_der_ = Tlv(der::kSequence, body);
  }
  return s;
}

Result<std::string> CrlSigner::Sign(const CrlEntrySet& entries, uint64_t number,
                                    int64_t this_update, int64_t next_update) const {
  std::string revoked;
  revoked.reserve(entries.encoded_bytes());
  for (const auto& [serial, kept] : entries.entries_) {
    revoked += kept.der;
  }
  std::string tbs_body = der::IntegerFromU64(1);  // v2
  tbs_body += issuer_.signature_algorithm_der();
  tbs_body += issuer_.issuer_name_der();
  tbs_body += der::Time(this_update);
  tbs_body += der::Time(next_update);
  if (!revoked.empty()) {
    AppendTlv(&tbs_body, der::kSequence, revoked);
  }
  revoked.clear();
  revoked.shrink_to_fit();
  const std::string exts =
      aki_ext_der_ + idp_ext_der_ +
      Extension(std::string_view(kOidCrlNumber, 5), der::IntegerFromU64(number));
  AppendTlv(&tbs_body, 0xa0, Tlv(der::kSequence, exts));
  const std::string tbs = Tlv(der::kSequence, tbs_body);

  HOSTCA_ASSIGN_OR_RETURN(std::string sig, issuer_.Sign(tbs));
  sig.insert(sig.begin(), '\0');  // no unused bits in the BIT STRING
  std::string body = tbs;
  body += issuer_.signature_algorithm_der();
  AppendTlv(&body, der::kBitString, sig);
  return Tlv(der::kSequence, body);
}

}  // namespace hostca::crl
