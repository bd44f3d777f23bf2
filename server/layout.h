// The data directory of hostca-server (DESIGN.md section 8), in one place.
#pragma once

#include <string>

#include "common/status.h"

namespace hostca::server {

struct DataLayout {
  explicit DataLayout(const std::string& dir) : dir(dir) {}
  std::string dir;
  std::string ca_crt() const { return dir + "/ca.crt"; }  // the CA certificate, PEM
  std::string ca_chain() const {
    return dir + "/ca-chain.pem";
  }  // above an intermediate CA, up to the root
  std::string ca_key() const { return dir + "/ca.key"; }    // encrypted PKCS#8, 0600
  std::string ca_pass() const { return dir + "/ca.pass"; }  // generated passphrase, 0600
  std::string ca_csr() const { return dir + "/ca.csr"; }    // intermediate flow only
  std::string admin_token() const {
    return dir + "/admin.token";
  }  // 0600; the store keeps its hash
  std::string tls_dir() const { return dir + "/tls"; }
  std::string tls_crt() const { return dir + "/tls/server.crt"; }  // leaf + chain, PEM
  std::string tls_key() const { return dir + "/tls/server.key"; }  // 0600
  // Certificates chosen by SNI: NAME.crt (leaf + chain) and NAME.key (0600),
  // installed by `hostca-server import-tls` (server/sni_table.h).
  std::string tls_sni_dir() const { return dir + "/tls/sni"; }
  std::string db() const { return dir + "/db"; }
  // Where the running server listens (running_server.h); 0644, not backed up.
  std::string serve_json() const { return dir + "/serve.json"; }
};

// Meta keys in the store.
inline constexpr char kMetaOrganization[] = "organization";
inline constexpr char kMetaAdminTokenHash[] = "admin_token_sha256";
inline constexpr char kMetaSecurityLevel[] = "security_level";
inline constexpr char kMetaMode[] = "mode";
inline constexpr char kMetaCaFingerprint[] = "ca_fingerprint_sha256";

// The CA key passphrase: HOSTCA_KEY_PASSPHRASE, else `passphrase_file` when
// set, else DIR/ca.pass. A trailing newline in a file is ignored.
Result<std::string> ResolvePassphrase(const DataLayout& layout, const std::string& passphrase_file);

}  // namespace hostca::server
