#include "common/pkcs12.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include <memory>

#include "common/file.h"

namespace hostca {
namespace {

using Pkcs12Ptr = std::unique_ptr<PKCS12, OsslDeleter<PKCS12_free>>;

// A stack of borrowed certificates: frees the stack, not its elements.
struct BorrowedStackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};

Status Bad(const std::string& msg) { return InvalidArgument(msg, "bad_pkcs12"); }

}  // namespace

Result<std::string> EncodePkcs12(X509* cert, EVP_PKEY* key, const std::vector<X509*>& chain,
                                 const std::string& passphrase, const std::string& friendly_name) {
  if (passphrase.empty()) {
    return InvalidArgument("a PKCS#12 file needs a non-empty passphrase", "empty_passphrase");
  }
  ClearOpenSslErrors();
  if (X509_check_private_key(cert, key) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the key does not belong to the certificate", "key_mismatch");
  }
  // Borrowed pointers: PKCS12_create copies what it needs, so only the stack
  // itself is freed.
  std::unique_ptr<STACK_OF(X509), BorrowedStackDeleter> ca(sk_X509_new_null());
  if (!ca) {
    return OpenSslError("PKCS#12: allocating the chain");
  }
  for (X509* c : chain) {
    if (sk_X509_push(ca.get(), c) == 0) {
      return OpenSslError("PKCS#12: building the chain");
    }
  }
  // NID_aes_256_cbc for both bags selects PBES2 (PBKDF2-HMAC-SHA256); the MAC
  // is added separately (mac_iter -1 leaves it out here) to choose SHA-256.
  Pkcs12Ptr p12(PKCS12_create_ex(
      passphrase.c_str(), friendly_name.empty() ? nullptr : friendly_name.c_str(), key, cert,
      ca.get(), NID_aes_256_cbc, NID_aes_256_cbc, kPkcs12Iterations, -1, 0, nullptr, nullptr));
  if (!p12) {
    return OpenSslError("PKCS#12: encoding");
  }
  if (PKCS12_set_mac(p12.get(), passphrase.c_str(), -1, nullptr, 0, kPkcs12Iterations,
                     EVP_sha256()) != 1) {
    return OpenSslError("PKCS#12: MAC");
  }
  unsigned char* der = nullptr;
  const int len = i2d_PKCS12(p12.get(), &der);
  if (len <= 0) {
    return OpenSslError("PKCS#12: DER encoding");
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_clear_free(der, static_cast<size_t>(len));
  return out;
}

Result<Pkcs12Contents> DecodePkcs12(std::string_view der, const std::string& passphrase) {
  ClearOpenSslErrors();
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  if (!p12 || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ClearOpenSslErrors();
    return Bad("not a PKCS#12 file (DER)");
  }
  if (PKCS12_mac_present(p12.get()) == 1 &&
      PKCS12_verify_mac(p12.get(), passphrase.c_str(), static_cast<int>(passphrase.size())) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the PKCS#12 passphrase is wrong (the MAC does not verify)",
                           "pkcs12_bad_passphrase");
  }
  EVP_PKEY* raw_key = nullptr;
  X509* raw_cert = nullptr;
  STACK_OF(X509)* raw_ca = nullptr;
  const int parsed = PKCS12_parse(p12.get(), passphrase.c_str(), &raw_key, &raw_cert, &raw_ca);
  Pkcs12Contents out;
  out.key.reset(raw_key);
  out.cert.reset(raw_cert);
  X509StackPtr ca(raw_ca);
  if (parsed != 1) {
    const unsigned long err = ERR_peek_last_error();
    ClearOpenSslErrors();
    if (ERR_GET_REASON(err) == PKCS12_R_MAC_VERIFY_FAILURE) {
      return InvalidArgument("the PKCS#12 passphrase is wrong", "pkcs12_bad_passphrase");
    }
    return Bad(
        "cannot decrypt the PKCS#12 file (wrong passphrase, or a legacy algorithm such as RC2 "
        "that OpenSSL 3 no longer enables by default)");
  }
  for (int i = 0; ca && i < sk_X509_num(ca.get()); ++i) {
    out.chain.push_back(CopyRef(sk_X509_value(ca.get(), i)));
  }
  if (!out.key) {
    return InvalidArgument("the PKCS#12 file holds no private key", "pkcs12_no_key");
  }
  if (!out.cert) {
    // PKCS12_parse pairs the certificate by localKeyID; without one, any
    // certificate matching the key is the end entity.
    for (auto it = out.chain.begin(); it != out.chain.end(); ++it) {
      if (X509_check_private_key(it->get(), out.key.get()) == 1) {
        out.cert = std::move(*it);
        out.chain.erase(it);
        break;
      }
    }
    ClearOpenSslErrors();
    if (!out.cert) {
      return InvalidArgument(out.chain.empty()
                                 ? "the PKCS#12 file holds no certificate"
                                 : "the PKCS#12 file's key belongs to none of its certificates",
                             out.chain.empty() ? "pkcs12_no_cert" : "key_mismatch");
    }
  }
  if (X509_check_private_key(out.cert.get(), out.key.get()) != 1) {
    ClearOpenSslErrors();
    return InvalidArgument("the PKCS#12 file's key does not belong to its certificate",
                           "key_mismatch");
  }
  return out;
}

Result<std::string> ReadPassphraseFile(const std::string& path) {
  HOSTCA_ASSIGN_OR_RETURN(std::string pass, ReadFile(path));
  if (!pass.empty() && pass.back() == '\n') {
    pass.pop_back();
    if (!pass.empty() && pass.back() == '\r') {
      pass.pop_back();
    }
  }
  if (pass.empty()) {
    return InvalidArgument("the passphrase file " + path + " is empty", "empty_passphrase");
  }
  return pass;
}

}  // namespace hostca
