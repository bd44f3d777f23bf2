// What scale_bench measured and its three renderings: a text table for
// stdout, and Markdown and JSON reports (bench/README.md explains the
// figures), with the targets of issue 5. Plain values and pure functions;
// thread safety as for any value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bulk_load.h"
#include "bench/disk_sync.h"
#include "bench/process.h"
#include "bench/profile.h"
#include "bench/report.h"

namespace hostca::bench {

// One server over one store: an empty one (just initialised) or a loaded one.
struct StoreRun {
  size_t stored = 0;                               // certificate records before the measurements
  std::vector<double> start_seconds;               // exec -> first /healthz 200, every start
  std::vector<double> port_seconds;                // exec -> the API port in the log, every start
  double first_query_seconds = 0;                  // the first inventory query after the last start
  std::vector<double> query_seconds;               // the timed inventory queries, sorted
  size_t query_results = 0;                        // certificates in one answer
  std::vector<double> issuance_rates;              // certificates per second, every run
  std::vector<double> issuance_p50, issuance_p99;  // seconds, every run
  std::vector<double> server_cpu_per_cert;         // seconds, every run
  std::vector<double> dirtied_per_cert;            // bytes (ProcessWriteBytes), every run
  std::vector<double> faults_per_cert;             // the server's minor page faults, every run
  // The store writer during each run (/metrics, bench/hostca_server.h
  // StoreCounters): writes per group commit, the mean commit's page writes
  // and fsyncs in seconds, and the writer's time running the writes per
  // write in seconds.
  std::vector<double> writes_per_commit, commit_seconds, apply_seconds_per_write;
  // Of each commit, the redo log's append and fdatasync; the checkpoints
  // during each run and their mean seconds (0 without the log).
  std::vector<double> log_seconds, checkpoints, checkpoint_seconds;
  size_t issued = 0, issue_failures = 0;
  ProcessMemory memory;  // after start, queries and issuance
  // 2.5 s later, idle: the server drops its mappings of store pages every
  // second (storage.h ReleaseMappedPages), so this is what it keeps.
  ProcessMemory memory_idle;
  std::vector<double> healthz_seconds;  // sorted
  std::vector<double> metrics_seconds;  // sorted
  ProcessMemory memory_after_metrics;
  uint64_t db_disk_bytes = 0;   // du of DATA/db
  uint64_t data_mdb_bytes = 0;  // size of DATA/db/data.mdb
};

// The loaded store's server at one storage.mapped_mib (scale_bench
// --mapped-mib): started with that budget before each of its issuance
// runs and stopped after it.
struct BudgetRun {
  uint64_t mapped_mib = 0;             // 0: the server's default (no config file)
  std::string server;                  // --server-b: "A" (--server) or "B" (--server-b); else ""
  StoreRun run;                        // the issuance figures
  std::vector<uint64_t> vm_rss_bytes;  // VmRSS right after each issuance run
  // --crash: after each SIGKILL of this server, the next start of the
  // store: transactions it replayed from the redo log
  // (hostca_store_replayed_transactions) and its seconds from the exec to
  // the first /healthz 200.
  std::vector<double> crash_replayed;
  std::vector<double> crash_start_seconds;
};

// One size N: the same CA measured empty, then with N records loaded.
struct ScaleSize {
  size_t certificates = 0;
  bool reused = false;  // the stores of an earlier run (--reuse): no load figures
  bool skipped = false;
  std::string skip_reason;
  StoreRun empty, loaded;
  // --mapped-mib: after everything else, the empty store's server runs
  // again (`empty_beside_budgets`) alternating with the loaded store's at
  // each budget, so each budget has a same-phase ratio.
  StoreRun empty_beside_budgets;
  std::vector<BudgetRun> budgets;
  BulkLoadStats load;
  // The disk under the commits (bench/disk_sync.h), timed on each store's
  // data.mdb after its server stopped, with as many pages per fdatasync as
  // the loaded store's commits wrote; sync_error says why when not taken.
  SyncTiming empty_sync, loaded_sync;
  std::string sync_error;
  // Reading a page the server has not mapped (bench/disk_sync.h), on each
  // store's data.mdb after its server stopped; read_error when not taken.
  ReadTiming empty_reads, loaded_reads;
  std::string read_error;
  // One more issuance run of each server under perf record (issue 5: a
  // missed target comes with its profile); empty when not taken.
  Profile empty_profile, loaded_profile;
};

struct ScaleResults {
  Environment env;
  size_t requests_per_run = 0;
  int connections = 0;
  size_t query_limit = 0;
  int64_t query_window_seconds = 0;
  std::vector<ScaleSize> sizes;
  std::vector<std::string> notes;  // shown under the tables
};

// Issue 5's targets, checked at every size (they are stated for 10M).
struct ScaleTargets {
  double issuance_ratio_min = 0.90;  // loaded / empty certificates per second
  double query_p50_max_seconds = 0.050;
  double start_max_seconds = 1.0;
  uint64_t rss_max_bytes = 256ull << 20;
};

std::string ScaleTextTable(const ScaleResults& results);
std::string ScaleMarkdownReport(const ScaleResults& results);
std::string ScaleJsonReport(const ScaleResults& results);

}  // namespace hostca::bench
