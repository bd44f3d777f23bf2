// The host state directory of the `hostca` client (--dir, default
// /var/lib/hostca):
//
//   ca.crt      the pinned CA certificate (PEM), written by `hostca ca get`
//   host.key    the host's private key, PEM PKCS#8, mode 0600
//   host.crt    the host certificate (PEM)
//   chain.pem   the issuing chain the server returned (chain[], PEM)
//   host.json   {host_id, serial, hostname, not_before, not_after}
//   crl.pem     the CA's CRL (PEM) and crl.json what its fetch learned
//               (ETag, times); see cli/crl_ops.h
//
// Every file is written with WriteFileAtomic. A new certificate is saved in
// this order: the new key to host.key.new (0600), then host.crt, chain.pem and
// host.json, and last host.key.new is renamed over host.key. A crash leaves
// either the old pair or a new certificate beside host.key.new;
// LoadHostState finishes such an interrupted save (or discards a host.key.new
// whose certificate never arrived), so host.key and host.crt always match.
//
// Functions are thread-compatible: two processes saving into one directory
// at once is not supported (the agent and a manual renew are both atomic per
// file, and the recovery above makes the pair consistent again).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::cli {

class StatePaths {
 public:
  explicit StatePaths(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string ca_crt() const { return dir_ + "/ca.crt"; }
  std::string host_key() const { return dir_ + "/host.key"; }
  std::string host_key_new() const { return dir_ + "/host.key.new"; }
  std::string host_crt() const { return dir_ + "/host.crt"; }
  std::string chain_pem() const { return dir_ + "/chain.pem"; }
  std::string host_json() const { return dir_ + "/host.json"; }
  std::string crl_pem() const { return dir_ + "/crl.pem"; }
  std::string crl_json() const { return dir_ + "/crl.json"; }

 private:
  std::string dir_;
};

// What the client reads out of a host certificate.
struct CertInfo {
  std::string serial_hex;              // lower-case hex, no leading zeros
  std::string host_id;                 // from the SAN URI urn:uuid:<id>; "" when absent
  std::vector<std::string> dns_names;  // SAN DNS names, in certificate order
  int64_t not_before = 0;
  int64_t not_after = 0;
};
Result<CertInfo> InspectCertificate(X509* cert);

// The answer of POST /v1/enroll and /v1/renew.
struct IssuedCert {
  std::string host_id;
  std::string serial;
  std::string certificate_pem;
  std::vector<std::string> chain_pem;
};
// invalid_argument "bad_response" when a field is missing or of the wrong type.
Result<IssuedCert> ParseIssued(const nlohmann::json& body);

// The pinned CA (PEM); not_found "ca_not_pinned" before `hostca ca get`.
Result<std::string> LoadPinnedCa(const StatePaths& paths);

// A loaded host identity.
struct HostState {
  X509Ptr cert;
  EvpPkeyPtr key;
  std::vector<X509Ptr> chain;
  CertInfo info;
  std::string hostname;  // from host.json, else the first DNS name
};
// Loads host.key/host.crt/chain.pem/host.json after finishing an interrupted
// save. not_found "not_enrolled" when there is no host.crt or host.key.
Result<HostState> LoadHostState(const StatePaths& paths);

// Checks an issued certificate (it matches `key` and chains to `ca_pem`
// through its chain) and saves it in the order described above. `hostname`
// goes into host.json. Errors: invalid_argument "bad_response" for a
// certificate that does not check out; file errors from WriteFileAtomic.
Status SaveIssued(const StatePaths& paths, const std::string& ca_pem, const std::string& hostname,
                  EVP_PKEY* key, const IssuedCert& issued);

}  // namespace hostca::cli
