// PKCS#12 in and out of a data directory (common/pkcs12.h for the format):
//
//   hostca-server export-ca  : the CA certificate, its decrypted key and the
//                              chain above an intermediate CA, for moving
//                              the CA to another machine or an HSM import.
//   hostca-server import-tls : a certificate, key and chain for the HTTPS
//                              listener, installed as DATA/tls/sni/NAME.crt
//                              (leaf + chain) and NAME.key (0600), chosen by
//                              SNI from the next start (server/sni_table.h).
//
// Both run beside a running server: neither opens the store.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "server/options.h"

namespace hostca::server {

struct ExportCaReport {
  std::string fingerprint_sha256;  // of the CA certificate
  size_t chain_certs = 0;          // certificates above the CA in the file
};

// Writes the CA of `server.data_dir` to `p12_path` (0600, atomically) under
// `p12_passphrase`. The CA key passphrase comes from ResolvePassphrase.
// Errors: invalid_argument "empty_passphrase"; the CA key's errors
// ("bad_passphrase", ...); file errors.
Result<ExportCaReport> ExportCaP12(const ServerOptions& server, const std::string& p12_path,
                                   const std::string& p12_passphrase);

struct ImportTlsReport {
  std::string subject;                 // of the imported certificate
  std::vector<std::string> dns_names;  // the names it answers for
  std::string crt_path, key_path;      // where it was installed
  size_t chain_certs = 0;              // certificates after the leaf in crt_path
  bool replaced = false;               // an earlier NAME.crt was overwritten
};

// Reads `p12_path`, checks that its key belongs to its certificate and that
// the certificate verifies (at `clock`'s time, for TLS server use) up to a
// self-signed root in the file or to DATA/ca.crt, and installs it under
// DATA/tls/sni named after its first SAN DNS name ("*" spelled
// "_wildcard"). Errors (invalid_argument unless noted): "bad_pkcs12",
// "pkcs12_bad_passphrase", "key_mismatch", "pkcs12_no_key",
// "sni_no_names" (no SAN DNS name), "self_signed_leaf",
// "incomplete_chain" (no path to a root), "chain_invalid" (expired,
// wrong purpose, bad signature...), "duplicate_sni_name" (another
// installed certificate answers for one of its names); file errors.
Result<ImportTlsReport> ImportTlsP12(const ServerOptions& server, const std::string& p12_path,
                                     const std::string& p12_passphrase, const Clock& clock);

}  // namespace hostca::server
