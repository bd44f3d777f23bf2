// The OpenSSL side of crl_bench (bench/README.md): an `openssl ca` directory
// holding the same revocation list as hostca's CRL, the timed
// `openssl ca -gencrl` baseline, and the OpenSSL check every measured CRL
// must pass. Thread safety: none needed (the benchmark is single-threaded).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ca/issuer.h"
#include "common/status.h"
#include "crl/crl_builder.h"

namespace hostca::bench {

// Parses `crl` (PEM or DER) with OpenSSL and checks X509_CRL_verify against
// `ca_cert`'s key and that it holds exactly `expected_entries` entries.
// Returns the size of its DER encoding; invalid_argument naming what failed
// otherwise.
Result<size_t> CheckCrl(std::string_view crl, X509* ca_cert, size_t expected_entries);

// Writes into `dir` (created if missing) an OpenSSL CA: ca.pem, ca.key (the
// issuer's certificate and key), index.txt with every entry as an `R` line
// (keyCompromise), index.txt.attr, crlnumber and openssl.cnf (sha256, AKI in
// crl_extensions). Returns the path of openssl.cnf.
Result<std::string> WriteOpensslCa(const std::string& dir, const ca::Issuer& issuer,
                                   const std::vector<crl::CrlEntry>& entries);

// Runs `openssl ca -config <config> -gencrl -out <crl_path>` once and
// returns its wall time in seconds (process start included). internal, with
// the tail of its output, if it fails.
Result<double> TimeGencrl(const std::string& config, const std::string& crl_path);

// `cfssl gencrl` (Debian's golang-cfssl) over the same serials: writes
// `dir`/serials.txt (decimal, one per line; cfssl takes no reasons or dates,
// it revokes everything "now") and runs `cfssl gencrl serials.txt ca.pem
// ca.key` with the files WriteOpensslCa wrote. Returns the wall time; the
// CRL's DER (cfssl prints it in base64) goes to *der. not_found when cfssl
// is not installed.
Result<double> TimeCfsslGencrl(const std::string& dir, const std::vector<crl::CrlEntry>& entries,
                               std::string* der);

// The first line `argv` prints on stdout (e.g. `openssl version`), or ""
// when it cannot run or exits non-zero.
std::string CommandOutputLine(const std::vector<std::string>& argv);

}  // namespace hostca::bench
