// `hostca-server init`: creates a CA and its data directory (DESIGN.md
// sections 3 and 8). Never overwrites an existing CA; on refusal nothing in
// the directory changes.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "server/options.h"

namespace hostca::server {

struct InitOptions {
  std::string key_type = "p256";        // p256 | p384 | ed25519 | rsa3072 | rsa4096
  std::string organization = "hostca";  // O= of the CA and every certificate
  std::vector<std::string>
      server_names;           // names of the server's TLS certificate; default localhost, 127.0.0.1
  bool intermediate = false;  // write a key and DIR/ca.csr for an external root to sign
  std::string install_ca_cert;  // PEM: the signed intermediate, then its chain up to the root
  int64_t tls_validity_days = 365;
};

struct InitReport {
  std::string fingerprint_sha256;    // of the CA certificate (empty after --intermediate)
  std::vector<std::string> written;  // files created, for the summary
  bool passphrase_generated = false;
};

// Runs init for `server.data_dir`. Errors: already_exists when a CA is there,
// invalid_argument for bad options or a certificate that does not fit.
Result<InitReport> RunInit(const ServerOptions& server, const InitOptions& init,
                           const Clock& clock);

struct AdminCertIssued {
  std::string serial;           // hex
  bool through_server = false;  // a running server issued and recorded it
};

// `hostca-server admin-cert`: issues an admin client certificate for `name`
// with the CA of `server.data_dir`, records it (and an audit entry) in the
// store, and writes OUT/<name>.key (0600) and OUT/<name>.crt. When a server
// holds the store, the key is made here and that server issues and records
// the certificate for its CSR (running_server.h).
Result<AdminCertIssued> IssueAdminCertFiles(const ServerOptions& server, const std::string& name,
                                            const std::string& out_dir, int64_t validity_days,
                                            const Clock& clock);

}  // namespace hostca::server
