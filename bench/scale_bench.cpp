// scale_bench: a real `hostca-server` over a store of N certificates (issue
// 5, "Scale"): start-up time, the inventory query, issuance against the same
// CA's empty store, the server's memory and the store's size, with the
// issue's targets. Usage and how to read the figures: bench/README.md.
//
//   scale_bench [--quick] [--sizes 1000000,10000000] [--requests N] [--runs N]
//               [--queries N] [--starts N] [--out DIR] [--work DIR] [--keep]
//               [--server PATH] [--no-profile] [--no-compact] [--mapped-mib LIST]
//               [--server-b PATH] [--config-b FILE]
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/args.h"
#include "bench/baselines.h"
#include "bench/bulk_load.h"
#include "bench/disk_sync.h"
#include "bench/hostca_server.h"
#include "bench/loadgen.h"
#include "bench/process.h"
#include "bench/report.h"
#include "bench/scale_report.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::bench {
namespace {

constexpr int64_t kQueryWindowSeconds = 30 * 86400;
constexpr size_t kQueryLimit = 1000;
constexpr int kConnections = 8;
constexpr size_t kHealthzSamples = 10;
// Disk a size needs before its bytes per certificate are known: above
// what the store takes (about 1.3 KB), plus a margin.
constexpr double kDefaultBytesPerCert = 2000;
constexpr uint64_t kDiskMargin = 2ull << 30;

struct Options {
  std::vector<size_t> sizes = {1000000, 10000000};
  size_t requests = 2000;  // per issuance run
  int runs = 5;            // issuance runs per store
  size_t queries = 20;     // timed inventory queries per store
  int starts = 3;          // server starts per loaded store (the empty one: 1)
  size_t metrics_samples = 3;
  std::string out_dir = HOSTCA_SOURCE_DIR "/bench/results";
  std::string work_dir;  // "" = OUT/tmp
  std::string server = HOSTCA_BINARY_DIR "/bin/hostca-server";
  bool keep = false;
  bool profile = true;  // one more issuance run of each server under perf record
  bool compact = true;  // the bulk loader compacts the loaded store (BulkLoadOptions)
  // storage.mapped_mib values the loaded store's issuance runs again at
  // (MeasureBudgets); empty: no such phase.
  std::vector<uint64_t> mapped_mib;
  // A second hostca-server build: the same phase then alternates the two
  // builds on the loaded store (MeasureBudgets); "": no such comparison.
  std::string server_b;
  std::string config_b;  // --config FILE for B's runs
  // In that phase, SIGKILL the loaded store's server after each run and
  // time the next start, which replays the redo log (MeasureBudgets).
  bool crash = false;
  // A size directory an earlier --keep run left (its empty/ and loaded/
  // data directories): measured again without init or bulk load.
  std::string reuse;
  std::string report_suffix;
};

constexpr char kUsage[] =
    "usage: scale_bench [--quick] [--sizes LIST] [--requests N] [--runs N] [--queries N]\n"
    "                   [--starts N] [--out DIR] [--work DIR] [--keep] [--server PATH]\n"
    "                   [--no-profile] [--no-compact] [--mapped-mib LIST] [--server-b PATH]\n"
    "                   [--config-b FILE] [--reuse DIR]\n"
    "  --quick         100k certificates; 400 requests x 3 runs, 2 starts\n"
    "  --sizes LIST    comma-separated certificate counts (default: 1000000,10000000)\n"
    "  --requests N    requests per issuance run (default: 2000)\n"
    "  --runs N        issuance runs per store (default: 5)\n"
    "  --queries N     timed inventory queries per store (default: 20)\n"
    "  --starts N      server starts timed per loaded store (default: 3)\n"
    "  --out DIR       where the Markdown and JSON reports go (default: bench/results)\n"
    "  --work DIR      where the data directories go (default: OUT/tmp; 10M needs ~32 GB\n"
    "                  while the loader compacts, ~16 GB after)\n"
    "  --keep          keep the data directories and perf data (and print where they are)\n"
    "  --server PATH   the hostca-server binary (default: the one built beside this one)\n"
    "  --no-profile    skip the perf profile of both servers (one more issuance run each)\n"
    "  --no-compact    keep the loaded store as the bulk load left it, with the free pages\n"
    "                  of its large commits (bench/README.md)\n"
    "  --mapped-mib LIST  then run the loaded store's issuance again at each of these\n"
    "                  storage.mapped_mib values (16..1048576, e.g. 128,1024), restarting its\n"
    "                  server before each run, alternating with the empty store\n"
    "  --server-b PATH  in that phase (at the default budget unless --mapped-mib), run the\n"
    "                  loaded store's issuance with this hostca-server build too, alternating\n"
    "                  with --server's run by run (A first in even rounds, B in odd ones):\n"
    "                  a same-run A/B of two builds\n"
    "  --config-b FILE  the same, B being --server-b (default --server) started with\n"
    "                  --config FILE (e.g. [storage] redo_log = false): an A/B of settings\n"
    "  --crash         in that phase (on its own: at the default budget), kill the loaded\n"
    "                  store's server with SIGKILL after each run instead of stopping it, and\n"
    "                  time the next start, which replays the redo log: the report gives the\n"
    "                  transactions replayed and the start's seconds after each server's crash\n"
    "  --reuse DIR     measure the stores an earlier --keep run left in DIR (the directory\n"
    "                  it printed as kept, holding empty/ and loaded/) instead of making and\n"
    "                  loading new ones; --sizes must then name the one size they hold.\n"
    "                  The loaded store is read into the page cache first and keeps the\n"
    "                  certificates this run issues; the empty store is made anew\n"
    "The empty store is made anew (init) before each of its issuance runs after the first.\n";

Result<Options> ParseArgs(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      opts.sizes = {100000};
      opts.requests = 400;
      opts.runs = 3;
      opts.starts = 2;
      opts.report_suffix = "-quick";
    } else if (arg == "--sizes" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(opts.sizes, ParseCounts(argv[++i], "--sizes"));
      opts.report_suffix = "-sizes";
    } else if (arg == "--requests" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(opts.requests, ParseCount(argv[++i], "--requests"));
      opts.report_suffix = "-custom";
    } else if (arg == "--runs" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(const size_t n, ParseCount(argv[++i], "--runs"));
      opts.runs = static_cast<int>(std::min<size_t>(n, 100));
      opts.report_suffix = "-custom";
    } else if (arg == "--queries" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(opts.queries, ParseCount(argv[++i], "--queries"));
    } else if (arg == "--starts" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(const size_t n, ParseCount(argv[++i], "--starts"));
      opts.starts = static_cast<int>(std::min<size_t>(n, 20));
    } else if (arg == "--out" && has_value) {
      opts.out_dir = argv[++i];
    } else if (arg == "--work" && has_value) {
      opts.work_dir = argv[++i];
    } else if (arg == "--keep") {
      opts.keep = true;
    } else if (arg == "--no-profile") {
      opts.profile = false;
    } else if (arg == "--no-compact") {
      opts.compact = false;
    } else if (arg == "--server-b" && has_value) {
      opts.server_b = argv[++i];
    } else if (arg == "--config-b" && has_value) {
      opts.config_b = argv[++i];
    } else if (arg == "--crash") {
      opts.crash = true;
    } else if (arg == "--reuse" && has_value) {
      opts.reuse = argv[++i];
      opts.keep = true;  // never delete what this run did not make
    } else if (arg == "--server" && has_value) {
      opts.server = argv[++i];
    } else if (arg == "--mapped-mib" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(const std::vector<size_t> budgets,
                              ParseCounts(argv[++i], "--mapped-mib"));
      for (const size_t b : budgets) {
        // The server's own bounds (server/options.cpp), checked here so a
        // typo fails before the bulk load, not after it.
        if (b < 16 || b > 1048576) {
          return InvalidArgument("--mapped-mib values must be between 16 and 1048576, not " +
                                 std::to_string(b));
        }
        opts.mapped_mib.push_back(b);
      }
      opts.report_suffix = "-budgets";
    } else {
      return InvalidArgument("unknown or incomplete argument '" + arg + "'");
    }
  }
  if (opts.requests > 100000) {
    return InvalidArgument("--requests must be at most 100000 (the server's uses per token)");
  }
  if (!opts.compact) {
    opts.report_suffix += "-uncompacted";
  }
  if (!opts.reuse.empty()) {
    if (opts.sizes.size() != 1) {
      return InvalidArgument("--reuse measures one size: give --sizes the count it holds");
    }
    for (const char* sub : {"/empty/db", "/loaded/db"}) {
      if (!std::filesystem::is_directory(opts.reuse + sub)) {
        return InvalidArgument("--reuse " + opts.reuse + " has no " + (sub + 1) +
                               ": not a directory a --keep run left");
      }
    }
    opts.report_suffix += "-reused";
  }
  if (!opts.config_b.empty()) {
    if (!FileExists(opts.config_b)) {
      return InvalidArgument("--config-b " + opts.config_b + " does not exist");
    }
    if (!opts.mapped_mib.empty()) {
      return InvalidArgument("--config-b and --mapped-mib both set B's configuration: use one");
    }
    if (opts.server_b.empty()) {
      opts.server_b = opts.server;
    }
  }
  if (!opts.server_b.empty()) {
    if (access(opts.server_b.c_str(), X_OK) != 0) {
      return InvalidArgument("--server-b " + opts.server_b + " is not an executable file");
    }
    opts.report_suffix += "-ab";
  }
  if (opts.crash) {
    opts.report_suffix += "-crash";
  }
  return opts;
}

// du: the blocks the files under `dir` take.
uint64_t DiskUsage(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st {};
    if (lstat(e.path().c_str(), &st) == 0) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs vfs {};
  return statvfs(dir.c_str(), &vfs) == 0 ? static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize : 0;
}

// A GET with the admin token, `n` times on one kept-alive connection; the
// latencies leave the handshake out.
Result<LoadResult> Get(const HostcaServer& s, const Endpoint& endpoint, const std::string& path,
                       size_t n) {
  LoadOptions load;
  load.method = "GET";
  load.path = path;
  load.headers = {{"Authorization", "Bearer " + s.admin_token}};
  load.connections = 1;
  load.include_connect = false;
  HOSTCA_ASSIGN_OR_RETURN(LoadResult res, RunLoad(endpoint, std::vector<std::string>(n), load));
  if (res.failed > 0) {
    return Internal("GET " + path + ": " + std::to_string(res.failed) +
                    " failed; first: " + res.first_failure);
  }
  return res;
}

std::string LoadAverage() {
  auto text = ReadFile("/proc/loadavg");
  if (!text.ok()) {
    return "unknown";
  }
  std::string out;
  int fields = 0;
  for (size_t i = 0; i < text->size() && fields < 3; ++i) {
    if ((*text)[i] == ' ') {
      ++fields;
      if (fields < 3) {
        out += ", ";
      }
    } else {
      out += (*text)[i];
    }
  }
  return out;
}

std::string Pct(double part, double whole) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f%%", whole > 0 ? 100 * part / whole : 0);
  return buf;
}

// Random hex that names this process's tokens and hosts.
const std::string& RunTag() {
  static const std::string tag = HexEncode(RandomBytes(4));
  return tag;
}

// One CA's data directory, its server while it runs and its figures.
struct Store {
  std::string name;  // "empty" or "loaded", in the log
  std::string data_dir, log;
  HostcaServer server;
  StoreRun* run = nullptr;
  X509Ptr ca;
  // The empty store's: the server binary that makes it anew (FreshStore)
  // before each issuance run after its first, so that every run measures an
  // empty store. Until 2026-12-06 it kept each run's certificates and grew
  // by --requests a run: past about 100000 of them (a store larger than
  // the server's 128 MiB page budget) its issuance slowed to below the 10M
  // store's (1423 against 1637 certs/s, 0.94 against 0.74 ms of CPU each,
  // bench/results/scale-2026-12-06-checkpoint-100-ab-10m), and flattered
  // the ratio.
  std::string fresh_binary;
  size_t issued_in_this = 0;  // certificates issued into this store as it is
};

Status StopServer(HostcaServer& server);

// A new CA by `init` in `data_dir`, whatever was there removed.
Status InitAnew(const std::string& binary, const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::remove_all(data_dir, ec);
  if (ec) {
    return Internal("cannot remove " + data_dir + ": " + ec.message());
  }
  return InitHostca(binary, data_dir);
}

// The store's CA certificate, which its issued certificates are checked against.
Status LoadCa(Store& st) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(st.data_dir + "/ca.crt"));
  HOSTCA_ASSIGN_OR_RETURN(st.ca, CertFromPem(ca_pem));
  return Status::Ok();
}

// The empty store anew when it has issued: its server stopped, a new CA
// made by `init` in its data directory, the server started again.
Status FreshStore(Store& st) {
  if (st.fresh_binary.empty() || st.issued_in_this == 0) {
    return Status::Ok();
  }
  HOSTCA_RETURN_IF_ERROR(StopServer(st.server));
  HOSTCA_RETURN_IF_ERROR(InitAnew(st.fresh_binary, st.data_dir));
  HOSTCA_ASSIGN_OR_RETURN(st.server, StartHostca(st.fresh_binary, st.data_dir, st.log));
  HOSTCA_RETURN_IF_ERROR(LoadCa(st));
  st.issued_in_this = 0;
  return Status::Ok();
}

Status StopServer(HostcaServer& server) {
  if (const int code = server.process->Stop(std::chrono::seconds(60)); code != 0) {
    return Internal("hostca-server did not exit cleanly on SIGTERM (exit " + std::to_string(code) +
                    "): " + server.process->LogTail(2000));
  }
  return Status::Ok();
}

// `starts` timed starts of the server; it stays up after the last.
Status StartTimed(const Options& opts, Store& st, int starts) {
  for (int i = 0; i < starts; ++i) {
    if (i > 0) {
      HOSTCA_RETURN_IF_ERROR(StopServer(st.server));
    }
    HOSTCA_ASSIGN_OR_RETURN(
        st.server, StartHostca(opts.server, st.data_dir, st.log, std::chrono::seconds(600)));
    st.run->start_seconds.push_back(st.server.start_seconds);
    st.run->port_seconds.push_back(st.server.port_seconds);
    std::fprintf(stderr,
                 "   %s: start %d, /healthz 200 after %.3f s (port in the log after %.3f s)\n",
                 st.name.c_str(), i + 1, st.server.start_seconds, st.server.port_seconds);
  }
  return LoadCa(st);
}

// The inventory query: one untimed first, then the timed ones.
Status Query(const Options& opts, Store& st) {
  StoreRun* run = st.run;
  const std::string expires =
      FormatRfc3339(SystemClock::Instance().NowSeconds() + kQueryWindowSeconds);
  const std::string query =
      "/v1/certs?expires_before=" + expires + "&limit=" + std::to_string(kQueryLimit);
  HOSTCA_ASSIGN_OR_RETURN(LoadResult first, Get(st.server, st.server.endpoint, query, 1));
  run->first_query_seconds = first.latencies.front();
  HOSTCA_ASSIGN_OR_RETURN(LoadResult queries,
                          Get(st.server, st.server.endpoint, query, opts.queries));
  run->query_seconds = queries.latencies;
  const auto answer = nlohmann::json::parse(queries.sample_body, nullptr, false);
  if (answer.is_discarded() || !answer.contains("certificates") ||
      !answer["certificates"].is_array()) {
    return Internal("GET /v1/certs: unexpected answer " + queries.sample_body.substr(0, 300));
  }
  run->query_results = answer["certificates"].size();
  std::fprintf(
      stderr, "   %s: inventory query first %.1f ms, p50 %.1f ms, p99 %.1f ms, %zu results\n",
      st.name.c_str(), run->first_query_seconds * 1000, Quantile(run->query_seconds, 0.5) * 1000,
      Quantile(run->query_seconds, 0.99) * 1000, run->query_results);
  return Status::Ok();
}

// One issuance run: keep-alive at kConnections connections, a token for the
// run, host names never used before. Sets *der to one issued certificate
// when it is empty.
Result<LoadResult> Issue(Store& st, const std::vector<std::string>& csrs, size_t* next_host,
                         const LoadOptions& load, std::string* der) {
  // Names of this process's own (RunTag), so a store reused from an earlier
  // run (--reuse) holds none of them yet.
  HOSTCA_ASSIGN_OR_RETURN(
      const std::string token,
      CreateToken(st.server, "scale-" + RunTag() + "-run-" + std::to_string(*next_host),
                  csrs.size()));
  const std::vector<std::string> bodies =
      EnrollBodies(csrs, token, "scale-" + RunTag() + "-", next_host);
  HOSTCA_ASSIGN_OR_RETURN(LoadResult res, RunLoad(st.server.endpoint, bodies, load));
  if (res.ok == 0) {
    return Internal(st.name + " issuance: every request failed; first: " + res.first_failure);
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, JsonString(res.sample_body, {"certificate"}));
  HOSTCA_RETURN_IF_ERROR(CheckIssued(pem, st.ca.get()).WithContext(st.name + " issuance"));
  if (der != nullptr && der->empty()) {
    HOSTCA_ASSIGN_OR_RETURN(X509Ptr cert, CertFromPem(pem));
    HOSTCA_ASSIGN_OR_RETURN(*der, CertToDer(cert.get()));
  }
  return res;
}

// The issuance runs' load: POST /v1/enroll, keep-alive, kConnections.
LoadOptions EnrollLoad() {
  LoadOptions load;
  load.path = "/v1/enroll";
  load.expect_status = 201;
  load.body_must_contain = "\"certificate\"";
  load.connections = kConnections;
  load.mode = ConnectionMode::kKeepAlive;
  // The runs' CPU and store readings are taken before Issue() creates the
  // run's token, so the connections' handshakes stay timed, as they are for
  // the empty store the loaded ones are compared with.
  load.open_before_start = false;
  return load;
}

Status IssuanceRun(Store& st, const std::vector<std::string>& csrs, size_t* next_host, int r) {
  HOSTCA_RETURN_IF_ERROR(FreshStore(st));
  StoreRun* run = st.run;
  const LoadOptions load = EnrollLoad();
  const pid_t pid = st.server.process->pid();
  HOSTCA_ASSIGN_OR_RETURN(const ProcessStat before, ReadProcessStat(pid));
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t dirtied_before, ProcessWriteBytes(pid));
  HOSTCA_ASSIGN_OR_RETURN(const StoreCounters writer_before, ReadStoreCounters(st.server));
  HOSTCA_ASSIGN_OR_RETURN(LoadResult res, Issue(st, csrs, next_host, load, nullptr));
  st.issued_in_this += res.ok;
  HOSTCA_ASSIGN_OR_RETURN(const StoreCounters writer_after, ReadStoreCounters(st.server));
  HOSTCA_ASSIGN_OR_RETURN(const ProcessStat after, ReadProcessStat(pid));
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t dirtied_after, ProcessWriteBytes(pid));
  const double ok = static_cast<double>(res.ok);
  run->issuance_rates.push_back(res.seconds > 0 ? ok / res.seconds : 0);
  run->issuance_p50.push_back(Quantile(res.latencies, 0.5));
  run->issuance_p99.push_back(Quantile(res.latencies, 0.99));
  run->server_cpu_per_cert.push_back((after.cpu_seconds - before.cpu_seconds) / ok);
  run->faults_per_cert.push_back(static_cast<double>(after.minor_faults - before.minor_faults) /
                                 ok);
  run->dirtied_per_cert.push_back(static_cast<double>(dirtied_after - dirtied_before) / ok);
  // The run's token is one more commit of one write among about --requests.
  const WriterFigures writer = WriterBetween(writer_before, writer_after);
  run->writes_per_commit.push_back(writer.writes_per_commit);
  run->commit_seconds.push_back(writer.commit_seconds);
  run->apply_seconds_per_write.push_back(writer.apply_seconds_per_write);
  run->log_seconds.push_back(writer.log_seconds);
  run->checkpoints.push_back(writer.checkpoints);
  run->checkpoint_seconds.push_back(writer.checkpoint_seconds);
  run->issued += res.ok;
  run->issue_failures += res.failed;
  std::fprintf(
      stderr,
      "   %s: issuance run %d, %.0f certs/s, p50 %.1f ms, p99 %.1f ms, max %.0f ms, server CPU "
      "%.2f "
      "ms/cert, %.1f page faults/cert, %.0f KiB of page cache dirtied/cert, %.1f writes/commit, "
      "commit %.2f ms (log %.2f ms), %.0f checkpoints of %.1f ms, writes run %.0f us/write, %zu "
      "failed%s%s\n",
      st.name.c_str(), r + 1, run->issuance_rates.back(), run->issuance_p50.back() * 1000,
      run->issuance_p99.back() * 1000, res.latencies.empty() ? 0.0 : res.latencies.back() * 1000,
      run->server_cpu_per_cert.back() * 1000, run->faults_per_cert.back(),
      run->dirtied_per_cert.back() / 1024, run->writes_per_commit.back(),
      run->commit_seconds.back() * 1000, run->log_seconds.back() * 1000, run->checkpoints.back(),
      run->checkpoint_seconds.back() * 1000, run->apply_seconds_per_write.back() * 1e6, res.failed,
      res.failed > 0 ? "; first: " : "",
      res.failed > 0 ? res.first_failure.substr(0, 200).c_str() : "");
  return Status::Ok();
}

// One more issuance run under perf record, of at least kProfileRequests
// requests (the CSRs repeat, the host names do not): a few thousand samples
// whatever --requests is.
constexpr size_t kProfileRequests = 4000;
Status ProfileRun(Store& st, const std::vector<std::string>& csrs, size_t* next_host,
                  const std::string& dir, bool keep_data, Profile* out) {
  HOSTCA_RETURN_IF_ERROR(FreshStore(st));
  auto perf = PerfRecording::Start(st.server.process->pid(), dir + "/perf-" + st.name + ".data");
  if (!perf.ok()) {
    out->not_taken = "perf could not be started (scripts/bench installs linux-perf): " +
                     perf.status().ToString();
    return Status::Ok();
  }
  for (size_t done = 0; done < kProfileRequests; done += csrs.size()) {
    HOSTCA_ASSIGN_OR_RETURN(const LoadResult res,
                            Issue(st, csrs, next_host, EnrollLoad(), nullptr));
    st.issued_in_this += res.ok;
  }
  HOSTCA_ASSIGN_OR_RETURN(
      *out, (*perf)->Finish(st.name + " keep-alive C=" + std::to_string(kConnections)));
  if (!keep_data) {
    std::error_code ec;
    std::filesystem::remove(dir + "/perf-" + st.name + ".data", ec);
  }
  std::fprintf(stderr, "   %s: profile %s\n", st.name.c_str(),
               out->not_taken.empty() ? out->samples.c_str() : out->not_taken.c_str());
  return Status::Ok();
}

// Runs `time(file)` on each store's data.mdb (its server stopped): true
// with the results in `*e` and `*l`; false with why in `*error`, which the
// report shows as a note (the run goes on), and a line on stderr naming
// `what`.
template <typename T, typename Fn>
bool TimeBothStores(const Store& empty, const Store& loaded, const char* what, Fn time, T* e, T* l,
                    std::string* error) {
  Result<T> er = time(empty.data_dir + "/db/data.mdb");
  Result<T> lr = time(loaded.data_dir + "/db/data.mdb");
  if (!er.ok() || !lr.ok()) {
    *error = (!er.ok() ? er.status() : lr.status()).ToString();
    std::fprintf(stderr, "   %s: not timed: %s\n", what, error->c_str());
    return false;
  }
  *e = *er;
  *l = *lr;
  return true;
}

// The disk under the commits: fdatasync of as many pages as the loaded
// store's commits wrote (writes per commit x page cache dirtied per write),
// scattered over each store's file and in one run, on the stopped servers'
// files. A failure is a note in the report, not the end of the run.
constexpr size_t kSyncSamples = 50;
void TimeDisk(const Store& empty, const Store& loaded, ScaleSize* size) {
  const double bytes =
      Median(size->loaded.writes_per_commit) * Median(size->loaded.dirtied_per_cert);
  const size_t pages = std::max<size_t>(1, static_cast<size_t>(bytes / 4096 + 0.5));
  if (!TimeBothStores(
          empty, loaded, "disk",
          [pages](const std::string& file) { return TimePageSyncs(file, pages, kSyncSamples); },
          &size->empty_sync, &size->loaded_sync, &size->sync_error)) {
    return;
  }
  const SyncTiming* e = &size->empty_sync;
  const SyncTiming* l = &size->loaded_sync;
  std::fprintf(stderr,
               "   disk: fdatasync of %zu pages: %.2f ms scattered over the empty store's %.0f "
               "MiB, %.2f ms over the loaded store's %.0f MiB, %.2f ms in one run\n",
               pages, e->scattered_seconds * 1000, e->span_bytes / 1048576,
               l->scattered_seconds * 1000, l->span_bytes / 1048576, l->contiguous_seconds * 1000);
}

// What a page the server has not mapped costs to read, through a map and
// with pread, in each store's file (bench/disk_sync.h). A failure is a note.
constexpr size_t kReadSamples = 4000;
void TimeReads(const Store& empty, const Store& loaded, ScaleSize* size) {
  if (!TimeBothStores(
          empty, loaded, "page reads",
          [](const std::string& file) { return TimePageReads(file, kReadSamples); },
          &size->empty_reads, &size->loaded_reads, &size->read_error)) {
    return;
  }
  const ReadTiming* e = &size->empty_reads;
  const ReadTiming* l = &size->loaded_reads;
  std::fprintf(stderr,
               "   page reads: a first touch in a map %.1f us (pread %.1f us, mapped ahead "
               "%.1f + %.1f us) over the empty store's %.0f MiB, %.1f us (pread %.1f us, "
               "mapped ahead %.1f + %.1f us) over the loaded store's %.0f MiB\n",
               e->fault_seconds * 1e6, e->pread_seconds * 1e6, e->populate_seconds * 1e6,
               e->touch_populated_seconds * 1e6, e->span_bytes / 1048576, l->fault_seconds * 1e6,
               l->pread_seconds * 1e6, l->populate_seconds * 1e6, l->touch_populated_seconds * 1e6,
               l->span_bytes / 1048576);
}

// /healthz and /metrics (memory before and after), then stops the server
// and measures the store.
Status Finish(const Options& opts, Store& st) {
  StoreRun* run = st.run;
  const pid_t pid = st.server.process->pid();
  HOSTCA_ASSIGN_OR_RETURN(LoadResult health,
                          Get(st.server, st.server.endpoint, "/healthz", kHealthzSamples));
  run->healthz_seconds = health.latencies;
  // /metrics may walk the store: give it time.
  Endpoint slow = st.server.endpoint;
  slow.timeout = std::chrono::seconds(600);
  HOSTCA_ASSIGN_OR_RETURN(LoadResult metrics,
                          Get(st.server, slow, "/metrics", opts.metrics_samples));
  run->metrics_seconds = metrics.latencies;
  HOSTCA_ASSIGN_OR_RETURN(run->memory_after_metrics, ReadProcessMemory(pid));
  if (auto stored = MetricValue(metrics.sample_body, "hostca_store_certificates"); stored.ok()) {
    const auto now_stored = static_cast<size_t>(*stored);  // before this store's issuance runs:
    run->stored = now_stored >= st.issued_in_this ? now_stored - st.issued_in_this : now_stored;
  }
  std::fprintf(stderr,
               "   %s: VmRSS %.1f MiB (anon %.1f, file %.1f), VmHWM %.1f MiB; /healthz p50 %.2f "
               "ms; /metrics p50 %.1f ms, then VmHWM %.1f MiB\n",
               st.name.c_str(), static_cast<double>(run->memory.vm_rss) / 1048576,
               static_cast<double>(run->memory.rss_anon) / 1048576,
               static_cast<double>(run->memory.rss_file) / 1048576,
               static_cast<double>(run->memory.vm_hwm) / 1048576,
               Quantile(run->healthz_seconds, 0.5) * 1000,
               Quantile(run->metrics_seconds, 0.5) * 1000,
               static_cast<double>(run->memory_after_metrics.vm_hwm) / 1048576);
  HOSTCA_RETURN_IF_ERROR(StopServer(st.server));
  run->db_disk_bytes = DiskUsage(st.data_dir + "/db");
  std::error_code ec;
  run->data_mdb_bytes = std::filesystem::file_size(st.data_dir + "/db/data.mdb", ec);
  return Status::Ok();
}

// --mapped-mib: the loaded store's issuance at each storage.mapped_mib, a
// server started with that budget for each run (two servers cannot share
// a store), alternating with runs of the empty store's server. Runs after
// both servers of the main phase stopped, so its figures stay as they are.
Status MeasureBudgets(const Options& opts, const std::string& dir, Store& empty, Store& loaded,
                      const std::vector<std::string>& csrs, size_t* next_host, ScaleSize* size) {
  // Each budget (0: the default, no config file), with each build.
  std::vector<uint64_t> mibs = opts.mapped_mib;
  if (mibs.empty()) {
    mibs.push_back(0);
  }
  std::vector<std::pair<std::string, std::string>> servers = {
      {opts.server_b.empty() ? "" : "A", opts.server}};
  if (!opts.server_b.empty()) {
    servers.emplace_back("B", opts.server_b);
  }
  std::vector<std::vector<std::string>> args;
  std::vector<std::string> paths;
  for (const uint64_t mib : mibs) {
    std::vector<std::string> config;
    if (mib != 0) {
      const std::string file = dir + "/mapped-" + std::to_string(mib) + ".toml";
      HOSTCA_RETURN_IF_ERROR(
          WriteFileAtomic(file, "[storage]\nmapped_mib = " + std::to_string(mib) + "\n", 0600));
      config = {"--config", file};
    }
    for (const auto& [label, path] : servers) {
      BudgetRun b;
      b.mapped_mib = mib;
      b.server = label;
      size->budgets.push_back(std::move(b));
      args.push_back(label == "B" && !opts.config_b.empty()
                         ? std::vector<std::string>{"--config", opts.config_b}
                         : config);
      paths.push_back(path);
    }
  }
  std::fprintf(stderr, "== %zu: the loaded store at storage.mapped_mib", size->certificates);
  for (const uint64_t mib : mibs) {
    std::fprintf(stderr, " %s", mib == 0 ? "default" : std::to_string(mib).c_str());
  }
  if (!opts.server_b.empty()) {
    std::fprintf(stderr, ", server A %s and B %s%s%s", opts.server.c_str(), opts.server_b.c_str(),
                 opts.config_b.empty() ? "" : " --config ", opts.config_b.c_str());
  }
  std::fprintf(stderr, "\n");
  // --crash: the budget whose server was killed last. The next start of the
  // loaded store replays what that server's redo log held; its figures go
  // to the killed server's budget.
  std::optional<size_t> crashed;
  auto start_loaded = [&](size_t i) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(loaded.server, StartHostca(paths[i], loaded.data_dir, loaded.log,
                                                       std::chrono::seconds(600), args[i]));
    if (!crashed) {
      return Status::Ok();
    }
    HOSTCA_ASSIGN_OR_RETURN(const LoadResult m,
                            Get(loaded.server, loaded.server.endpoint, "/metrics", 1));
    HOSTCA_ASSIGN_OR_RETURN(const double replayed,
                            MetricValue(m.sample_body, "hostca_store_replayed_transactions"));
    BudgetRun& c = size->budgets[*crashed];
    c.crash_replayed.push_back(replayed);
    c.crash_start_seconds.push_back(loaded.server.start_seconds);
    std::fprintf(stderr,
                 "   after a crash of the run before: replayed %.0f transactions, /healthz 200 "
                 "after %.3f s\n",
                 replayed, loaded.server.start_seconds);
    crashed.reset();
    return Status::Ok();
  };
  HOSTCA_ASSIGN_OR_RETURN(empty.server, StartHostca(opts.server, empty.data_dir, empty.log));
  empty.run = &size->empty_beside_budgets;
  empty.name = "empty";
  for (int r = 0; r < opts.runs; ++r) {
    HOSTCA_RETURN_IF_ERROR(IssuanceRun(empty, csrs, next_host, r));
    // In the order given in even rounds and reversed in odd ones: the run
    // right after the empty store's fared worse (at 10M a build ran at 0.56
    // of the empty store in that slot against 0.70 for the other, and at
    // 0.68 against 0.67 with the slots swapped, 2026-12-03).
    for (size_t k = 0; k < size->budgets.size(); ++k) {
      const size_t i = r % 2 == 0 ? k : size->budgets.size() - 1 - k;
      BudgetRun& b = size->budgets[i];
      loaded.name = "loaded, mapped_mib " +
                    (b.mapped_mib == 0 ? std::string("default") : std::to_string(b.mapped_mib)) +
                    (b.server.empty() ? "" : ", server " + b.server);
      loaded.run = &b.run;
      HOSTCA_RETURN_IF_ERROR(start_loaded(i));
      HOSTCA_RETURN_IF_ERROR(IssuanceRun(loaded, csrs, next_host, r));
      HOSTCA_ASSIGN_OR_RETURN(const ProcessMemory mem,
                              ReadProcessMemory(loaded.server.process->pid()));
      b.vm_rss_bytes.push_back(mem.vm_rss);
      if (opts.crash) {
        loaded.server.process.reset();  // SIGKILL, reaped
        crashed = i;
      } else {
        HOSTCA_RETURN_IF_ERROR(StopServer(loaded.server));
      }
    }
  }
  if (crashed) {  // the last crash's replay, by the first server; then a clean stop
    HOSTCA_RETURN_IF_ERROR(start_loaded(0));
    HOSTCA_RETURN_IF_ERROR(StopServer(loaded.server));
  }
  return StopServer(empty.server);
}

Status MeasureStores(const Options& opts, const std::string& dir, Store& empty, Store& loaded,
                     const std::vector<std::string>& csrs, size_t* next, ScaleSize* size);

// Two CAs: one stays empty, the other gets the N records. Both servers then
// run side by side and their issuance runs alternate, so a change in the
// machine's load touches both alike.
Status MeasureSize(const Options& opts, const std::string& dir,
                   const std::vector<std::string>& csrs, ScaleSize* size) {
  const bool reuse = !opts.reuse.empty();
  Store empty{"empty", dir + "/empty", dir + "/empty.log", {}, &size->empty, nullptr, opts.server};
  Store loaded{"loaded", dir + "/loaded", dir + "/loaded.log", {}, &size->loaded, nullptr, ""};
  std::fprintf(stderr, "== %zu certificates (%s%s)\n", size->certificates, dir.c_str(),
               reuse ? ", reused" : "");
  size_t next_host = 0;
  if (reuse) {
    size->reused = true;
    // The kept empty store holds the issuance runs of the run that kept it.
    HOSTCA_RETURN_IF_ERROR(InitAnew(opts.server, empty.data_dir));
    // As the loader leaves a store it made: cached, one small folio a page.
    const auto warm_start = std::chrono::steady_clock::now();
    HOSTCA_ASSIGN_OR_RETURN(const uint64_t bytes,
                            CacheInSmallFolios(loaded.data_dir + "/db/data.mdb"));
    std::fprintf(
        stderr, "   loaded: %.0f MiB of data.mdb read into the page cache in %.1f s\n",
        static_cast<double>(bytes) / 1048576,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - warm_start).count());
    return MeasureStores(opts, dir, empty, loaded, csrs, &next_host, size);
  }
  HOSTCA_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  HOSTCA_RETURN_IF_ERROR(InitHostca(opts.server, empty.data_dir));
  HOSTCA_RETURN_IF_ERROR(InitHostca(opts.server, loaded.data_dir));
  // One real certificate of the loaded CA, for the records' DER.
  std::string der;
  HOSTCA_RETURN_IF_ERROR(StartTimed(opts, loaded, 1));
  LoadOptions one;
  one.path = "/v1/enroll";
  one.expect_status = 201;
  one.body_must_contain = "\"certificate\"";
  HOSTCA_RETURN_IF_ERROR(
      Issue(loaded, {csrs.front()}, &next_host, one, &der).status().WithContext("setup"));
  HOSTCA_RETURN_IF_ERROR(StopServer(loaded.server));
  size->loaded.start_seconds.clear();
  size->loaded.port_seconds.clear();
  std::fprintf(stderr, "== bulk load of %zu certificates and hosts (%zu-byte DER each)\n",
               size->certificates, der.size());
  BulkLoadOptions load;
  load.db_path = loaded.data_dir + "/db";
  load.certificates = size->certificates;
  load.der = der;
  load.now = SystemClock::Instance().NowSeconds();
  load.compact = opts.compact;
  HOSTCA_ASSIGN_OR_RETURN(size->load, BulkLoad(load));
  return MeasureStores(opts, dir, empty, loaded, csrs, &next_host, size);
}

// Everything measured of the two stores once they hold their records.
Status MeasureStores(const Options& opts, const std::string& dir, Store& empty, Store& loaded,
                     const std::vector<std::string>& csrs, size_t* next, ScaleSize* size) {
  size_t& next_host = *next;
  HOSTCA_RETURN_IF_ERROR(StartTimed(opts, empty, opts.starts));
  HOSTCA_RETURN_IF_ERROR(StartTimed(opts, loaded, opts.starts));
  HOSTCA_RETURN_IF_ERROR(Query(opts, empty));
  HOSTCA_RETURN_IF_ERROR(Query(opts, loaded));
  for (int r = 0; r < opts.runs; ++r) {
    HOSTCA_RETURN_IF_ERROR(IssuanceRun(empty, csrs, &next_host, r));
    HOSTCA_RETURN_IF_ERROR(IssuanceRun(loaded, csrs, &next_host, r));
  }
  HOSTCA_ASSIGN_OR_RETURN(size->empty.memory, ReadProcessMemory(empty.server.process->pid()));
  HOSTCA_ASSIGN_OR_RETURN(size->loaded.memory, ReadProcessMemory(loaded.server.process->pid()));
  // Idle for longer than the server's 1 s page-release tick.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  HOSTCA_ASSIGN_OR_RETURN(size->empty.memory_idle, ReadProcessMemory(empty.server.process->pid()));
  HOSTCA_ASSIGN_OR_RETURN(size->loaded.memory_idle,
                          ReadProcessMemory(loaded.server.process->pid()));
  if (opts.profile) {
    HOSTCA_RETURN_IF_ERROR(
        ProfileRun(empty, csrs, &next_host, dir, opts.keep, &size->empty_profile));
    HOSTCA_RETURN_IF_ERROR(
        ProfileRun(loaded, csrs, &next_host, dir, opts.keep, &size->loaded_profile));
  }
  HOSTCA_RETURN_IF_ERROR(Finish(opts, empty));
  HOSTCA_RETURN_IF_ERROR(Finish(opts, loaded));
  TimeDisk(empty, loaded, size);
  TimeReads(empty, loaded, size);
  if (!opts.mapped_mib.empty() || !opts.server_b.empty() || opts.crash) {
    HOSTCA_RETURN_IF_ERROR(MeasureBudgets(opts, dir, empty, loaded, csrs, &next_host, size));
  }
  return Status::Ok();
}

Status Run(const Options& opts, ScaleResults* results) {
  const std::string work_root = opts.work_dir.empty() ? opts.out_dir + "/tmp" : opts.work_dir;
  HOSTCA_RETURN_IF_ERROR(MakeDirs(work_root, 0700));
  const std::string run_dir = work_root + "/scale-" + HexEncode(RandomBytes(6));
  std::unique_ptr<ScratchDir> scratch;
  if (!opts.keep) {
    scratch = std::make_unique<ScratchDir>(run_dir);
  }
  if (opts.reuse.empty()) {
    HOSTCA_RETURN_IF_ERROR(MakeDirs(run_dir, 0700));
  }
  std::fprintf(stderr, "== %zu P-256 CSRs\n", opts.requests);
  HOSTCA_ASSIGN_OR_RETURN(const std::vector<std::string> csrs, MakeCsrs(opts.requests));

  double bytes_per_cert = kDefaultBytesPerCert;
  for (const size_t n : opts.sizes) {
    ScaleSize size;
    size.certificates = n;
    // The compaction writes a second copy of the store before the first
    // goes.
    const double copies = opts.compact ? 2.2 : 1.2;
    const uint64_t need =
        static_cast<uint64_t>(bytes_per_cert * copies * static_cast<double>(n)) + kDiskMargin;
    const uint64_t free = FreeBytes(work_root);
    if (opts.reuse.empty() && free < need) {
      size.skipped = true;
      size.skip_reason = "not enough disk in " + work_root + ": " + std::to_string(free >> 20) +
                         " MiB free, about " + std::to_string(need >> 20) + " MiB needed";
      std::fprintf(stderr, "== %zu certificates skipped: %s\n", n, size.skip_reason.c_str());
      results->notes.push_back(std::to_string(n) + " certificates skipped: " + size.skip_reason +
                               ".");
      results->sizes.push_back(std::move(size));
      continue;
    }
    const std::string dir = opts.reuse.empty() ? run_dir + "/n" + std::to_string(n) : opts.reuse;
    HOSTCA_RETURN_IF_ERROR(MeasureSize(opts, dir, csrs, &size));
    if (size.loaded.db_disk_bytes > 0) {
      bytes_per_cert = static_cast<double>(size.loaded.db_disk_bytes) / static_cast<double>(n);
    }
    const ScaleSize& s = size;
    std::fprintf(stderr,
                 "== %zu: issuance %.0f vs %.0f certs/s empty (%s), query p50 %.1f ms, start "
                 "%.3f s, VmRSS %.1f MiB\n",
                 n, Median(s.loaded.issuance_rates), Median(s.empty.issuance_rates),
                 Pct(Median(s.loaded.issuance_rates), Median(s.empty.issuance_rates)).c_str(),
                 Quantile(s.loaded.query_seconds, 0.5) * 1000, Median(s.loaded.start_seconds),
                 static_cast<double>(s.loaded.memory.vm_rss) / 1048576);
    if (!opts.keep) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    } else {
      std::fprintf(stderr, "   kept %s (hostca-server serve --data %s/data)\n", dir.c_str(),
                   dir.c_str());
    }
    results->sizes.push_back(std::move(size));
  }
  results->notes.push_back(
      "Load average (1, 5, 15 min) at the end: " + LoadAverage() + " on " +
      std::to_string(results->env.nproc) +
      " CPUs; the empty and the loaded store's issuance runs alternate, so load from elsewhere "
      "touches both alike.");
  if (!opts.reuse.empty()) {
    results->notes.push_back(
        "The stores were those an earlier run left (--reuse " + opts.reuse +
        "): not loaded in this run, so no load figures; the loaded store also "
        "holds the certificates the earlier runs issued, and was read into the "
        "page cache as the loader leaves it; the empty store was made anew.");
  }
  results->notes.push_back(
      "Each size's records: a certificate and a host per record (UUID v4 host ID, one hostname), "
      "a random 16-byte serial, one real certificate's DER (issued by the same CA "
      "before loading), notAfter uniform over the next 365 days, about 1% revoked (keyCompromise, "
      "superseded, cessationOfOperation), written with the bulk loader (bench/bulk_load.cpp)" +
      std::string(opts.compact
                      ? ", which then replaces the store with a compacted copy, as `restore` "
                        "writes one: its large commits left tens of thousands of free pages, "
                        "which a store filled by issuance does not have (bench/README.md)."
                      : "; not compacted (--no-compact): the free pages its large commits left "
                        "stay (bench/README.md)."));
  results->notes.push_back(
      std::string(opts.compact ? "Warm page cache: the loader reads the compacted copy back 4 KB "
                                 "at a time, as the server's reads would cache it"
                               : "Warm page cache: the loader syncs the store to disk but its "
                                 "pages stay in the page cache") +
      " (the machine has the memory), so start-up and queries read memory, not the disk. A start "
      "after a reboot reads what it touches from disk.");
  results->notes.push_back(
      "RssFile counts the pages of the LMDB map (and of the binary) the server has touched: they "
      "are the page cache, shared and reclaimable, not the server's own memory (RssAnon).");
  std::error_code ec;
  if (!opts.keep) {
    std::filesystem::remove_all(run_dir, ec);
    std::filesystem::remove(work_root, ec);  // only when empty
  }
  return Status::Ok();
}

int Main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  ReportBrokenPipesAsErrors();
  auto opts = ParseArgs(argc, argv);
  if (!opts.ok()) {
    std::fprintf(stderr, "scale_bench: %s\n%s", opts.status().message().c_str(), kUsage);
    return 2;
  }
  ScaleResults results;
  results.env = RunEnvironment(HOSTCA_SOURCE_DIR, "scale_bench", argc, argv);
  results.requests_per_run = opts->requests;
  results.connections = kConnections;
  results.query_limit = kQueryLimit;
  results.query_window_seconds = kQueryWindowSeconds;
  if (Status st = Run(*opts, &results); !st.ok()) {
    std::fprintf(stderr, "scale_bench: %s\n", st.ToString().c_str());
    return 1;
  }
  return PrintAndWriteReports("scale_bench", opts->out_dir, "scale", results.env,
                              opts->report_suffix, ScaleTextTable(results),
                              ScaleMarkdownReport(results), ScaleJsonReport(results));
}

}  // namespace
}  // namespace hostca::bench

int main(int argc, char** argv) { return hostca::bench::Main(argc, argv); }
