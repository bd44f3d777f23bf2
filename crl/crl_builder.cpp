#include "crl/crl_builder.h"

#include "common/ossl.h"
#include "crl/internal/der.h"

namespace hostca::crl {

using internal::AppendTlv;
using internal::Tlv;

namespace {

constexpr char kOidReasonCode[] = "\x06\x03\x55\x1d\x15";
constexpr char kOidCrlNumber[] = "\x06\x03\x55\x1d\x14";
constexpr char kOidAki[] = "\x06\x03\x55\x1d\x23";
constexpr char kOidIdp[] = "\x06\x03\x55\x1d\x1c";
constexpr char kCritical[] = "\x01\x01\xff";

// Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } (not critical).
std::string Extension(std::string_view oid_der, std::string_view value_der) {
  std::string body(oid_der);
  AppendTlv(&body, internal::kOctetString, value_der);
  return Tlv(internal::kSequence, body);
}

template <typename T, typename F>
Result<std::string> ToDer(T* obj, F i2d) {
  const int len = i2d(obj, nullptr);
  if (len <= 0) {
    return OpenSslError("cannot encode");
  }
  std::string out(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d(obj, &p);
  return out;
}

}  // namespace

std::string EncodeCrlEntry(const CrlEntry& e) {
  std::string body = internal::IntegerFromMagnitude(e.serial);
  body += internal::Time(e.revoked_at);
  if (e.reason > 0) {
    const std::string reason =
        Tlv(internal::kEnumerated, std::string(1, static_cast<char>(e.reason)));
    body += Tlv(internal::kSequence, Extension(std::string_view(kOidReasonCode, 5), reason));
  }
  return Tlv(internal::kSequence, body);
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
  // The signature AlgorithmIdentifier exactly as OpenSSL writes it for this
  // key: sign an empty CRL once and keep its algorithm.
  X509CrlPtr probe(X509_CRL_new());
  X509_CRL_set_issuer_name(probe.get(), X509_get_subject_name(issuer.ca_cert()));
  Asn1TimePtr t(ASN1_TIME_set(nullptr, 0));
  X509_CRL_set1_lastUpdate(probe.get(), t.get());
  if (X509_CRL_sign(probe.get(), issuer.key(), issuer.digest()) <= 0) {
    return OpenSslError("cannot sign a CRL with the CA key");
  }
  const X509_ALGOR* alg = nullptr;
  X509_CRL_get0_signature(probe.get(), nullptr, &alg);
  HOSTCA_ASSIGN_OR_RETURN(s->algorithm_der_, ToDer(const_cast<X509_ALGOR*>(alg), i2d_X509_ALGOR));
  HOSTCA_ASSIGN_OR_RETURN(s->issuer_der_,
                          ToDer(X509_get_subject_name(issuer.ca_cert()), i2d_X509_NAME));
  // AKI: keyIdentifier [0] = the CA's subjectKeyIdentifier.
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer.ca_cert());
  if (ski == nullptr) {
    return InvalidArgument("the CA certificate has no subjectKeyIdentifier");
  }
  const std::string keyid(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                          static_cast<size_t>(ASN1_STRING_length(ski)));
  s->aki_ext_der_ =
      Extension(std::string_view(kOidAki, 5), Tlv(internal::kSequence, Tlv(0x80, keyid)));
  if (!distribution_point.empty()) {
    // IssuingDistributionPoint { distributionPoint [0] { fullName [0] { URI [6] } } }
    const std::string idp =
        Tlv(internal::kSequence, Tlv(0xa0, Tlv(0xa0, Tlv(0x86, distribution_point))));
    std::string body(kOidIdp, 5);
    body.append(kCritical, 3);
    AppendTlv(&body, internal::kOctetString, idp);
    s->idp_ext_der_ = Tlv(internal::kSequence, body);
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
  std::string tbs_body = internal::IntegerFromU64(1);  // v2
  tbs_body += algorithm_der_;
  tbs_body += issuer_der_;
  tbs_body += internal::Time(this_update);
  tbs_body += internal::Time(next_update);
  if (!revoked.empty()) {
    AppendTlv(&tbs_body, internal::kSequence, revoked);
  }
  revoked.clear();
  revoked.shrink_to_fit();
  const std::string exts =
      aki_ext_der_ + idp_ext_der_ +
      Extension(std::string_view(kOidCrlNumber, 5), internal::IntegerFromU64(number));
  AppendTlv(&tbs_body, 0xa0, Tlv(internal::kSequence, exts));
  const std::string tbs = Tlv(internal::kSequence, tbs_body);

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, issuer_.digest(), nullptr, issuer_.key()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1) {
    return OpenSslError("cannot sign the CRL");
  }
  std::string sig(sig_len + 1, '\0');  // leading 0: no unused bits in the BIT STRING
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data() + 1), &sig_len,
                     reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1) {
    return OpenSslError("cannot sign the CRL");
  }
  sig.resize(sig_len + 1);
  std::string body = tbs;
  body += algorithm_der_;
  AppendTlv(&body, internal::kBitString, sig);
  return Tlv(internal::kSequence, body);
}

}  // namespace hostca::crl
