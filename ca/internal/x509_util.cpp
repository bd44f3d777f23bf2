#include "ca/internal/x509_util.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/der.h"

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

Status SetPublicKeyFromSpki(X509* cert, std::string_view spki_der) {
  std::string_view in = spki_der;
  DerTlv spki, alg_tlv, bits;
  std::string_view body;
  if (!ReadDer(&in, der::kSequence, &spki) || !in.empty() ||
      !(body = spki.content, ReadDer(&body, der::kSequence, &alg_tlv)) ||
      !ReadDer(&body, der::kBitString, &bits) || !body.empty() || bits.content.empty() ||
      bits.content[0] != 0) {
    return InvalidArgument("malformed subjectPublicKeyInfo");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(alg_tlv.whole.data());
  std::unique_ptr<X509_ALGOR, OsslDeleter<X509_ALGOR_free>> alg(
      d2i_X509_ALGOR(nullptr, &p, static_cast<long>(alg_tlv.whole.size())));
  if (!alg) {
    ClearOpenSslErrors();
    return InvalidArgument("malformed subjectPublicKeyInfo algorithm");
  }
  const ASN1_OBJECT* obj = nullptr;
  int ptype = V_ASN1_UNDEF;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg.get());
  void* param = nullptr;
  if (ptype == V_ASN1_OBJECT) {
    param = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
  } else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
    return InvalidArgument("unsupported public key parameters");
  }
  const size_t len = bits.content.size() - 1;
  auto* key_bits = static_cast<unsigned char*>(OPENSSL_malloc(len == 0 ? 1 : len));
  ASN1_OBJECT* aobj = OBJ_dup(obj);
  if (key_bits == nullptr || aobj == nullptr) {
    OPENSSL_free(key_bits);
    ASN1_OBJECT_free(aobj);
    ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param));
    return OpenSslError("out of memory");
  }
  std::memcpy(key_bits, bits.content.data() + 1, len);
  // X509_PUBKEY_set0_param takes ownership of aobj, param and key_bits.
  if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), aobj, ptype, param, key_bits,
                             static_cast<int>(len)) != 1) {
    return OpenSslError("cannot set the certificate's public key");
  }
  return Status::Ok();
}

namespace {

Status PushName(GENERAL_NAMES* names, int type, const std::string& value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr) {
    return OpenSslError("out of memory");
  }
  if (type == GEN_IPADD) {
    unsigned char buf[16];
    int len = 0;
    if (inet_pton(AF_INET, value.c_str(), buf) == 1) {
      len = 4;
    } else if (inet_pton(AF_INET6, value.c_str(), buf) == 1) {
      len = 16;
    } else {
      GENERAL_NAME_free(gn);
      return InvalidArgument("not an IP address: " + value);
    }
    ASN1_OCTET_STRING* ip = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(ip, buf, len);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
    GENERAL_NAME_set0_value(gn, type, s);
  }
  sk_GENERAL_NAME_push(names, gn);
  return Status::Ok();
}

}  // namespace

Status AddSubjectAltName(X509* cert, const std::vector<std::string>& dns,
                         const std::vector<std::string>& ips,
                         const std::vector<std::string>& uris) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  for (const std::string& d : dns) {
    HOSTCA_RETURN_IF_ERROR(PushName(names.get(), GEN_DNS, d));
  }
  for (const std::string& ip : ips) {
    HOSTCA_RETURN_IF_ERROR(PushName(names.get(), GEN_IPADD, ip));
  }
  for (const std::string& u : uris) {
    HOSTCA_RETURN_IF_ERROR(PushName(names.get(), GEN_URI, u));
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("cannot add subjectAltName");
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
