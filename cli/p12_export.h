// `hostca cert export SERIAL --p12 FILE --passphrase-file F`: a certificate
// whose key is on this machine, with its key and issuing chain, as a
// PKCS#12 file (common/pkcs12.h: PBES2 AES-256-CBC, SHA-256 MAC). Nothing
// is asked of the server. Where certificates are looked for:
//
//   --dir DIR      the host state: host.crt + host.key (chain: chain.pem,
//                  else ca.crt) and external/host.crt + host.key (chain:
//                  external/chain.pem)
//   --data DATA    a hostca-server data directory: tls/server.crt +
//                  server.key and tls/sni/NAME.crt + NAME.key (chain: the
//                  certificates after the leaf, else ca.crt and ca-chain.pem)
//   --key-dir DIR  NAME.crt + NAME.key pairs, as `hostca-server admin-cert
//                  --out DIR` writes them (chain: the certificates after
//                  the leaf, else DIR/ca.crt)
//
// Not thread-safe (reads and writes files).
#pragma once

#include <string>

#include "common/status.h"

namespace hostca::cli {

struct ExportSources {
  std::string state_dir;  // --dir
  std::string data_dir;   // --data; "" = not searched
  std::string key_dir;    // --key-dir; "" = not searched
};

struct ExportReport {
  std::string serial;     // lower-case hex, no leading zeros
  std::string subject;    // of the exported certificate
  std::string cert_path;  // where it was found
  size_t chain_certs = 0;
};

// "00:AB:cd" -> "abcd": lower case, colons dropped, leading zeros stripped.
std::string NormalizeSerial(const std::string& serial);

// Finds the certificate with `serial` (or SHA-256 fingerprint) and writes it
// to `out_path` (0600, atomically). Errors: not_found "cert_not_found" (no
// certificate with that serial where it looked; the message lists where),
// not_found "key_missing" (found without its key), invalid_argument
// "key_mismatch" / "empty_passphrase"; file errors.
Result<ExportReport> ExportP12(const ExportSources& sources, const std::string& serial,
                               const std::string& out_path, const std::string& passphrase);

}  // namespace hostca::cli
