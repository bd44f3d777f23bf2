#include "common/pem.h"

#include <openssl/pem.h>

#include <algorithm>

#include "common/encoding.h"
#include "common/huge_pages.h"

namespace hostca {
namespace {

BioPtr MemBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

bool LooksLikePem(std::string_view data) {
  return data.find("-----BEGIN") != std::string_view::npos;
}

Result<std::string> BioContents(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  if (mem == nullptr) {
    return Internal("memory BIO has no buffer");
  }
  return std::string(mem->data, mem->length);
}

// Runs `write(bio)` into a fresh memory BIO and returns what it wrote.
template <typename F>
Result<std::string> WriteToString(std::string_view what, F write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) <= 0) {
    return OpenSslError(what);
  }
  return BioContents(bio.get());
}

}  // namespace

std::vector<std::string> SanDnsNames(X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      out.push_back(
          AsciiLower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                      static_cast<size_t>(ASN1_STRING_length(s)))));
    }
  }
  return out;
}

Result<X509Ptr> CertFromPem(std::string_view pem) {
  ClearOpenSslErrors();
  BioPtr bio = MemBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return OpenSslError("cannot parse PEM certificate", Code::kInvalidArgument, "bad_certificate");
  }
  return cert;
}

Result<X509Ptr> CertFromDer(std::string_view der) {
  ClearOpenSslErrors();
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != reinterpret_cast<const unsigned char*>(der.data() + der.size())) {
    return OpenSslError("cannot parse DER certificate", Code::kInvalidArgument, "bad_certificate");
  }
  return cert;
}

Result<X509Ptr> CertFromPemOrDer(std::string_view data) {
  return LooksLikePem(data) ? CertFromPem(data) : CertFromDer(data);
}

Result<std::string> CertToPem(X509* cert) {
  return WriteToString("cannot encode certificate",
                       [&](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

Result<std::string> CertToDer(X509* cert) {
  return I2d("cannot encode certificate", cert, i2d_X509);
}

Result<std::vector<X509Ptr>> CertsFromPemBundle(std::string_view pem) {
  ClearOpenSslErrors();
  BioPtr bio = MemBio(pem);
  std::vector<X509Ptr> out;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    out.push_back(std::move(cert));
  }
  ClearOpenSslErrors();  // the read past the last certificate always "fails"
  if (out.empty()) {
    return InvalidArgument("no PEM certificate found", "bad_certificate");
  }
  return out;
}

Result<X509StorePtr> TrustStoreFromPem(std::string_view pem) {
  HOSTCA_ASSIGN_OR_RETURN(const std::vector<X509Ptr> certs, CertsFromPemBundle(pem));
  X509StorePtr store(X509_STORE_new());
  if (!store) {
    return OpenSslError("cannot make a certificate store");
  }
  for (const X509Ptr& c : certs) {
    // Takes its own reference; a certificate already there is not an error.
    if (X509_STORE_add_cert(store.get(), c.get()) != 1) {
      return OpenSslError("cannot add a certificate to a store");
    }
  }
  return store;
}

Result<X509ReqPtr> CsrFromPemOrDer(std::string_view data) {
  ClearOpenSslErrors();
  X509ReqPtr csr;
  if (LooksLikePem(data)) {
    BioPtr bio = MemBio(data);
    csr.reset(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    csr.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(data.size())));
  }
  if (!csr) {
    return OpenSslError("cannot parse certificate signing request", Code::kInvalidArgument,
                        "bad_csr");
  }
  return csr;
}

Result<std::string> CsrDerOf(std::string_view data) {
  if (!LooksLikePem(data)) {
    return std::string(data);
  }
  ClearOpenSslErrors();
  BioPtr bio = MemBio(data);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &der, &len) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the CSR's PEM armour is malformed", "bad_csr");
  }
  const std::string label = name;
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(der);
  if (label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST") {
    return InvalidArgument("expected a PEM CERTIFICATE REQUEST, got " + label.substr(0, 40),
                           "bad_csr");
  }
  return out;
}

Result<std::string> CsrToPem(X509_REQ* csr) {
  return WriteToString("cannot encode CSR", [&](BIO* b) { return PEM_write_bio_X509_REQ(b, csr); });
}

Result<X509CrlPtr> CrlFromPemOrDer(std::string_view data) {
  ClearOpenSslErrors();
  X509CrlPtr crl;
  if (LooksLikePem(data)) {
    BioPtr bio = MemBio(data);
    crl.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    crl.reset(d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size())));
  }
  if (!crl) {
    return OpenSslError("cannot parse CRL", Code::kInvalidArgument, "bad_crl");
  }
  return crl;
}

Result<std::string> CrlToPem(X509_CRL* crl) {
  return WriteToString("cannot encode CRL", [&](BIO* b) { return PEM_write_bio_X509_CRL(b, crl); });
}

Result<std::string> CrlToDer(X509_CRL* crl) { return I2d("cannot encode CRL", crl, i2d_X509_CRL); }

Result<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  return WriteToString("cannot encode private key", [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<EvpPkeyPtr> PrivateKeyFromPem(std::string_view pem) {
  ClearOpenSslErrors();
  BioPtr bio = MemBio(pem);
  // An empty passphrase callback result makes encrypted keys fail cleanly
  // instead of prompting on the terminal.
  auto no_pass = [](char*, int, int, void*) -> int { return 0; };
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_pass, nullptr));
  if (!key) {
    return OpenSslError("cannot parse private key", Code::kInvalidArgument, "bad_key");
  }
  return key;
}

Result<std::string> PublicKeyToDer(EVP_PKEY* key) {
  return I2d("cannot encode public key", key, i2d_PUBKEY);
}

std::string DerToPem(std::string_view der, std::string_view label) {
  const std::string begin = "-----BEGIN " + std::string(label) + "-----\n";
  const std::string end = "-----END " + std::string(label) + "-----\n";
  std::string out;
  // Sized once: a 1M-entry CRL's PEM is 66 MB, and growing it by doubling
  // touched twice that in fresh pages (crl/crl_builder.cpp, CrlSigner::Sign).
  out.reserve(begin.size() + (der.size() + 47) / 48 * 65 + end.size());
  AdviseHugePages(out.data(), out.capacity());
  out.append(begin);
  for (size_t off = 0; off < der.size(); off += 48) {
    const size_t n = std::min<size_t>(48, der.size() - off);
    unsigned char line[65];
    const int len = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(der.data() + off),
                                    static_cast<int>(n));
    out.append(reinterpret_cast<const char*>(line), static_cast<size_t>(len));
    out.push_back('\n');
  }
  out += end;
  return out;
}

Result<std::string> CertFingerprintSha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    return OpenSslError("cannot hash certificate");
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace hostca
