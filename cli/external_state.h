// A host's external certificate in its state directory (DESIGN.md section
// 7), beside the internal one of cli/state.h:
//
//   external/host.crt       the externally signed certificate (PEM)
//   external/host.key       its private key (PEM), mode 0600
//   external/chain.pem      the intermediates sent with it during TLS
//   external/trust.pem      external roots the client trusts for the server
//                           (the server presents its external certificate in
//                           mixed and external mode)
//   external/external.json  {host_id, hostname, fingerprint_sha256, not_after}
//
// Files are written atomically, the certificate before external.json, so
// external.json exists only for a complete set. Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "cli/client.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::cli {

struct ExternalPaths {
  explicit ExternalPaths(const std::string& dir) : dir(dir + "/external") {}
  std::string dir;
  std::string cert() const { return dir + "/host.crt"; }
  std::string key() const { return dir + "/host.key"; }
  std::string chain() const { return dir + "/chain.pem"; }
  std::string trust() const { return dir + "/trust.pem"; }
  std::string meta() const { return dir + "/external.json"; }
};

// An external identity loaded from files given on the command line or from
// the state directory. invalid_argument "bad_external_cert" when a file does
// not parse or the key does not match the certificate.
struct ExternalIdentity {
  ClientCertificate tls;  // certificate, key and the chain to send
  std::string cert_pem, key_pem, chain_pem;
};
Result<ExternalIdentity> LoadExternalIdentity(const std::string& cert_path,
                                              const std::string& key_path,
                                              const std::string& chain_path);
// From DIR/external; not_found "no_external_cert" when none is installed.
Result<ExternalIdentity> LoadInstalledExternal(const std::string& state_dir);

// The self-signed certificates among `pem` (PEM bundle): the roots a chain
// file carries, used as trust for the server when no --trust is given.
Result<std::string> SelfSignedOf(const std::string& pem);

// Writes the set into DIR/external (see above).
Status SaveExternal(const std::string& state_dir, const ExternalIdentity& id,
                    const std::string& trust_pem, const nlohmann::json& meta);
// Removes DIR/external and everything in it; ok when absent.
Status RemoveExternal(const std::string& state_dir);

// DIR/external/trust.pem, or "" when absent.
std::string ExternalTrustPem(const std::string& state_dir);

}  // namespace hostca::cli
