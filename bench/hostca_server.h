// What issuance_bench and scale_bench share to drive a real `hostca-server`
// (bench/README.md): `init` of a data directory, `serve` on ports the server
// picks (learnt from its log) timed until /healthz answers, admin calls with
// the bearer token of DIR/admin.token, and small helpers (a scratch
// directory, count parsing, JSON fields of an answer). Thread safety: none
// needed (called from a benchmark's main thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/loadgen.h"
#include "bench/process.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::bench {

// A directory removed with everything in it when the object goes away.
class ScratchDir {
 public:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `hostca-server init --data DATA_DIR --key-type p256` (a new CA).
Status InitHostca(const std::string& server_binary, const std::string& data_dir);

// A running `hostca-server serve` over an initialised data directory.
struct HostcaServer {
  std::unique_ptr<ChildProcess> process;
  std::string data_dir;
  SslCtxPtr tls;  // trusts DATA/ca.crt
  Endpoint endpoint;
  std::string admin_token;   // DATA/admin.token
  double start_seconds = 0;  // from the exec to the first /healthz 200
  double port_seconds = 0;   // from the exec to the API port in the log
};

// `hostca-server serve --data DATA_DIR --listen 127.0.0.1:0 --http-listen
// 127.0.0.1:0` and `extra_args` (e.g. --config FILE), output appended to
// `log_path`; polls the log for the API port, then /healthz (every 5 ms)
// until it answers 200, for at most `deadline`. Requests then time out
// after 30 s. `wrapper` (e.g. valgrind and its options) runs the server.
Result<HostcaServer> StartHostca(const std::string& server_binary, const std::string& data_dir,
                                 const std::string& log_path,
                                 std::chrono::seconds deadline = std::chrono::seconds(30),
                                 const std::vector<std::string>& extra_args = {},
                                 const std::vector<std::string>& wrapper = {});

// POST /v1/tokens: a token for `uses` new hosts, valid for an hour.
Result<std::string> CreateToken(const HostcaServer& s, const std::string& name, size_t uses);

// POST /v1/enroll bodies, one per CSR, each with a host name never used
// before (`<prefix><n>.example.test`, n counting from *next_host on).
std::vector<std::string> EnrollBodies(const std::vector<std::string>& csrs,
                                      const std::string& token, const std::string& prefix,
                                      size_t* next_host);

// The store writer's counters in GET /metrics (storage/README.md,
// "Group commit"): group commits, the writes they carried, and the seconds
// the writer spent running those writes and committing them; of the commit,
// the seconds of the redo log's append and fdatasync; and the background
// checkpoints with their seconds (both 0 without the log). A difference of
// two readings describes the requests in between.
struct StoreCounters {
  double commits = 0, writes = 0, apply_seconds = 0, commit_seconds = 0;
  double log_seconds = 0, checkpoints = 0, checkpoint_seconds = 0;
};
Result<StoreCounters> ReadStoreCounters(const HostcaServer& s);

// What the writer did between two readings: writes per group commit, the
// mean commit's seconds and the part of them in the redo log, its seconds
// running the writes per write; and the checkpoints in between with their
// mean seconds. Each is 0 when there was nothing to count.
struct WriterFigures {
  double writes_per_commit = 0, commit_seconds = 0, apply_seconds_per_write = 0;
  double log_seconds = 0, checkpoints = 0, checkpoint_seconds = 0;
};
WriterFigures WriterBetween(const StoreCounters& before, const StoreCounters& after);

// The value of the unlabelled sample `name` in a /metrics answer.
Result<double> MetricValue(const std::string& metrics, const std::string& name);

// The string at `path` in a JSON answer.
Result<std::string> JsonString(const std::string& body, const std::vector<std::string>& path);

}  // namespace hostca::bench
