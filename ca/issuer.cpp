#include "ca/issuer.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>

#include <optional>

#include "ca/internal/x509_util.h"
#include "common/der.h"
#include "common/encoding.h"
#include "common/pem.h"

namespace hostca::ca {

std::string NewSerial() {
  std::string s = RandomBytes(16);
  s[0] = static_cast<char>(s[0] & 0x7f);
  if (s[0] == 0) {
    s[0] = 0x01;
  }
  return s;
}

std::string SerialToHex(std::string_view raw) {
  std::string hex = HexEncode(raw);
  const size_t first = hex.find_first_not_of('0');
  return first == std::string::npos ? "0" : hex.substr(first);
}

Result<std::string> SerialFromHex(std::string_view hex) {
  if (hex.empty() || hex.size() > 64) {
    return NotFound("no certificate with serial '" + std::string(hex) + "'");
  }
  std::string padded(hex);
  for (char& c : padded) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (padded.size() % 2 != 0) {
    padded.insert(padded.begin(), '0');
  }
  auto raw = HexDecode(padded);
  if (!raw.ok()) {
    return NotFound("no certificate with serial '" + std::string(hex) + "'");
  }
  // Stored serials are the INTEGER's content octets: minimal, so strip
  // leading zero bytes unless the next byte has its top bit set.
  std::string out = std::move(*raw);
  while (out.size() > 1 && out[0] == 0 && (static_cast<unsigned char>(out[1]) & 0x80) == 0) {
    out.erase(out.begin());
  }
  return out;
}

std::string SerialOf(const X509* cert) {
  const ASN1_INTEGER* s = X509_get0_serialNumber(cert);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

const EVP_MD* DigestFor(EVP_PKEY* key) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) {
    return nullptr;
  }
  if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == 384) {
    return EVP_sha384();
  }
  return EVP_sha256();
}

namespace {

using namespace std::string_view_literals;  // "..."sv keeps embedded NULs

// DER of the OIDs the host profile writes itself.
constexpr std::string_view kOidOrganization = "\x06\x03\x55\x04\x0a"sv;
constexpr std::string_view kOidOrganizationalUnit = "\x06\x03\x55\x04\x0b"sv;
constexpr std::string_view kOidCommonName = "\x06\x03\x55\x04\x03"sv;
constexpr std::string_view kOidSubjectKeyId = "\x06\x03\x55\x1d\x0e"sv;
constexpr std::string_view kOidSubjectAltName = "\x06\x03\x55\x1d\x11"sv;
constexpr std::string_view kOidCrlDistributionPoints = "\x06\x03\x55\x1d\x1f"sv;
constexpr std::string_view kOidAuthorityInfoAccess = "\x06\x08\x2b\x06\x01\x05\x05\x07\x01\x01"sv;
constexpr std::string_view kOidCaIssuers = "\x06\x08\x2b\x06\x01\x05\x05\x07\x30\x02"sv;
// version [0] EXPLICIT INTEGER 2 (v3)
constexpr std::string_view kVersion3 = "\xa0\x03\x02\x01\x02"sv;

// GeneralName tags (RFC 5280 4.2.1.6, IMPLICIT).
constexpr uint8_t kGeneralNameDns = 0x82;
constexpr uint8_t kGeneralNameUri = 0x86;
constexpr uint8_t kGeneralNameIp = 0x87;

// Characters in a UTF-8 string; nullopt when it is not valid UTF-8 (RFC
// 3629 section 4): overlong forms, UTF-16 surrogates and code points past
// U+10FFFF are refused (a UTF8String must be UTF-8, RFC 5280). Hand-written
// because the certificate's DER is assembled here (see Issue), and OpenSSL
// has no public "validate UTF-8" call.
std::optional<size_t> Utf8Length(std::string_view s) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++chars) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xe  ? 3
                     : (c >> 3) == 0x1e ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) {
      return std::nullopt;
    }
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) {
        return std::nullopt;
      }
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kLeast[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return std::nullopt;
    }
    i += n;
  }
  return chars;
}

// One RDN of a name: SET { SEQUENCE { type, UTF8String value } }. OpenSSL
// writes the same for X509_NAME_add_entry_by_txt(MBSTRING_UTF8) under its
// default string mask (UTF-8 only), with the same 1..64 character bounds
// (RFC 5280 upper bounds for O, OU and CN); ca_test compares the bytes.
Status AppendRdn(std::string* out, std::string_view oid, std::string_view value, const char* what) {
  const std::optional<size_t> chars = Utf8Length(value);
  if (!chars || *chars == 0 || *chars > 64) {
    return InvalidArgument(std::string("the certificate's ") + what +
                           " must be 1 to 64 characters of UTF-8");
  }
  std::string atv(oid);
  der::AppendTlv(&atv, 0x0c, value);
  der::AppendTlv(out, der::kSet, der::Tlv(der::kSequence, atv));
  return Status::Ok();
}

// Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }
void AppendExtension(std::string* out, std::string_view oid_der, std::string_view value_der) {
  std::string body(oid_der);
  der::AppendTlv(&body, der::kOctetString, value_der);
  der::AppendTlv(out, der::kSequence, body);
}

// The signature AlgorithmIdentifier exactly as OpenSSL writes it for `key`:
// sign an empty CRL once and keep its algorithm.
Result<std::string> SignatureAlgorithmDer(EVP_PKEY* key, const EVP_MD* md) {
  X509CrlPtr probe(X509_CRL_new());
  Asn1TimePtr t(ASN1_TIME_set(nullptr, 0));
  if (!probe || !t || X509_CRL_set1_lastUpdate(probe.get(), t.get()) != 1 ||
      X509_CRL_sign(probe.get(), key, md) <= 0) {
    return OpenSslError("cannot sign with the CA key");
  }
  const X509_ALGOR* alg = nullptr;
  X509_CRL_get0_signature(probe.get(), nullptr, &alg);
  return I2d("cannot encode the signature algorithm", alg, i2d_X509_ALGOR);
}

// The subjectPublicKey bits of a SubjectPublicKeyInfo (no unused bits).
Result<std::string_view> KeyBitsOf(std::string_view spki_der) {
  std::string_view in = spki_der;
  DerTlv spki, alg, bits;
  std::string_view body;
  if (!ReadDer(&in, der::kSequence, &spki) || !in.empty() ||
      !(body = spki.content, ReadDer(&body, der::kSequence, &alg)) ||
      !ReadDer(&body, der::kBitString, &bits) || !body.empty() || bits.content.empty() ||
      bits.content[0] != 0) {
    return InvalidArgument("malformed subjectPublicKeyInfo");
  }
  return bits.content.substr(1);
}

}  // namespace

Result<std::unique_ptr<Issuer>> Issuer::Create(EvpPkeyPtr key, X509Ptr ca_cert,
                                               std::vector<X509Ptr> chain,
                                               std::string organization) {
  if (!key || !ca_cert) {
    return InvalidArgument("the CA key and certificate are required");
  }
  if (X509_check_private_key(ca_cert.get(), key.get()) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the CA key does not belong to the CA certificate", "key_mismatch");
  }
  std::unique_ptr<Issuer> is(new Issuer());
  is->md_ = DigestFor(key.get());
  is->sha1_.reset(EVP_MD_fetch(nullptr, "SHA1", nullptr));
  if (!is->sha1_) {
    return OpenSslError("SHA-1 (for key identifiers) is not available");
  }
  is->organization_ = std::move(organization);
  HOSTCA_ASSIGN_OR_RETURN(is->fingerprint_, CertFingerprintSha256(ca_cert.get()));
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, CertToPem(ca_cert.get()));
  is->chain_pem_.push_back(std::move(ca_pem));
  for (const X509Ptr& c : chain) {
    HOSTCA_ASSIGN_OR_RETURN(std::string pem, CertToPem(c.get()));
    is->chain_pem_.push_back(std::move(pem));
  }
  HOSTCA_ASSIGN_OR_RETURN(is->signature_algorithm_der_, SignatureAlgorithmDer(key.get(), is->md_));
  HOSTCA_ASSIGN_OR_RETURN(
      is->issuer_name_der_,
      I2d("cannot encode the CA's name", X509_get_subject_name(ca_cert.get()), i2d_X509_NAME));
  // The extensions every host certificate carries, encoded once by OpenSSL.
  struct Fixed {
    std::string* out;
    int nid;
    const char* value;
  };
  for (const Fixed& f :
       {Fixed{&is->basic_constraints_der_, NID_basic_constraints, "critical,CA:FALSE"},
        Fixed{&is->key_usage_sig_der_, NID_key_usage, "critical,digitalSignature"},
        Fixed{&is->key_usage_rsa_der_, NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        Fixed{&is->eku_der_, NID_ext_key_usage, "serverAuth,clientAuth"}}) {
    HOSTCA_ASSIGN_OR_RETURN(X509ExtensionPtr ext, internal::MakeExtension(nullptr, f.nid, f.value));
    HOSTCA_ASSIGN_OR_RETURN(*f.out,
                            I2d("cannot encode an extension", ext.get(), i2d_X509_EXTENSION));
  }
  HOSTCA_ASSIGN_OR_RETURN(X509ExtensionPtr aki, internal::MakeAkiFromIssuer(ca_cert.get()));
  HOSTCA_ASSIGN_OR_RETURN(is->aki_der_,
                          I2d("cannot encode an extension", aki.get(), i2d_X509_EXTENSION));
  is->key_ = std::move(key);
  is->ca_cert_ = std::move(ca_cert);
  is->chain_ = std::move(chain);
  return is;
}

Status Issuer::AppendExtensions(std::string* exts, const IssuanceRequest& req,
                                std::string_view key_bits) const {
  const bool rsa = EVP_PKEY_get_base_id(req.public_key) == EVP_PKEY_RSA;
  *exts += basic_constraints_der_;
  *exts += rsa ? key_usage_rsa_der_ : key_usage_sig_der_;
  *exts += eku_der_;
  *exts += aki_der_;
  // subjectKeyIdentifier: SHA-1 of the subjectPublicKey bits (RFC 5280
  // 4.2.1.2 method 1), as OpenSSL's "hash".
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(key_bits.data(), key_bits.size(), md, &md_len, sha1_.get(), nullptr) != 1) {
    return OpenSslError("cannot hash the public key");
  }
  AppendExtension(
      exts, kOidSubjectKeyId,
      der::Tlv(der::kOctetString, std::string_view(reinterpret_cast<const char*>(md), md_len)));
  std::string names;
  for (const std::string& d : req.dns_names) {
    der::AppendTlv(&names, kGeneralNameDns, d);
  }
  for (const std::string& ip : req.ip_addresses) {
    unsigned char buf[16];
    size_t len = 0;
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
      len = 4;
    } else if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) {
      len = 16;
    } else {
      return InvalidArgument("not an IP address: " + ip);
    }
    der::AppendTlv(&names, kGeneralNameIp,
                   std::string_view(reinterpret_cast<const char*>(buf), len));
  }
  for (const std::string& u : req.uris) {
    der::AppendTlv(&names, kGeneralNameUri, u);
  }
  AppendExtension(exts, kOidSubjectAltName, der::Tlv(der::kSequence, names));
  if (!req.crl_url.empty()) {
    // CRLDistributionPoints { DistributionPoint { distributionPoint [0] {
    // fullName [0] { URI } } } }
    AppendExtension(
        exts, kOidCrlDistributionPoints,
        der::Tlv(der::kSequence,
                 der::Tlv(der::kSequence,
                          der::Tlv(0xa0, der::Tlv(0xa0, der::Tlv(kGeneralNameUri, req.crl_url))))));
  }
  if (!req.ca_issuers_url.empty()) {
    // AuthorityInfoAccessSyntax { AccessDescription { caIssuers, URI } }
    std::string access(kOidCaIssuers);
    der::AppendTlv(&access, kGeneralNameUri, req.ca_issuers_url);
    AppendExtension(exts, kOidAuthorityInfoAccess,
                    der::Tlv(der::kSequence, der::Tlv(der::kSequence, access)));
  }
  return Status::Ok();
}

// The certificate is assembled as DER from kept encodings (issuer name,
// signature algorithm, fixed extensions) and the request's fields, then
// signed once: OpenSSL 3.0's X509 objects re-encode every field and look up
// providers per call, which the issuance profile showed at about twice the
// ECDSA signature itself. ca_test checks the bytes against a certificate
// built through OpenSSL's objects.
Result<IssuedCertificate> Issuer::Issue(const IssuanceRequest& req) const {
  if (req.public_key == nullptr) {
    return InvalidArgument("no public key to certify");
  }
  if (req.dns_names.empty() && req.ip_addresses.empty() && req.uris.empty()) {
    return InvalidArgument("a certificate needs at least one subject alternative name");
  }
  if (req.not_after <= req.not_before) {
    return InvalidArgument("notAfter must lie after notBefore");
  }
  if (req.serial.empty() || (static_cast<unsigned char>(req.serial[0]) & 0x80) != 0) {
    return InvalidArgument("the serial must be a positive integer");
  }
  ClearOpenSslErrors();
  std::string spki_encoded;
  std::string_view spki = req.public_key_spki;
  if (spki.empty()) {
    HOSTCA_ASSIGN_OR_RETURN(spki_encoded, PublicKeyToDer(req.public_key));
    spki = spki_encoded;
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string_view key_bits, KeyBitsOf(spki));

  std::string tbs;
  tbs.reserve(1024);
  tbs += kVersion3;
  tbs += der::IntegerFromMagnitude(req.serial);
  tbs += signature_algorithm_der_;
  tbs += issuer_name_der_;
  der::AppendTlv(&tbs, der::kSequence, der::Time(req.not_before) + der::Time(req.not_after));
  std::string subject;
  HOSTCA_RETURN_IF_ERROR(AppendRdn(&subject, kOidOrganization, organization_, "organization"));
  if (!req.organizational_unit.empty()) {
    HOSTCA_RETURN_IF_ERROR(AppendRdn(&subject, kOidOrganizationalUnit, req.organizational_unit,
                                     "organizational unit"));
  }
  HOSTCA_RETURN_IF_ERROR(AppendRdn(&subject, kOidCommonName, req.common_name, "common name"));
  der::AppendTlv(&tbs, der::kSequence, subject);
  tbs += spki;
  std::string exts;
  exts.reserve(512);
  HOSTCA_RETURN_IF_ERROR(AppendExtensions(&exts, req, key_bits));
  der::AppendTlv(&tbs, der::kContext3, der::Tlv(der::kSequence, exts));
  tbs = der::Tlv(der::kSequence, tbs);

  HOSTCA_ASSIGN_OR_RETURN(std::string sig, Sign(tbs));
  std::string body = std::move(tbs);
  body += signature_algorithm_der_;
  sig.insert(sig.begin(), '\0');  // no unused bits in the BIT STRING
  der::AppendTlv(&body, der::kBitString, sig);
  IssuedCertificate out;
  out.der = der::Tlv(der::kSequence, body);
  out.pem = DerToPem(out.der, "CERTIFICATE");
  out.serial = req.serial;
  out.not_before = req.not_before;
  out.not_after = req.not_after;
  return out;
}

Result<std::string> Issuer::Sign(std::string_view data) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md_, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len, in, data.size()) != 1) {
    return OpenSslError("cannot sign with the CA key");
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, in,
                     data.size()) != 1) {
    return OpenSslError("cannot sign with the CA key");
  }
  sig.resize(sig_len);
  return sig;
}

}  // namespace hostca::ca
