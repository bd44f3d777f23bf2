// issuance_bench: certificates per second, latency and server CPU per
// certificate of a real `hostca-server` under POST /v1/enroll load, next to
// the signature limit of the machine, `cfssl serve` (without and with its
// SQLite certificate database) and `openssl ca`. Usage and how to read the
// figures: bench/README.md.
//
//   issuance_bench [--quick] [--requests N] [--connections 1,8,64] [--runs N]
//                  [--out DIR] [--server PATH] [--no-cfssl]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/baselines.h"
#include "bench/hostca_server.h"
#include "bench/instructions.h"
#include "bench/issuance_report.h"
#include "bench/loadgen.h"
#include "bench/process.h"
#include "bench/profile.h"
#include "bench/report.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::bench {
namespace {

constexpr size_t kMaxTokenUses = 100000;  // the server's limit per token

struct Options {
  size_t requests = 1000;  // per run and load shape
  std::vector<int> connections = {1, 8, 64};
  int runs = 3;
  size_t openssl_ca_certs = 200;
  std::string server_config;  // --config FILE for hostca-server serve
  int speed_seconds = 3;
  bool cfssl = true;
  bool profile = true;          // a perf profile of one more keep-alive run
  int profile_connections = 8;  // its connections
  // callgrind's instruction count of one more keep-alive run (requests)
  bool instructions = true;
  size_t instruction_requests = 400;
  std::string callgrind_copy;  // where to keep the server's callgrind output ("" = nowhere)
  std::string out_dir = HOSTCA_SOURCE_DIR "/bench/results";
  std::string server = HOSTCA_BINARY_DIR "/bin/hostca-server";
  std::string report_suffix;  // in the report's file name: "" for the default counts
  // Keep-alive runs time their connections' first handshakes too (before
  // 2026-12-07 they all did); the default opens them before the clock.
  bool cold_keep_alive = false;
};

constexpr char kUsage[] =
    "usage: issuance_bench [--quick] [--requests N] [--connections LIST] [--runs N]\n"
    "                      [--out DIR] [--server PATH] [--server-config F] [--no-cfssl]\n"
    "                      [--no-profile] [--no-instructions] [--callgrind-out F]\n"
    "                      [--cold-keep-alive] [--profile-connections N]\n"
    "  --quick             100 requests per run, 30 `openssl ca` certificates, 1 s\n"
    "                      `openssl speed` (default: 1000, 200, 3 s)\n"
    "  --requests N        requests per run and load shape\n"
    "  --connections LIST  comma-separated concurrent connections (default: 1,8,64)\n"
    "  --runs N            runs per load shape (default: 3)\n"
    "  --out DIR           where the Markdown and JSON reports go (default: bench/results)\n"
    "  --server PATH       the hostca-server binary (default: the one built beside this one)\n"
    "  --server-config F   start hostca-server with --config F (e.g. [storage] redo_log = false)\n"
    "  --no-cfssl          skip the cfssl baselines\n"
    "  --no-profile        skip the perf profile of the server (one more keep-alive run,\n"
    "                      8 connections, under `perf record`)\n"
    "  --profile-connections N  that run's connections (default 8; 64: where the CPU,\n"
    "                      not the commit's wait, is the limit)\n"
    "  --no-instructions   skip the instruction count (one more keep-alive run, 8\n"
    "                      connections, of a server under valgrind --tool=callgrind)\n"
    "  --callgrind-out F   keep that server's callgrind output in F (callgrind_annotate F)\n"
    "  --cold-keep-alive   time keep-alive runs from before their connections open, so\n"
    "                      their first TLS handshakes count (default: opened, then timed)\n";

Result<std::vector<int>> ParseConnections(const std::string& list) {
  HOSTCA_ASSIGN_OR_RETURN(const std::vector<size_t> counts,
                          ParseCounts(list, "--connections", 1000));
  return std::vector<int>(counts.begin(), counts.end());
}

Result<Options> ParseArgs(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      opts.requests = 100;
      opts.openssl_ca_certs = 30;
      opts.speed_seconds = 1;
      opts.instruction_requests = 100;
      opts.report_suffix = "-quick";
    } else if (arg == "--requests" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(opts.requests, ParseCount(argv[++i], "--requests"));
      opts.report_suffix = "-custom";
    } else if (arg == "--connections" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(opts.connections, ParseConnections(argv[++i]));
      opts.report_suffix = "-custom";
    } else if (arg == "--runs" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(const size_t runs, ParseCount(argv[++i], "--runs"));
      opts.runs = static_cast<int>(std::min<size_t>(runs, 100));
      opts.report_suffix = "-custom";
    } else if (arg == "--out" && has_value) {
      opts.out_dir = argv[++i];
    } else if (arg == "--server" && has_value) {
      opts.server = argv[++i];
    } else if (arg == "--server-config" && has_value) {
      opts.server_config = argv[++i];
      if (!FileExists(opts.server_config)) {
        return InvalidArgument("--server-config " + opts.server_config + " does not exist");
      }
      opts.report_suffix = "-custom";
    } else if (arg == "--no-cfssl") {
      opts.cfssl = false;
    } else if (arg == "--no-profile") {
      opts.profile = false;
    } else if (arg == "--no-instructions") {
      opts.instructions = false;
    } else if (arg == "--callgrind-out" && has_value) {
      opts.callgrind_copy = argv[++i];
    } else if (arg == "--profile-connections" && has_value) {
      HOSTCA_ASSIGN_OR_RETURN(const size_t c, ParseCount(argv[++i], "--profile-connections"));
      if (c < 1 || c > 1000) {
        return InvalidArgument("--profile-connections must be 1 to 1000");
      }
      opts.profile_connections = static_cast<int>(c);
      opts.report_suffix = "-custom";
    } else if (arg == "--cold-keep-alive") {
      opts.cold_keep_alive = true;
      opts.report_suffix = "-custom";
    } else {
      return InvalidArgument("unknown or incomplete argument '" + arg + "'");
    }
  }
  if (opts.requests > kMaxTokenUses) {
    return InvalidArgument("--requests must be at most " + std::to_string(kMaxTokenUses));
  }
  return opts;
}

// One system to put under load.
struct Target {
  std::string system;
  Endpoint endpoint;
  pid_t server_pid = 0;
  const HostcaServer* hostca = nullptr;  // set for hostca: its store writer's counters
  LoadOptions load;  // path and expectations; connections and mode are set per row
  X509* ca = nullptr;
  // The request bodies of the next run (untimed); `run` counts all runs.
  std::function<Result<std::vector<std::string>>(size_t run)> make_bodies;
  // The certificate PEM in a successful answer.
  std::function<Result<std::string>(const std::string& body)> certificate_of;
};

Result<LoadRow> MeasureRow(const Target& target, ConnectionMode mode, int connections,
                           const Options& opts, size_t* run_counter) {
  LoadRow row;
  row.system = target.system;
  row.mode = std::string(ConnectionModeName(mode));
  row.connections = connections;
  row.requests_per_run = opts.requests;
  LoadOptions load = target.load;
  load.mode = mode;
  load.connections = connections;
  load.open_before_start = !opts.cold_keep_alive;
  for (int run = 1; run <= opts.runs; ++run) {
    HOSTCA_ASSIGN_OR_RETURN(const std::vector<std::string> bodies,
                            target.make_bodies((*run_counter)++));
    // The store's counters from /metrics now, over a connection of its own
    // (against servers before 2026-12-07, whose pool had 64 threads on 2
    // cores, the workers' held connections could be all of them). Opening
    // connections writes nothing to the store. The
    // server's CPU (from /proc) when the clock starts: with keep-alive, after
    // the workers opened their connections (LoadOptions::open_before_start).
    StoreCounters writer_before, writer_after;
    if (target.hostca != nullptr) {
      HOSTCA_ASSIGN_OR_RETURN(writer_before, ReadStoreCounters(*target.hostca));
    }
    ProcessStat cpu_before;
    Status before = Status::Ok();
    load.at_start = [&] {
      Result<ProcessStat> c = ReadProcessStat(target.server_pid);
      if (!c.ok()) {
        before = c.status();
        return;
      }
      cpu_before = *c;
    };
    HOSTCA_ASSIGN_OR_RETURN(LoadResult res, RunLoad(target.endpoint, bodies, load));
    HOSTCA_RETURN_IF_ERROR(before);
    HOSTCA_ASSIGN_OR_RETURN(const ProcessStat cpu_after, ReadProcessStat(target.server_pid));
    if (target.hostca != nullptr) {
      HOSTCA_ASSIGN_OR_RETURN(writer_after, ReadStoreCounters(*target.hostca));
    }
    const std::string what = target.system + " " + row.mode + " C=" + std::to_string(connections);
    if (res.ok == 0) {
      return Internal(what + ": every request failed; first: " + res.first_failure);
    }
    HOSTCA_ASSIGN_OR_RETURN(const std::string pem, target.certificate_of(res.sample_body));
    HOSTCA_RETURN_IF_ERROR(CheckIssued(pem, target.ca).WithContext(what));
    LoadRun r;
    const double ok = static_cast<double>(res.ok);
    r.certs_per_second = res.seconds > 0 ? ok / res.seconds : 0;
    r.p50_seconds = Quantile(res.latencies, 0.50);
    r.p99_seconds = Quantile(res.latencies, 0.99);
    r.server_cpu_per_cert = (cpu_after.cpu_seconds - cpu_before.cpu_seconds) / ok;
    r.server_system_cpu_per_cert = (cpu_after.system_seconds - cpu_before.system_seconds) / ok;
    r.client_cpu_per_cert = res.client_cpu_seconds / ok;
    r.ok = res.ok;
    r.failed = res.failed;
    r.connections = res.connections_opened;
    r.connections_before_start = res.opened_before_start;
    r.server_closes = res.server_closes;
    const WriterFigures writer = WriterBetween(writer_before, writer_after);
    r.writes_per_commit = writer.writes_per_commit;
    r.commit_seconds = writer.commit_seconds;
    r.apply_seconds_per_write = writer.apply_seconds_per_write;
    r.log_seconds = writer.log_seconds;
    r.checkpoints = writer.checkpoints;
    r.checkpoint_seconds = writer.checkpoint_seconds;
    for (const auto& [kind, n] : res.failures) {
      row.failures[kind] += n;
    }
    std::fprintf(stderr,
                 "   %s run %d: %.0f certs/s, p50 %.1f ms, p99 %.1f ms, server CPU %.2f ms/cert, "
                 "%zu connections, %.1f writes/commit, commit %.2f ms (log %.2f ms), "
                 "%.0f checkpoints of %.1f ms, %zu failed%s%s\n",
                 what.c_str(), run, r.certs_per_second, r.p50_seconds * 1000, r.p99_seconds * 1000,
                 r.server_cpu_per_cert * 1000, r.connections, r.writes_per_commit,
                 r.commit_seconds * 1000, r.log_seconds * 1000, r.checkpoints,
                 r.checkpoint_seconds * 1000, r.failed, res.failed > 0 ? "; first: " : "",
                 res.failed > 0 ? res.first_failure.substr(0, 200).c_str() : "");
    row.runs.push_back(r);
  }
  return row;
}

Status MeasureTarget(const Target& target, const Options& opts, std::vector<LoadRow>* rows) {
  size_t run_counter = 0;
  for (const ConnectionMode mode : {ConnectionMode::kKeepAlive, ConnectionMode::kNewConnection}) {
    for (const int c : opts.connections) {
      HOSTCA_ASSIGN_OR_RETURN(LoadRow row, MeasureRow(target, mode, c, opts, &run_counter));
      rows->push_back(std::move(row));
    }
  }
  return Status::Ok();
}

// A host identity for the renewal rows: a fresh P-256 key, enrolled once.
struct RenewingHost {
  X509Ptr cert;
  EvpPkeyPtr key;
};

Result<RenewingHost> EnrollOneHost(const HostcaServer& server) {
  RenewingHost h;
  h.key.reset(EVP_EC_gen("P-256"));
  X509ReqPtr req(X509_REQ_new());
  if (!h.key || !req || X509_REQ_set_pubkey(req.get(), h.key.get()) != 1 ||
      X509_REQ_sign(req.get(), h.key.get(), EVP_sha256()) <= 0) {
    return OpenSslError("cannot make the renewing host's CSR");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string csr, CsrToPem(req.get()));
  HOSTCA_ASSIGN_OR_RETURN(const std::string token, CreateToken(server, "bench-renewer", 1));
  HttpRequest enroll;
  enroll.method = "POST";
  enroll.path = "/v1/enroll";
  enroll.headers = {{"Content-Type", "application/json"}};
  enroll.body =
      nlohmann::json{{"csr", csr}, {"hostname", "renewer.bench.test"}, {"token", token}}.dump();
  HOSTCA_ASSIGN_OR_RETURN(HttpResponse res, Fetch(server.endpoint, enroll));
  if (res.status != 201) {
    return Internal("enrolling the renewing host: HTTP " + std::to_string(res.status) + " " +
                    res.body.substr(0, 200));
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, JsonString(res.body, {"certificate"}));
  HOSTCA_ASSIGN_OR_RETURN(h.cert, CertFromPem(pem));
  return h;
}

// Renewal over TLS client authentication, a new connection per request (as
// hosts renew: one request every half lifetime). Every request renews the
// same certificate with a new CSR (renewal does not retire the old one).
Status MeasureRenewal(const Options& opts, const std::vector<std::string>& csrs,
                      const HostcaServer& server, X509* ca, IssuanceResults* results) {
  HOSTCA_ASSIGN_OR_RETURN(RenewingHost host, EnrollOneHost(server));
  HOSTCA_ASSIGN_OR_RETURN(SslCtxPtr ctx, NewTlsClientContext(server.data_dir + "/ca.crt"));
  if (SSL_CTX_use_certificate(ctx.get(), host.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), host.key.get()) != 1) {
    return OpenSslError("cannot load the renewing host's identity");
  }
  // As the hostca client (cli/client.cpp): its certificate alone, no chain
  // built from the trust store on each handshake.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_NO_AUTO_CHAIN);
  Target t;
  t.system = "hostca-renew";
  t.endpoint = server.endpoint;
  t.endpoint.tls = ctx.get();
  t.server_pid = server.process->pid();
  t.hostca = &server;
  t.load.path = "/v1/renew";
  t.load.expect_status = 201;
  t.load.body_must_contain = "\"certificate\"";
  t.ca = ca;
  t.make_bodies = [&](size_t) -> Result<std::vector<std::string>> {
    std::vector<std::string> bodies;
    bodies.reserve(csrs.size());
    for (const std::string& csr : csrs) {
      bodies.push_back(nlohmann::json{{"csr", csr}}.dump());
    }
    return bodies;
  };
  t.certificate_of = [](const std::string& body) { return JsonString(body, {"certificate"}); };
  size_t run_counter = 0;
  for (const int c : opts.connections) {
    HOSTCA_ASSIGN_OR_RETURN(LoadRow row,
                            MeasureRow(t, ConnectionMode::kNewConnection, c, opts, &run_counter));
    results->rows.push_back(std::move(row));
  }
  return Status::Ok();
}

// One more keep-alive enroll run (8 connections unless
// --profile-connections), not counted in the tables (perf slows the
// server), under `perf record`: where the CPU goes.
constexpr size_t kProfileRequests = 8000;
Status ProfileKeepAlive(const Target& t, int connections, const std::string& dir, Profile* out) {
  const std::string what = "hostca keep-alive C=" + std::to_string(connections);
  std::fprintf(stderr, "   %s under perf record\n", what.c_str());
  // Enough requests for a few thousand samples whatever --requests is (the
  // CSRs repeat, the host names do not).
  std::vector<std::string> bodies;
  for (size_t round = 0; bodies.size() < kProfileRequests; ++round) {
    HOSTCA_ASSIGN_OR_RETURN(std::vector<std::string> more, t.make_bodies(1000000 + round));
    bodies.insert(bodies.end(), more.begin(), more.end());
  }
  auto perf = PerfRecording::Start(t.server_pid, dir + "/perf.data");
  if (!perf.ok()) {
    out->not_taken = "perf could not be started (scripts/bench installs linux-perf): " +
                     perf.status().ToString();
    std::fprintf(stderr, "   %s\n", out->not_taken.c_str());
    return Status::Ok();
  }
  LoadOptions load = t.load;
  load.mode = ConnectionMode::kKeepAlive;
  load.connections = connections;
  HOSTCA_ASSIGN_OR_RETURN(const LoadResult res, RunLoad(t.endpoint, bodies, load));
  HOSTCA_ASSIGN_OR_RETURN(*out, (*perf)->Finish(what));
  if (res.ok == 0) {
    return Internal(what + " under perf: every request failed; first: " + res.first_failure);
  }
  std::error_code ec;
  std::filesystem::remove(dir + "/perf.data", ec);
  std::filesystem::remove(dir + "/perf.data.old", ec);
  if (!out->not_taken.empty()) {
    std::fprintf(stderr, "   no profile: %s\n", out->not_taken.c_str());
  }
  return Status::Ok();
}

// `serve` arguments beyond the data directory and the ports.
std::vector<std::string> ServeArgs(const Options& opts) {
  if (opts.server_config.empty()) {
    return {};
  }
  return {"--config", opts.server_config};
}

constexpr int kInstructionConnections = 8;

// One more keep-alive run at 8 connections against a second server, under
// callgrind with instrumentation on only during the load (after a warm-up),
// then the signature loop's count (bench/instructions.h). Errors (no
// valgrind, a server that would not start under it, failed requests) end
// up as the report's note.
// `enroll` is the enroll target's load (path and expectations).
Status CountInstructions(const Options& opts, const std::vector<std::string>& csrs,
                         const LoadOptions& enroll, const std::string& dir,
                         InstructionCounts* out) {
  out->what = "hostca keep-alive C=8, " + std::to_string(opts.instruction_requests) + " requests";
  std::fprintf(stderr, "   %s under callgrind\n", out->what.c_str());
  auto version = RunCommand({"valgrind", "--version"});
  if (!version.ok() || version->exit_code != 0) {
    return Unavailable("valgrind was not found (scripts/bench installs it)");
  }
  const std::string data = dir + "/callgrind-data", cg_out = dir + "/callgrind.out";
  HOSTCA_RETURN_IF_ERROR(InitHostca(opts.server, data));
  HOSTCA_ASSIGN_OR_RETURN(
      HostcaServer server,
      StartHostca(opts.server, data, dir + "/callgrind-server.log", std::chrono::seconds(300),
                  ServeArgs(opts), CallgrindWrapper(cg_out)));
  constexpr size_t kWarmUp = 16;
  size_t next_host = 0;
  std::vector<std::string> pool;
  while (pool.size() < opts.instruction_requests + kWarmUp) {
    pool.insert(pool.end(), csrs.begin(), csrs.end());
  }
  pool.resize(opts.instruction_requests + kWarmUp);
  HOSTCA_ASSIGN_OR_RETURN(const std::string token,
                          CreateToken(server, "bench-callgrind", pool.size()));
  std::vector<std::string> bodies = EnrollBodies(pool, token, "callgrind-", &next_host);
  const std::vector<std::string> warm(bodies.begin(), bodies.begin() + kWarmUp);
  bodies.erase(bodies.begin(), bodies.begin() + kWarmUp);
  LoadOptions load = enroll;
  load.mode = ConnectionMode::kKeepAlive;
  load.connections = kInstructionConnections;
  HOSTCA_ASSIGN_OR_RETURN(const LoadResult warm_res, RunLoad(server.endpoint, warm, load));
  if (warm_res.ok == 0) {
    return Internal("every warm-up request under callgrind failed; first: " +
                    warm_res.first_failure);
  }
  const int pid = server.process->pid();
  HOSTCA_RETURN_IF_ERROR(CallgrindInstrument(pid, true));
  HOSTCA_ASSIGN_OR_RETURN(const LoadResult res, RunLoad(server.endpoint, bodies, load));
  HOSTCA_RETURN_IF_ERROR(CallgrindInstrument(pid, false));
  // callgrind writes its counts when the process exits.
  const int code = server.process->Stop(std::chrono::seconds(120));
  if (res.ok == 0) {
    return Internal("every request under callgrind failed; first: " + res.first_failure);
  }
  if (code != 0) {
    return Internal("hostca-server under callgrind did not exit cleanly (exit " +
                    std::to_string(code) + "): " + server.process->LogTail(2000));
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string cg_text, ReadFile(cg_out));
  if (!opts.callgrind_copy.empty()) {
    std::error_code ec;
    std::filesystem::copy_file(cg_out, opts.callgrind_copy,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) {
      return Internal("cannot copy the callgrind output to " + opts.callgrind_copy + ": " +
                      ec.message());
    }
  }
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t total, CallgrindTotal(cg_text));
  HOSTCA_ASSIGN_OR_RETURN(
      const CommandRun annotate,
      RunCommand({"callgrind_annotate", "--inclusive=yes", "--threshold=100", cg_out}));
  out->certificates = res.ok;
  out->server_per_cert = static_cast<double>(total) / res.ok;
  out->parts = InstructionPartsFromAnnotate(annotate.output, res.ok);
  // This binary's path: valgrind would read /proc/self/exe as its own.
  std::error_code ec;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) {
    return Internal("cannot read /proc/self/exe: " + ec.message());
  }
  HOSTCA_ASSIGN_OR_RETURN(out->signatures_per_cert, SignatureInstructions(self, dir));
  std::fprintf(stderr,
               "   %.0f instructions per certificate in the server's user space; the two "
               "signature operations alone %.0f\n",
               out->server_per_cert, out->signatures_per_cert);
  return Status::Ok();
}

Status RunHostca(const Options& opts, const std::vector<std::string>& csrs, const std::string& dir,
                 IssuanceResults* results) {
  std::fprintf(stderr, "== hostca-server (%s)\n", opts.server.c_str());
  HOSTCA_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  HOSTCA_RETURN_IF_ERROR(InitHostca(opts.server, dir + "/data"));
  HOSTCA_ASSIGN_OR_RETURN(HostcaServer server,
                          StartHostca(opts.server, dir + "/data", dir + "/server.log",
                                      std::chrono::seconds(30), ServeArgs(opts)));
  HOSTCA_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(server.data_dir + "/ca.crt"));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr ca, CertFromPem(ca_pem));
  size_t next_host = 0;
  Target t;
  t.system = "hostca";
  t.endpoint = server.endpoint;
  t.server_pid = server.process->pid();
  t.hostca = &server;
  t.load.path = "/v1/enroll";
  t.load.expect_status = 201;
  t.load.body_must_contain = "\"certificate\"";
  t.ca = ca.get();
  // Security level high: every new host name needs a token. One per run,
  // with a use per request; every request a host name never seen before.
  t.make_bodies = [&](size_t run) -> Result<std::vector<std::string>> {
    HOSTCA_ASSIGN_OR_RETURN(const std::string token,
                            CreateToken(server, "bench-run-" + std::to_string(run), csrs.size()));
    return EnrollBodies(csrs, token, "bench-", &next_host);
  };
  t.certificate_of = [](const std::string& body) { return JsonString(body, {"certificate"}); };
  HOSTCA_RETURN_IF_ERROR(MeasureTarget(t, opts, &results->rows));
  HOSTCA_RETURN_IF_ERROR(MeasureRenewal(opts, csrs, server, ca.get(), results));
  if (opts.profile) {
    results->profile_connections = opts.profile_connections;
    HOSTCA_RETURN_IF_ERROR(ProfileKeepAlive(t, opts.profile_connections, dir, &results->profile));
  }
  if (opts.instructions) {
    // An extra: its failure is reported, and the runs above still are.
    if (Status st = CountInstructions(opts, csrs, t.load, dir, &results->instructions); !st.ok()) {
      results->instructions = InstructionCounts{};
      results->instructions.not_taken = st.ToString();
      std::fprintf(stderr, "   no instruction count: %s\n", st.ToString().c_str());
    }
  }
  // httplib ends a kept-alive connection after a fixed number of requests.
  size_t closes = 0, requests = 0, connections = 0;
  for (const LoadRow& row : results->rows) {
    for (const LoadRun& r : row.runs) {
      if (row.system == "hostca" && row.mode == "keep-alive" && row.connections == 1) {
        closes += r.server_closes;
        requests += r.ok + r.failed;
        connections += r.connections;
      }
    }
  }
  if (closes > 0 && connections > 0) {
    results->notes.push_back(
        "hostca ends kept-alive connections itself: at C=1, " +
        std::to_string(requests / connections) +
        " requests per TLS connection, so keep-alive runs do handshakes too (connections/run).");
  }
  const int code = server.process->Stop(std::chrono::seconds(10));
  if (code != 0) {
    return Internal("hostca-server did not exit cleanly on SIGTERM (exit " + std::to_string(code) +
                    "): " + server.process->LogTail(2000));
  }
  return Status::Ok();
}

Status RunCfssl(const Options& opts, const std::vector<std::string>& csrs, const BenchCa& ca,
                const std::string& dir, bool sqlite, IssuanceResults* results) {
  const std::string system = sqlite ? "cfssl+sqlite" : "cfssl";
  std::fprintf(stderr, "== %s\n", system.c_str());
  HOSTCA_ASSIGN_OR_RETURN(CfsslServer server, StartCfssl(dir, ca, sqlite));
  std::vector<std::string> bodies;
  for (const std::string& csr : csrs) {
    bodies.push_back(nlohmann::json({{"certificate_request", csr}}).dump());
  }
  Target t;
  t.system = system;
  t.endpoint.port = server.port;
  t.server_pid = server.process->pid();
  t.load.path = "/api/v1/cfssl/sign";
  t.load.expect_status = 200;
  t.load.body_must_contain = "\"success\":true";
  t.ca = ca.cert.get();
  t.make_bodies = [&bodies](size_t) -> Result<std::vector<std::string>> { return bodies; };
  t.certificate_of = [](const std::string& body) {
    return JsonString(body, {"result", "certificate"});
  };
  const size_t first_row = results->rows.size();
  HOSTCA_RETURN_IF_ERROR(MeasureTarget(t, opts, &results->rows));
  if (sqlite) {
    size_t ok = 1;  // the warm-up request
    for (size_t i = first_row; i < results->rows.size(); ++i) {
      for (const LoadRun& r : results->rows[i].runs) {
        ok += r.ok;
      }
    }
    HOSTCA_ASSIGN_OR_RETURN(const size_t stored, CountCfsslCertificates(server.db_path));
    if (stored != ok) {
      return Internal("cfssl's database holds " + std::to_string(stored) +
                      " certificates, expected " + std::to_string(ok));
    }
    results->notes.push_back("cfssl+sqlite: its database holds every certificate it answered (" +
                             std::to_string(stored) + ", checked with sqlite3).");
  }
  server.process->Stop(std::chrono::seconds(10));
  return Status::Ok();
}

std::string CommandVersion(const std::vector<std::string>& argv) {
  auto run = RunCommand(argv);
  if (!run.ok() || run->exit_code != 0) {
    return "";
  }
  std::string out;
  std::istringstream in(run->output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      out += (out.empty() ? "" : ", ") + line;
    }
  }
  return out;
}

Status Run(const Options& opts, IssuanceResults* results) {
  const std::string tmp_root = opts.out_dir + "/tmp";
  ScratchDir scratch(tmp_root + "/issuance-" + HexEncode(RandomBytes(6)));
  HOSTCA_RETURN_IF_ERROR(MakeDirs(scratch.path(), 0700));

  std::fprintf(stderr, "== signature limit: openssl speed -seconds %d ecdsap256, ecdhp256\n",
               opts.speed_seconds);
  HOSTCA_ASSIGN_OR_RETURN(results->limit,
                          MeasureSignatureLimit(opts.speed_seconds, results->env.nproc));
  std::fprintf(stderr,
               "   %.0f sign/s, %.0f verify/s, %.0f ECDH/s per core: %.0f certs/s "
               "(%.0f with a new connection each) on %u cores\n",
               results->limit.sign_per_second, results->limit.verify_per_second,
               results->limit.ecdh_per_second, results->limit.KeepAlive(),
               results->limit.NewConnection(), results->limit.cores);

  const size_t n = std::max(opts.requests, opts.openssl_ca_certs);
  std::fprintf(stderr, "== %zu P-256 CSRs\n", n);
  HOSTCA_ASSIGN_OR_RETURN(std::vector<std::string> csrs, MakeCsrs(n));
  std::vector<std::string> load_csrs(csrs.begin(), csrs.begin() + static_cast<long>(opts.requests));

  results->notes.push_back(
      opts.cold_keep_alive
          ? "--cold-keep-alive: keep-alive runs are timed from before their connections open, "
            "so their first TLS handshakes (C per run) count in certs/s and CPU per certificate."
          : "Keep-alive runs open their C connections (TCP, and TLS for hostca) before the "
            "clock starts and the CPU readings are taken; reconnections during the run are "
            "timed (connections/run counts both). The handshakes' cost is the new-connection "
            "rows'. --cold-keep-alive times them too.");
  HOSTCA_RETURN_IF_ERROR(RunHostca(opts, load_csrs, scratch.path() + "/hostca", results));

  HOSTCA_ASSIGN_OR_RETURN(const BenchCa ca, MakeBenchCa());
  if (opts.cfssl) {
    results->cfssl_version = CommandVersion({"cfssl", "version"});
    results->sqlite_version = CommandVersion({"sqlite3", "--version"});
    if (results->cfssl_version.empty()) {
      results->notes.push_back("cfssl was not found: its baselines were skipped.");
      std::fprintf(stderr, "cfssl not found: skipping its baselines (scripts/bench installs it)\n");
    } else {
      HOSTCA_RETURN_IF_ERROR(
          RunCfssl(opts, load_csrs, ca, scratch.path() + "/cfssl", false, results));
      HOSTCA_RETURN_IF_ERROR(
          RunCfssl(opts, load_csrs, ca, scratch.path() + "/cfssl-sqlite", true, results));
    }
  }

  std::fprintf(stderr, "== openssl ca, %zu certificates per run\n", opts.openssl_ca_certs);
  HOSTCA_ASSIGN_OR_RETURN(
      results->openssl_ca,
      MeasureOpensslCa(scratch.path() + "/openssl-ca", ca, csrs, opts.openssl_ca_certs, opts.runs));
  std::fprintf(stderr, "   median %.1f certs/s\n", Median(results->openssl_ca.certs_per_second));
  std::error_code ec;
  std::filesystem::remove_all(scratch.path(), ec);
  std::filesystem::remove(tmp_root, ec);  // only when empty
  return Status::Ok();
}

int Main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--signature-loop") {
    // Internal: the loop bench/instructions.h counts under callgrind.
    auto n = ParseCount(argv[2], "--signature-loop");
    return n.ok() ? SignatureLoopMain(*n) : 2;
  }
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  ReportBrokenPipesAsErrors();
  auto opts = ParseArgs(argc, argv);
  if (!opts.ok()) {
    std::fprintf(stderr, "issuance_bench: %s\n%s", opts.status().message().c_str(), kUsage);
    return 2;
  }
  IssuanceResults results;
  results.env = RunEnvironment(HOSTCA_SOURCE_DIR, "issuance_bench", argc, argv);
  if (Status st = Run(*opts, &results); !st.ok()) {
    std::fprintf(stderr, "issuance_bench: %s\n", st.ToString().c_str());
    return 1;
  }
  return PrintAndWriteReports("issuance_bench", opts->out_dir, "issuance", results.env,
                              opts->report_suffix, IssuanceTextTable(results),
                              IssuanceMarkdownReport(results), IssuanceJsonReport(results));
}

}  // namespace
}  // namespace hostca::bench

int main(int argc, char** argv) { return hostca::bench::Main(argc, argv); }
