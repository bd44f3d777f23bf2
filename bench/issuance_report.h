// What issuance_bench measured and its three renderings: a text table for
// stdout, and Markdown and JSON reports (bench/README.md explains the
// columns). Plain values and pure functions; thread safety as for any value.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "bench/instructions.h"
#include "bench/profile.h"
#include "bench/report.h"

namespace hostca::bench {

// One timed load run.
struct LoadRun {
  double certs_per_second = 0;  // successful requests / wall time
  double p50_seconds = 0, p99_seconds = 0;
  double server_cpu_per_cert = 0;         // server CPU seconds / successful request
  double server_system_cpu_per_cert = 0;  // of which in the kernel (stime)
  double client_cpu_per_cert = 0;         // the load generator's CPU seconds / successful request
  size_t ok = 0, failed = 0;
  size_t connections = 0;               // TCP connections opened (TLS handshakes for hostca)
  size_t connections_before_start = 0;  // of which opened before the clock (keep-alive)
  size_t server_closes = 0;             // keep-alive connections the server ended
  // hostca's store writer over the run (/metrics; 0 for the others):
  // writes per group commit, the mean commit's page writes and fsyncs and the
  // part of it in the redo log's append and fdatasync, and the writer's time
  // running the writes per write, in seconds; the checkpoints during the run
  // and their mean seconds.
  double writes_per_commit = 0, commit_seconds = 0, apply_seconds_per_write = 0;
  double log_seconds = 0, checkpoints = 0, checkpoint_seconds = 0;
};

// One system under one load shape, every run.
struct LoadRow {
  std::string system;  // "hostca", "cfssl", "cfssl+sqlite"
  std::string mode;    // "keep-alive", "new-connection"
  int connections = 0;
  size_t requests_per_run = 0;
  std::vector<LoadRun> runs;
  std::map<std::string, size_t> failures;  // by kind, over all runs
};

// `openssl speed` on one core, and what it allows for nproc cores.
struct SignatureLimit {
  double sign_per_second = 0, verify_per_second = 0;  // ECDSA P-256
  double ecdh_per_second = 0;                         // ECDH P-256
  unsigned cores = 0;
  // Certificates per second when the CPUs only did the signature work: a
  // CSR verification and a certificate signature per certificate; a new
  // connection adds a handshake signature and an ECDH.
  double KeepAlive() const;
  double NewConnection() const;
};

// `openssl ca`, one process per certificate.
struct OpensslCaRuns {
  size_t certs_per_run = 0;
  std::vector<double> certs_per_second;
  std::vector<double> cpu_per_cert;  // CPU seconds of the processes / certificate
};

struct IssuanceResults {
  Environment env;
  std::string cfssl_version;  // "" when cfssl was not run
  std::string sqlite_version;
  SignatureLimit limit;
  std::vector<LoadRow> rows;
  OpensslCaRuns openssl_ca;
  Profile profile;                 // of one more hostca keep-alive run
  int profile_connections = 8;     // at this many connections
  InstructionCounts instructions;  // of another, under callgrind
  std::vector<std::string> notes;  // shown under the tables
};

// Median over the runs of one figure of a row.
double MedianOf(const LoadRow& row, double LoadRun::*figure);

std::string IssuanceTextTable(const IssuanceResults& results);
std::string IssuanceMarkdownReport(const IssuanceResults& results);
std::string IssuanceJsonReport(const IssuanceResults& results);

}  // namespace hostca::bench
