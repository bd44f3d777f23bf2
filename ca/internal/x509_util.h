// Extension and name building shared by the CA certificate and the host
// profile. Internal to ca/.
#pragma once

#include <string>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::ca::internal {

// An extension from OpenSSL's config syntax ("critical,CA:FALSE"). `issuer`
// and `subject` may be null when the value does not refer to them.
Result<X509ExtensionPtr> MakeExtension(X509* subject, int nid, const std::string& value,
                                       X509* issuer = nullptr);
// authorityKeyIdentifier (keyid) of certificates issued by `issuer`: its
// subjectKeyIdentifier, or the SHA-1 of its public key when it has none.
Result<X509ExtensionPtr> MakeAkiFromIssuer(X509* issuer);
// subjectKeyIdentifier: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 (1)).
Status AddSubjectKeyId(X509* cert);

// O=<org>, OU=<ou> (omitted when empty), CN=<cn>.
Status SetSubject(X509_NAME* name, const std::string& org, const std::string& ou,
                  const std::string& cn);
// SHA-1 key identifier of a public key.
Result<std::string> KeyIdOf(X509* cert);

}  // namespace hostca::ca::internal
