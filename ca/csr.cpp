#include "ca/csr.h"

#include <openssl/core_names.h>

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

// Refuses CA:TRUE; collects requested DNS names.
Status InspectExtensions(X509_REQ* req, std::vector<std::string>* dns) {
  X509ExtStackPtr exts(X509_REQ_get_extensions(req));
  ClearOpenSslErrors();
  if (!exts) {
    return Status::Ok();
  }
  for (int i = 0; i < sk_X509_EXTENSION_num(exts.get()); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
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
        if (gn->type == GEN_DNS) {
          const ASN1_IA5STRING* s = gn->d.dNSName;
          dns->emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                            static_cast<size_t>(ASN1_STRING_length(s)));
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<CheckedCsr> ParseAndCheckCsr(std::string_view pem_or_der, const CsrPolicy& policy) {
  if (pem_or_der.empty() || pem_or_der.size() > 64 * 1024) {
    return InvalidArgument("the CSR is empty or too large", "bad_csr");
  }
  HOSTCA_ASSIGN_OR_RETURN(X509ReqPtr req, CsrFromPemOrDer(pem_or_der));
  CheckedCsr out;
  out.public_key.reset(X509_REQ_get_pubkey(req.get()));
  if (!out.public_key) {
    return OpenSslError("the CSR's public key cannot be decoded", Code::kInvalidArgument,
                        "bad_csr");
  }
  HOSTCA_ASSIGN_OR_RETURN(out.key_description, DescribeKey(out.public_key.get(), policy));
  if (X509_REQ_verify(req.get(), out.public_key.get()) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the CSR's signature does not verify", "csr_bad_signature");
  }
  HOSTCA_RETURN_IF_ERROR(InspectExtensions(req.get(), &out.requested_dns_names));
  return out;
}

}  // namespace hostca::ca
