// ServerOptions: every setting of hostca-server, with its documented default
// (STYLE.md rule 7). Filled from the TOML file (conf/hostca.toml documents
// each key) and then from command-line flags, which win.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/storage.h"

namespace hostca::server {

struct ServerOptions {
  // [server]
  std::string data_dir = "/var/lib/hostca-server";  // --data
  std::string listen = "127.0.0.1:8443";            // HTTPS API; port 0 picks a free port
  std::string http_listen = "127.0.0.1:8080";       // plain HTTP: CA certificate and CRL only
  // Base URL of the plain-HTTP listener written into certificates (CRL
  // distribution point, AIA caIssuers). Empty: "http://<http_listen>" as bound.
  std::string public_url;
  int threads = 0;                      // most HTTPS connections at once; 0 = 1024
  int http_threads = 0;                 // most plain-HTTP connections at once; 0 = 1024
  int max_idle_connections = 128;       // per listener: idle > 1 s beyond it are closed
  uint64_t max_body_bytes = 64 * 1024;  // larger request bodies get 413
  std::string log_level = "info";       // trace, debug, info, warn, error
  // [ca]
  std::string passphrase_file;  // default: DATA/ca.pass; HOSTCA_KEY_PASSPHRASE wins over both
  // [issuance]
  int64_t validity_days = 365;  // host certificate lifetime
  int min_rsa_bits = 2048;      // smallest RSA key accepted in a CSR
  // [crl]
  int64_t crl_validity_days =
      7;  // nextUpdate lies this far ahead: a CA outage does not break the fleet
  int64_t crl_republish_seconds = 3600;  // publish at least this often, revoked or not
  // [tidy]
  int64_t tidy_retention_days = 90;       // records of certificates expired longer ago are removed
  int64_t tidy_interval_seconds = 21600;  // how often the background job runs
  // [backup] scheduled backups (server/backup_schedule.h); off while
  // backup_directory is empty.
  std::string backup_directory;
  int64_t backup_interval_seconds = 86400;  // one backup per interval (at least 1)
  int backup_keep = 7;                      // newest scheduled backups kept (at least 1)
  std::string backup_passphrase_file;       // required when backup_directory is set
  // Not a TOML key: the --config file, which backups include.
  std::string config_path;
  // [storage]
  uint64_t initial_map_mib = 64;  // LMDB map size at start; grows on its own
  uint64_t max_map_gib = 1024;    // growth stops here (then: 507 resource_exhausted)
  int max_batch = 512;            // most writes per group commit
  bool durable = true;            // fsync every group commit (never turn off in production)
  bool redo_log = true;           // durable through the redo log (storage/README.md)
  int checkpoint_ms = 300;        // LMDB's pages reach the disk at least this often
  int writeback_ms = 50;          // their writeback starts this long after commits (0: off)
  // Store pages this process maps (VmRSS's RssFile) are dropped every 10 s,
  // and as soon as they exceed this many MiB (checked every 10 ms while the
  // store is in use; mapped_pages.h).
  uint64_t mapped_mib = 128;
  // [external] (DESIGN.md section 7). Relative paths in the file are taken
  // from the configuration file's directory. No trust bundle: external
  // certificates are off and the domain stays in internal mode.
  std::string external_trust_bundle;             // PEM: external roots and intermediates
  std::string external_crl_check = "leaf";       // leaf | chain | disabled
  std::string external_crl_dir;                  // CRLs, PEM or DER, any file name; "" = none
  bool external_cdp_download = true;             // else fetch from the certificates' CDP URLs
  int64_t external_cdp_refresh_seconds = 86400;  // downloaded CRLs are fetched again after this
  std::string external_cdp_cache_dir;            // downloaded CRLs survive restarts here; "" =
                                                 // DATA/external/crl-cache
  std::string external_identity = "san";         // san: SAN DNS names; subject: the subject's CN
  std::string external_server_cert;              // the HTTPS listener's external certificate (PEM)
  std::string external_server_key;               // its private key (PEM; may be encrypted)
  std::string external_server_chain;  // its intermediates (PEM); "" = none or in server_cert
  std::string external_server_key_passphrase_file;  // for an encrypted server_key
  // [tls] Certificates of the HTTPS listener besides the internal identity
  // (server/sni_table.h, server/tls_select.h). Relative paths as above.
  // PEM files, each with a certificate, its chain and its unencrypted key,
  // chosen by the client's server name (SNI) among their SAN DNS names;
  // DATA/tls/sni/*.crt + *.key (hostca-server import-tls) are added to them.
  std::vector<std::string> tls_sni_certificates;
  // Served to clients sending no server name or one no certificate answers
  // for; never self-signed. "" = the internal identity DATA/tls/server.crt.
  // In mixed and external mode the external server_cert wins when set.
  std::string tls_default_certificate;  // PEM: certificate and chain
  std::string tls_default_key;          // PEM, unencrypted; "" = in default_certificate
};

// Reads a TOML file into `options` (keys absent from the file keep their
// values). invalid_argument with the file, key and line on a bad file or an
// unknown key, so typos do not pass silently.
Status LoadConfigFile(const std::string& path, ServerOptions* options);

// "host:port" -> parts. invalid_argument if malformed. IPv6 as "[::1]:8443".
Status SplitHostPort(const std::string& addr, std::string* host, int* port);

// The [storage] settings as the store takes them, for the store in
// DATA/db: every process that opens it for writing (serve, init, tidy,
// admin-cert) opens it the same way.
storage::LmdbOptions StoreOptions(const ServerOptions& options);

}  // namespace hostca::server
