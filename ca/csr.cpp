#include "ca/csr.h"

#include <openssl/core_names.h>

#include <openssl/param_build.h>
#include <openssl/x509v3.h>

#include "common/der.h"
#include "common/pem.h"

namespace hostca::ca {
namespace {

Result<std::string> DescribeKey(EVP_PKEY* key, const CsrPolicy& policy) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_ED25519) {
    return std::string("Ed25519");
  }
  if (id == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits < policy.min_rsa_bits) {
      return InvalidArgument("RSA key of " + std::to_string(bits) + " bits; at least " +
                                 std::to_string(policy.min_rsa_bits) + " are required",
                             "csr_key_too_small");
    }
    return "RSA " + std::to_string(bits);
  }
  if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) == 1) {
      const std::string g(group, len);
      if (g == "prime256v1" || g == "P-256") {
        return std::string("ECDSA P-256");
      }
      if (g == "secp384r1" || g == "P-384") {
        return std::string("ECDSA P-384");
      }
    }
    ClearOpenSslErrors();
    return InvalidArgument("only the P-256 and P-384 curves are accepted", "csr_key_type");
  }
  return InvalidArgument("unsupported key type (ECDSA P-256/P-384, Ed25519 or RSA)",
                         "csr_key_type");
}

// Requested names only queue for an admin's approval; a 64 KiB CSR could
// otherwise ask for thousands.
constexpr size_t kMaxRequestedNames = 32;

// Refuses CA:TRUE; collects requested DNS names (the first
// kMaxRequestedNames).
Status InspectExtensions(const STACK_OF(X509_EXTENSION) * exts, std::vector<std::string>* dns) {
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_basic_constraints) {
      BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext)));
      if (!bc) {
        ClearOpenSslErrors();
        return InvalidArgument("malformed basicConstraints in the CSR", "bad_csr");
      }
      if (bc->ca) {
        return InvalidArgument("the CSR asks for a CA certificate", "csr_requests_ca");
      }
    } else if (nid == NID_subject_alt_name) {
      GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
      ClearOpenSslErrors();
      for (int j = 0; names && j < sk_GENERAL_NAME_num(names.get()); ++j) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), j);
        if (gn->type == GEN_DNS && dns->size() < kMaxRequestedNames) {
          const ASN1_IA5STRING* s = gn->d.dNSName;
          dns->emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                            static_cast<size_t>(ASN1_STRING_length(s)));
        }
      }
    }
  }
  return Status::Ok();
}

// The fields of a PKCS#10 request (RFC 2986) that hostca uses, as views into
// the DER. Walked by hand: OpenSSL 3.0's d2i_X509_REQ decodes the public key
// through its provider decoders (and X509_set_pubkey re-encodes it through
// the encoders), which the issuance profile showed at a quarter of the
// server's CPU per certificate, several times the ECDSA work.
struct CsrFields {
  std::string_view info;        // certificationRequestInfo, the signed bytes
  std::string_view spki;        // SubjectPublicKeyInfo TLV
  std::string_view key_oid;     // algorithm OID content of the SPKI
  std::string_view key_params;  // its parameters TLV ("" when absent)
  std::string_view key_bits;    // subjectPublicKey without the unused-bits octet
  std::string_view attributes;  // content of [0] attributes ("" when absent)
  std::string_view sig_oid;     // signatureAlgorithm OID content
  std::string_view signature;   // without the unused-bits octet
};

Status Malformed(const std::string& what) {
  return InvalidArgument("malformed certificate signing request: " + what, "bad_csr");
}

// AlgorithmIdentifier content: OID, optional parameters.
bool ReadAlgorithm(std::string_view content, std::string_view* oid, std::string_view* params) {
  DerTlv t;
  if (!ReadDer(&content, der::kOid, &t)) {
    return false;
  }
  *oid = t.content;
  *params = content;  // whatever follows: one TLV or nothing
  if (!content.empty() && (!ReadDer(&content, &t) || !content.empty())) {
    return false;
  }
  return true;
}

// A BIT STRING's bytes; only whole octets (unused bits 0).
bool BitStringBytes(const DerTlv& t, std::string_view* out) {
  if (t.content.empty() || t.content[0] != 0) {
    return false;
  }
  *out = t.content.substr(1);
  return true;
}

Result<CsrFields> WalkCsr(std::string_view der_bytes) {
  CsrFields f;
  std::string_view in = der_bytes;
  DerTlv outer, info, sig_alg, sig;
  if (!ReadDer(&in, der::kSequence, &outer) || !in.empty()) {
    return Malformed("not one DER SEQUENCE");
  }
  std::string_view body = outer.content;
  if (!ReadDer(&body, der::kSequence, &info) || !ReadDer(&body, der::kSequence, &sig_alg) ||
      !ReadDer(&body, der::kBitString, &sig) || !body.empty()) {
    return Malformed("expected info, algorithm and signature");
  }
  f.info = info.whole;
  std::string_view sig_params;
  if (!ReadAlgorithm(sig_alg.content, &f.sig_oid, &sig_params) ||
      !BitStringBytes(sig, &f.signature)) {
    return Malformed("bad signature algorithm or value");
  }
  std::string_view fields = info.content;
  DerTlv version, subject, spki, attrs;
  if (!ReadDer(&fields, der::kInteger, &version) || version.content != std::string_view("\0", 1) ||
      !ReadDer(&fields, der::kSequence, &subject) || !ReadDer(&fields, der::kSequence, &spki)) {
    return Malformed("expected version 1, subject and public key");
  }
  if (!fields.empty() && (!ReadDer(&fields, der::kContext0, &attrs) || !fields.empty())) {
    return Malformed("unexpected data after the attributes");
  }
  f.attributes = attrs.content;
  f.spki = spki.whole;
  std::string_view spki_body = spki.content;
  DerTlv key_alg, key_bits;
  if (!ReadDer(&spki_body, der::kSequence, &key_alg) ||
      !ReadDer(&spki_body, der::kBitString, &key_bits) || !spki_body.empty() ||
      !ReadAlgorithm(key_alg.content, &f.key_oid, &f.key_params) ||
      !BitStringBytes(key_bits, &f.key_bits)) {
    return Malformed("bad subjectPublicKeyInfo");
  }
  return f;
}

using namespace std::string_view_literals;  // "..."sv keeps embedded NULs

// DER contents of the OIDs we accept.
constexpr std::string_view kOidEcPublicKey = "\x2a\x86\x48\xce\x3d\x02\x01"sv;
constexpr std::string_view kOidP256 = "\x2a\x86\x48\xce\x3d\x03\x01\x07"sv;
constexpr std::string_view kOidP384 = "\x2b\x81\x04\x00\x22"sv;
constexpr std::string_view kOidRsa = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"sv;
constexpr std::string_view kOidEd25519 = "\x2b\x65\x70"sv;
constexpr std::string_view kOidExtensionRequest = "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"sv;

Status KeyTypeRefused() {
  return InvalidArgument("unsupported key type (ECDSA P-256/P-384, Ed25519 or RSA)",
                         "csr_key_type");
}

Result<EvpPkeyPtr> FromParams(const char* type, OSSL_PARAM* params) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the CSR's public key is not valid", "bad_csr");
  }
  return EvpPkeyPtr(key);
}

// The public key, built from its parts (keymgmt import, no decoders).
Result<EvpPkeyPtr> PublicKeyOf(const CsrFields& f) {
  if (f.key_oid == kOidEcPublicKey) {
    DerTlv curve;
    std::string_view params = f.key_params;
    if (!ReadDer(&params, der::kOid, &curve)) {
      return InvalidArgument("only named curves P-256 and P-384 are accepted", "csr_key_type");
    }
    const char* group = curve.content == kOidP256   ? "P-256"
                        : curve.content == kOidP384 ? "P-384"
                                                    : nullptr;
    if (group == nullptr) {
      return InvalidArgument("only the P-256 and P-384 curves are accepted", "csr_key_type");
    }
    // A copy of a parameters-only key of the curve, then the point: a
    // quarter of what importing the group by name and the point costs
    // (EVP_PKEY_fromdata builds the EC_GROUP anew each call). The point is
    // checked to lie on the curve either way. One template per thread: the
    // worker threads live as long as the server.
    thread_local EvpPkeyPtr p256, p384;
    EvpPkeyPtr& tmpl = curve.content == kOidP256 ? p256 : p384;
    if (!tmpl) {
      OSSL_PARAM p[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
          OSSL_PARAM_construct_end()};
      EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
      EVP_PKEY* params_only = nullptr;
      if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
          EVP_PKEY_fromdata(ctx.get(), &params_only, EVP_PKEY_KEY_PARAMETERS, p) != 1) {
        return OpenSslError(std::string("cannot set up the curve ") + group);
      }
      tmpl.reset(params_only);
    }
    EvpPkeyPtr key(EVP_PKEY_dup(tmpl.get()));
    if (!key) {
      return OpenSslError("cannot copy an EC key");
    }
    if (EVP_PKEY_set1_encoded_public_key(key.get(),
                                         reinterpret_cast<const unsigned char*>(f.key_bits.data()),
                                         f.key_bits.size()) != 1) {
      ClearOpenSslErrors();
      return InvalidArgument("the CSR's public key is not valid", "bad_csr");
    }
    return key;
  }
  if (f.key_oid == kOidEd25519) {
    if (!f.key_params.empty()) {
      return Malformed("Ed25519 keys take no parameters");
    }
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key_ex(
        nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(f.key_bits.data()),
        f.key_bits.size());
    if (key == nullptr) {
      ClearOpenSslErrors();
      return InvalidArgument("the CSR's public key is not valid", "bad_csr");
    }
    return EvpPkeyPtr(key);
  }
  if (f.key_oid == kOidRsa) {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    std::string_view bits = f.key_bits;
    DerTlv seq, n, e;
    std::string_view body;
    if (!ReadDer(&bits, der::kSequence, &seq) || !bits.empty() ||
        !(body = seq.content, ReadDer(&body, der::kInteger, &n)) ||
        !ReadDer(&body, der::kInteger, &e) || !body.empty() || n.content.empty() ||
        e.content.empty() || (static_cast<uint8_t>(n.content[0]) & 0x80) != 0 ||
        (static_cast<uint8_t>(e.content[0]) & 0x80) != 0) {
      return Malformed("bad RSA public key");
    }
    BignumPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.content.data()),
                             static_cast<int>(n.content.size()), nullptr));
    BignumPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.content.data()),
                             static_cast<int>(e.content.size()), nullptr));
    std::unique_ptr<OSSL_PARAM_BLD, OsslDeleter<OSSL_PARAM_BLD_free>> bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
      return OpenSslError("cannot build the RSA key");
    }
    std::unique_ptr<OSSL_PARAM, OsslDeleter<OSSL_PARAM_free>> params(
        OSSL_PARAM_BLD_to_param(bld.get()));
    if (!params) {
      return OpenSslError("cannot build the RSA key");
    }
    return FromParams("RSA", params.get());
  }
  return KeyTypeRefused();
}

// The digest of a signature algorithm we accept ("" for Ed25519); nullptr
// for any other (SHA-1, RSA-PSS, ...).
const char* DigestOfSignature(std::string_view oid) {
  static constexpr std::pair<std::string_view, const char*> kAlgorithms[] = {
      {"\x2a\x86\x48\xce\x3d\x04\x03\x02"sv, "SHA256"},      // ecdsa-with-SHA256
      {"\x2a\x86\x48\xce\x3d\x04\x03\x03"sv, "SHA384"},      // ecdsa-with-SHA384
      {"\x2a\x86\x48\xce\x3d\x04\x03\x04"sv, "SHA512"},      // ecdsa-with-SHA512
      {"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"sv, "SHA256"},  // sha256WithRSAEncryption
      {"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c"sv, "SHA384"},
      {"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d"sv, "SHA512"},
      {kOidEd25519, ""},
  };
  for (const auto& [o, md] : kAlgorithms) {
    if (oid == o) {
      return md;
    }
  }
  return nullptr;
}

Status VerifySignature(const CsrFields& f, EVP_PKEY* key) {
  const char* md = DigestOfSignature(f.sig_oid);
  if (md == nullptr) {
    return InvalidArgument(
        "unsupported CSR signature algorithm (ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512, or "
        "Ed25519)",
        "csr_bad_signature");
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr, *md == '\0' ? nullptr : md, nullptr, nullptr, key,
                              nullptr) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(f.signature.data()),
                       f.signature.size(), reinterpret_cast<const unsigned char*>(f.info.data()),
                       f.info.size()) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the CSR's signature does not verify", "csr_bad_signature");
  }
  return Status::Ok();
}

// The extensionRequest attribute (PKCS#9), if any.
Status InspectAttributes(std::string_view attributes, std::vector<std::string>* dns) {
  while (!attributes.empty()) {
    DerTlv attr, type, values, first;
    if (!ReadDer(&attributes, der::kSequence, &attr)) {
      return Malformed("bad attribute");
    }
    std::string_view body = attr.content;
    if (!ReadDer(&body, der::kOid, &type) || !ReadDer(&body, der::kSet, &values) || !body.empty()) {
      return Malformed("bad attribute");
    }
    if (type.content != kOidExtensionRequest) {
      continue;  // e.g. challengePassword: nothing hostca uses
    }
    std::string_view vals = values.content;
    if (!ReadDer(&vals, der::kSequence, &first)) {
      return Malformed("bad extensionRequest");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(first.whole.data());
    X509ExtStackPtr exts(d2i_X509_EXTENSIONS(nullptr, &p, static_cast<long>(first.whole.size())));
    if (!exts) {
      ClearOpenSslErrors();
      return Malformed("bad extensionRequest");
    }
    HOSTCA_RETURN_IF_ERROR(InspectExtensions(exts.get(), dns));
  }
  return Status::Ok();
}

}  // namespace

Result<CheckedCsr> ParseAndCheckCsr(std::string_view pem_or_der, const CsrPolicy& policy) {
  if (pem_or_der.empty() || pem_or_der.size() > 64 * 1024) {
    return InvalidArgument("the CSR is empty or too large", "bad_csr");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string der_bytes, CsrDerOf(pem_or_der));
  HOSTCA_ASSIGN_OR_RETURN(const CsrFields f, WalkCsr(der_bytes));
  CheckedCsr out;
  HOSTCA_ASSIGN_OR_RETURN(out.public_key, PublicKeyOf(f));
  HOSTCA_ASSIGN_OR_RETURN(out.key_description, DescribeKey(out.public_key.get(), policy));
  HOSTCA_RETURN_IF_ERROR(VerifySignature(f, out.public_key.get()));
  HOSTCA_RETURN_IF_ERROR(InspectAttributes(f.attributes, &out.requested_dns_names));
  out.spki_der.assign(f.spki);
  return out;
}

}  // namespace hostca::ca
