#include "ca/internal/x509_util.h"

namespace hostca::ca::internal {

Result<X509ExtensionPtr> MakeExtension(X509* subject, int nid, const std::string& value,
                                       X509* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, subject, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) {
    return OpenSslError("cannot build extension " + std::string(OBJ_nid2sn(nid)) + "=" + value,
                        Code::kInvalidArgument);
  }
  return ext;
}

Result<std::string> KeyIdOf(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(cert, EVP_sha1(), md, &len) != 1) {
    return OpenSslError("cannot hash the public key");
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

Result<X509ExtensionPtr> MakeAkiFromIssuer(X509* issuer) {
  std::string keyid;
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(issuer); ski != nullptr) {
    keyid.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                 static_cast<size_t>(ASN1_STRING_length(ski)));
  } else {
    HOSTCA_ASSIGN_OR_RETURN(keyid, KeyIdOf(issuer));
  }
  std::unique_ptr<AUTHORITY_KEYID, OsslDeleter<AUTHORITY_KEYID_free>> aki(AUTHORITY_KEYID_new());
  aki->keyid = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(aki->keyid, reinterpret_cast<const unsigned char*>(keyid.data()),
                        static_cast<int>(keyid.size()));
  X509ExtensionPtr ext(X509V3_EXT_i2d(NID_authority_key_identifier, 0, aki.get()));
  if (!ext) {
    return OpenSslError("cannot encode authorityKeyIdentifier");
  }
  return ext;
}

Status AddSubjectKeyId(X509* cert) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string keyid, KeyIdOf(cert));
  Asn1OctetStringPtr oct(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(oct.get(), reinterpret_cast<const unsigned char*>(keyid.data()),
                        static_cast<int>(keyid.size()));
  if (X509_add1_ext_i2d(cert, NID_subject_key_identifier, oct.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("cannot add subjectKeyIdentifier");
  }
  return Status::Ok();
}

Status SetSubject(X509_NAME* name, const std::string& org, const std::string& ou,
                  const std::string& cn) {
  auto add = [name](const char* field, const std::string& v) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(v.data()),
                                      static_cast<int>(v.size()), -1, 0) == 1;
  };
  if (!add("O", org) || (!ou.empty() && !add("OU", ou)) || !add("CN", cn)) {
    return OpenSslError("cannot build the subject name", Code::kInvalidArgument);
  }
  return Status::Ok();
}

}  // namespace hostca::ca::internal
