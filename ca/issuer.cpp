#include "ca/issuer.h"

#include <arpa/inet.h>
#include <openssl/core_names.h>

#include "ca/internal/x509_util.h"
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
  is->organization_ = std::move(organization);
  HOSTCA_ASSIGN_OR_RETURN(is->fingerprint_, CertFingerprintSha256(ca_cert.get()));
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, CertToPem(ca_cert.get()));
  is->chain_pem_.push_back(std::move(ca_pem));
  for (const X509Ptr& c : chain) {
    HOSTCA_ASSIGN_OR_RETURN(std::string pem, CertToPem(c.get()));
    is->chain_pem_.push_back(std::move(pem));
  }
  HOSTCA_ASSIGN_OR_RETURN(
      is->basic_constraints_,
      internal::MakeExtension(nullptr, NID_basic_constraints, "critical,CA:FALSE"));
  HOSTCA_ASSIGN_OR_RETURN(is->key_usage_sig_, internal::MakeExtension(nullptr, NID_key_usage,
                                                                      "critical,digitalSignature"));
  HOSTCA_ASSIGN_OR_RETURN(
      is->key_usage_rsa_,
      internal::MakeExtension(nullptr, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  HOSTCA_ASSIGN_OR_RETURN(
      is->eku_, internal::MakeExtension(nullptr, NID_ext_key_usage, "serverAuth,clientAuth"));
  HOSTCA_ASSIGN_OR_RETURN(is->aki_, internal::MakeAkiFromIssuer(ca_cert.get()));
  is->key_ = std::move(key);
  is->ca_cert_ = std::move(ca_cert);
  is->chain_ = std::move(chain);
  return is;
}

Status Issuer::AddExtensions(X509* cert, const IssuanceRequest& req) const {
  const bool rsa = EVP_PKEY_get_base_id(req.public_key) == EVP_PKEY_RSA;
  for (X509_EXTENSION* ext :
       {basic_constraints_.get(), rsa ? key_usage_rsa_.get() : key_usage_sig_.get(), eku_.get(),
        aki_.get()}) {
    if (X509_add_ext(cert, ext, -1) != 1) {
      return OpenSslError("cannot add extension");
    }
  }
  HOSTCA_RETURN_IF_ERROR(internal::AddSubjectKeyId(cert));
  HOSTCA_RETURN_IF_ERROR(
      internal::AddSubjectAltName(cert, req.dns_names, req.ip_addresses, req.uris));
  if (!req.crl_url.empty()) {
    HOSTCA_RETURN_IF_ERROR(
        AddCachedExtension(cert, NID_crl_distribution_points, "URI:" + req.crl_url));
  }
  if (!req.ca_issuers_url.empty()) {
    HOSTCA_RETURN_IF_ERROR(
        AddCachedExtension(cert, NID_info_access, "caIssuers;URI:" + req.ca_issuers_url));
  }
  return Status::Ok();
}

Status Issuer::AddCachedExtension(X509* cert, int nid, const std::string& value) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = ext_cache_.find({nid, value});
  if (it == ext_cache_.end()) {
    if (ext_cache_.size() >= 16) {
      ext_cache_.clear();  // only a handful of URLs ever; bound it anyway
    }
    HOSTCA_ASSIGN_OR_RETURN(X509ExtensionPtr ext, internal::MakeExtension(nullptr, nid, value));
    it = ext_cache_.emplace(std::make_pair(nid, value), std::move(ext)).first;
  }
  if (X509_add_ext(cert, it->second.get(), -1) != 1) {  // adds a copy
    return OpenSslError("cannot add extension");
  }
  return Status::Ok();
}

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
  X509Ptr cert(X509_new());
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(req.serial.data()),
                         static_cast<int>(req.serial.size()), nullptr));
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!cert || !serial || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial.get()) != 1 ||
      X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert_.get())) != 1 ||
      (req.public_key_spki.empty()
           ? X509_set_pubkey(cert.get(), req.public_key) != 1
           : !internal::SetPublicKeyFromSpki(cert.get(), req.public_key_spki).ok()) ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(req.not_before)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(req.not_after)) ==
          nullptr) {
    return OpenSslError("cannot build the certificate");
  }
  HOSTCA_RETURN_IF_ERROR(internal::SetSubject(X509_get_subject_name(cert.get()), organization_,
                                              req.organizational_unit, req.common_name));
  HOSTCA_RETURN_IF_ERROR(AddExtensions(cert.get(), req));
  if (X509_sign(cert.get(), key_.get(), md_) <= 0) {
    return OpenSslError("cannot sign the certificate");
  }
  IssuedCertificate out;
  HOSTCA_ASSIGN_OR_RETURN(out.der, CertToDer(cert.get()));
  out.pem = DerToPem(out.der, "CERTIFICATE");
  out.serial = req.serial;
  out.not_before = req.not_before;
  out.not_after = req.not_after;
  out.cert = std::move(cert);
  return out;
}

}  // namespace hostca::ca
