#include "ca/authority.h"

#include "ca/internal/x509_util.h"
#include "ca/issuer.h"

namespace hostca::ca {

Result<X509Ptr> CreateRootCertificate(EVP_PKEY* key, const CaOptions& options, const Clock& clock) {
  ClearOpenSslErrors();
  const int64_t now = clock.NowSeconds();
  X509Ptr cert(X509_new());
  const std::string serial = NewSerial();
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                         static_cast<int>(serial.size()), nullptr));
  Asn1IntegerPtr asn1_serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), asn1_serial.get()) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(now - 300)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                    static_cast<time_t>(now + options.root_validity_seconds)) == nullptr) {
    return OpenSslError("cannot build the root certificate");
  }
  HOSTCA_RETURN_IF_ERROR(internal::SetSubject(X509_get_subject_name(cert.get()),
                                              options.organization, "",
                                              options.organization + " Root CA"));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  HOSTCA_RETURN_IF_ERROR(internal::AddSubjectKeyId(cert.get()));
  for (const auto& [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
        std::pair{NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"}}) {
    HOSTCA_ASSIGN_OR_RETURN(X509ExtensionPtr ext, internal::MakeExtension(cert.get(), nid, value));
    X509_add_ext(cert.get(), ext.get(), -1);
  }
  HOSTCA_ASSIGN_OR_RETURN(X509ExtensionPtr aki, internal::MakeAkiFromIssuer(cert.get()));
  X509_add_ext(cert.get(), aki.get(), -1);
  if (X509_sign(cert.get(), key, DigestFor(key)) <= 0) {
    return OpenSslError("cannot sign the root certificate");
  }
  return cert;
}

Result<X509ReqPtr> CreateIntermediateCsr(EVP_PKEY* key, const CaOptions& options) {
  ClearOpenSslErrors();
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_pubkey(req.get(), key) != 1) {
    return OpenSslError("cannot build the CSR");
  }
  HOSTCA_RETURN_IF_ERROR(internal::SetSubject(X509_REQ_get_subject_name(req.get()),
                                              options.organization, "",
                                              options.organization + " Intermediate CA"));
  X509ExtStackPtr exts(sk_X509_EXTENSION_new_null());
  for (const auto& [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
        std::pair{NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"}}) {
    HOSTCA_ASSIGN_OR_RETURN(X509ExtensionPtr ext, internal::MakeExtension(nullptr, nid, value));
    sk_X509_EXTENSION_push(exts.get(), ext.release());
  }
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1 ||
      X509_REQ_sign(req.get(), key, DigestFor(key)) <= 0) {
    return OpenSslError("cannot sign the CSR");
  }
  return req;
}

Result<std::vector<X509Ptr>> CheckIntermediateCertificate(X509* cert, EVP_PKEY* key,
                                                          const std::vector<X509Ptr>& issuers,
                                                          const Clock& clock) {
  ClearOpenSslErrors();
  if (X509_check_private_key(cert, key) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the certificate is not for this CA's key", "key_mismatch");
  }
  if (X509_check_ca(cert) < 1) {
    return InvalidArgument(
        "the certificate is not a CA certificate (basicConstraints CA:TRUE "
        "and keyCertSign are required)",
        "not_a_ca");
  }
  time_t now = static_cast<time_t>(clock.NowSeconds());
  if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0) {
    return InvalidArgument("the certificate has expired", "certificate_expired");
  }
  X509StorePtr store(X509_STORE_new());
  X509StackPtr untrusted(sk_X509_new_null());
  for (const X509Ptr& c : issuers) {
    if (X509_self_signed(c.get(), 0) == 1) {
      X509_STORE_add_cert(store.get(), c.get());
    } else {
      sk_X509_push(untrusted.get(), CopyRef(c.get()).release());
    }
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted.get());
  X509_STORE_CTX_set_time(ctx.get(), 0, now);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    return InvalidArgument(std::string("the certificate does not chain to a root in the file: ") +
                               X509_verify_cert_error_string(err),
                           "chain_invalid");
  }
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  std::vector<X509Ptr> out;
  for (int i = 1; i < sk_X509_num(chain); ++i) {
    out.push_back(CopyRef(sk_X509_value(chain, i)));
  }
  return out;
}

}  // namespace hostca::ca
