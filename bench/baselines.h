// What issuance_bench compares hostca with (bench/README.md): the signature
// limit from `openssl speed`, `cfssl serve` without and with its SQLite
// certificate database, and `openssl ca` run once per certificate; plus the
// test material they share (a P-256 CA, the CSRs) and the check every
// measured certificate passes. Thread safety: none needed (called from the
// benchmark's main thread).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/issuance_report.h"
#include "bench/process.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::bench {

// Runs `openssl speed -seconds S ecdsap256` and `... ecdhp256` (one core
// each) and fills the per-core rates; `cores` is stored as given.
Result<SignatureLimit> MeasureSignatureLimit(int seconds, unsigned cores);

// A P-256 root CA for the baselines (cfssl and `openssl ca`).
struct BenchCa {
  EvpPkeyPtr key;
  X509Ptr cert;
  std::string cert_pem, key_pem;  // the key as unencrypted PKCS#8
};
Result<BenchCa> MakeBenchCa();

// `n` PEM CSRs, each with a new ECDSA P-256 key and subject
// CN=bench-<i>.example.test (no extensions), signed with SHA-256.
Result<std::vector<std::string>> MakeCsrs(size_t n);

// The certificate in `pem` parses and its signature verifies with `ca`'s key.
Status CheckIssued(std::string_view pem, X509* ca);

// `cfssl serve` on a free loopback port, signing with `ca`'s key under a
// default profile (1 year, server and client auth). With `sqlite`, a
// certificate database in DIR/certs.db that it writes every certificate to
// (created with sqlite3 from cfssl's certdb schema).
struct CfsslServer {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string db_path;  // "" without a database
};
Result<CfsslServer> StartCfssl(const std::string& dir, const BenchCa& ca, bool sqlite);

// SELECT count(*) FROM certificates, through the sqlite3 command.
Result<size_t> CountCfsslCertificates(const std::string& db_path);

// `openssl ca -batch` once per CSR over a fresh CA directory in `dir` (same
// CA key, an extension section like hostca's), `runs` times over the first
// `per_run` CSRs; checks the last certificate of each run.
Result<OpensslCaRuns> MeasureOpensslCa(const std::string& dir, const BenchCa& ca,
                                       const std::vector<std::string>& csrs, size_t per_run,
                                       int runs);

}  // namespace hostca::bench
