#include "common/ossl.h"

#include <openssl/err.h>

namespace hostca {

Status OpenSslError(std::string_view what, Code code, std::string reason) {
  std::string msg(what);
  bool first = true;
  unsigned long err = 0;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    msg += first ? ": " : "; ";
    msg += buf;
    first = false;
  }
  return Status(code, std::move(msg), std::move(reason));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

X509Ptr CopyRef(X509* cert) {
  if (cert != nullptr) {
    X509_up_ref(cert);
  }
  return X509Ptr(cert);
}

EvpPkeyPtr CopyRef(EVP_PKEY* key) {
  if (key != nullptr) {
    EVP_PKEY_up_ref(key);
  }
  return EvpPkeyPtr(key);
}

}  // namespace hostca
