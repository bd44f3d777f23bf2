#include "common/version.h"

#include <openssl/crypto.h>

namespace hostca {

std::string VersionLine(std::string_view program) {
  return std::string(program) + " " + HOSTCA_VERSION + " (" + OpenSSL_version(OPENSSL_VERSION) +
         ")";
}

}  // namespace hostca
