#include "bench/hostca_server.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "common/file.h"

namespace hostca::bench {
namespace {

constexpr int kTokenTtlSeconds = 3600;

std::string Trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  return s;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Status InitHostca(const std::string& server_binary, const std::string& data_dir) {
  HOSTCA_ASSIGN_OR_RETURN(CommandRun init, RunCommand({server_binary, "init", "--data", data_dir,
                                                       "--key-type", "p256"}));
  if (init.exit_code != 0) {
    return Internal("hostca-server init failed (exit " + std::to_string(init.exit_code) +
                    "): " + init.output);
  }
  return Status::Ok();
}

Result<HostcaServer> StartHostca(const std::string& server_binary, const std::string& data_dir,
                                 const std::string& log_path, std::chrono::seconds deadline,
                                 const std::vector<std::string>& extra_args,
                                 const std::vector<std::string>& wrapper) {
  HostcaServer s;
  s.data_dir = data_dir;
  HOSTCA_ASSIGN_OR_RETURN(std::string token, ReadFile(data_dir + "/admin.token"));
  s.admin_token = Trimmed(std::move(token));
  HOSTCA_ASSIGN_OR_RETURN(s.tls, NewTlsClientContext(data_dir + "/ca.crt"));
  // The log may hold earlier runs: only ports logged after this start count.
  const size_t log_before = FileExists(log_path) ? std::filesystem::file_size(log_path) : 0;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> argv = {server_binary, "serve",       "--data",        data_dir,
                                   "--listen",    "127.0.0.1:0", "--http-listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.insert(argv.begin(), wrapper.begin(), wrapper.end());
  HOSTCA_ASSIGN_OR_RETURN(s.process, ChildProcess::Start(argv, log_path));
  s.endpoint.tls = s.tls.get();
  // The port is bound (and connections queue) before the services start: a
  // /healthz sent then waits in the backlog, so give it the whole deadline.
  s.endpoint.timeout = deadline;
  static const std::regex kHttps("listening https://[^ ]+:([0-9]+)");
  const auto end = start + deadline;
  std::string last_error = "no port in the log yet";
  while (std::chrono::steady_clock::now() < end) {
    if (s.process->Exited()) {
      return Unavailable("hostca-server serve exited: " + s.process->LogTail(2000));
    }
    if (s.endpoint.port == 0) {
      std::smatch m;
      std::string log = s.process->LogTail(1 << 20);
      const size_t now_size = FileExists(log_path) ? std::filesystem::file_size(log_path) : 0;
      const size_t fresh = now_size > log_before ? now_size - log_before : 0;
      log = log.size() > fresh ? log.substr(log.size() - fresh) : log;
      if (std::regex_search(log, m, kHttps)) {
        s.endpoint.port = std::stoi(m[1]);
        s.port_seconds = SecondsSince(start);
      }
    }
    if (s.endpoint.port != 0) {
      auto res = Fetch(s.endpoint, HttpRequest{"GET", "/healthz", {}, ""});
      if (res.ok() && res->status == 200) {
        s.start_seconds = SecondsSince(start);
        s.endpoint.timeout = std::chrono::seconds(30);
        return s;
      }
      last_error = res.ok() ? "status " + std::to_string(res->status) : res.status().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval
  }
  return Unavailable("hostca-server did not answer /healthz within " +
                     std::to_string(deadline.count()) + " s (" + last_error +
                     "): " + s.process->LogTail(2000));
}

Result<std::string> CreateToken(const HostcaServer& s, const std::string& name, size_t uses) {
  HttpRequest req;
  req.method = "POST";
  req.path = "/v1/tokens";
  req.headers = {{"Content-Type", "application/json"},
                 {"Authorization", "Bearer " + s.admin_token}};
  req.body = nlohmann::json({{"name", name}, {"max_uses", uses}, {"ttl_seconds", kTokenTtlSeconds}})
                 .dump();
  HOSTCA_ASSIGN_OR_RETURN(HttpResponse res, Fetch(s.endpoint, req));
  const auto body = nlohmann::json::parse(res.body, nullptr, false);
  if (res.status != 201 || body.is_discarded() || !body.contains("token") ||
      !body["token"].is_string()) {
    return Internal("POST /v1/tokens answered " + std::to_string(res.status) + ": " + res.body);
  }
  return body["token"].get<std::string>();
}

Result<double> MetricValue(const std::string& metrics, const std::string& name) {
  const std::string line = "\n" + name + " ";
  const size_t at = metrics.find(line);
  if (at == std::string::npos) {
    return NotFound("GET /metrics has no " + name +
                    " (a hostca-server older than this benchmark?)");
  }
  return std::strtod(metrics.c_str() + at + line.size(), nullptr);
}

Result<StoreCounters> ReadStoreCounters(const HostcaServer& s) {
  HttpRequest req;
  req.method = "GET";
  req.path = "/metrics";
  HOSTCA_ASSIGN_OR_RETURN(HttpResponse res, Fetch(s.endpoint, req));
  if (res.status != 200) {
    return Internal("GET /metrics answered " + std::to_string(res.status));
  }
  StoreCounters c;
  const std::pair<const char*, double*> wanted[] = {
      {"hostca_store_commits_total", &c.commits},
      {"hostca_store_writes_total", &c.writes},
      {"hostca_store_apply_seconds_total", &c.apply_seconds},
      {"hostca_store_commit_duration_seconds_sum", &c.commit_seconds},
      {"hostca_store_log_sync_seconds_total", &c.log_seconds},
      {"hostca_store_checkpoints_total", &c.checkpoints},
      {"hostca_store_checkpoint_seconds_total", &c.checkpoint_seconds}};
  for (const auto& [name, value] : wanted) {
    HOSTCA_ASSIGN_OR_RETURN(*value, MetricValue(res.body, name));
  }
  return c;
}

WriterFigures WriterBetween(const StoreCounters& before, const StoreCounters& after) {
  WriterFigures f;
  const double commits = after.commits - before.commits;
  const double writes = after.writes - before.writes;
  if (commits > 0) {
    f.writes_per_commit = writes / commits;
    f.commit_seconds = (after.commit_seconds - before.commit_seconds) / commits;
    f.log_seconds = (after.log_seconds - before.log_seconds) / commits;
  }
  f.checkpoints = after.checkpoints - before.checkpoints;
  if (f.checkpoints > 0) {
    f.checkpoint_seconds = (after.checkpoint_seconds - before.checkpoint_seconds) / f.checkpoints;
  }
  if (writes > 0) {
    f.apply_seconds_per_write = (after.apply_seconds - before.apply_seconds) / writes;
  }
  return f;
}

std::vector<std::string> EnrollBodies(const std::vector<std::string>& csrs,
                                      const std::string& token, const std::string& prefix,
                                      size_t* next_host) {
  std::vector<std::string> bodies;
  bodies.reserve(csrs.size());
  for (const std::string& csr : csrs) {
    const std::string host = prefix + std::to_string((*next_host)++) + ".example.test";
    bodies.push_back(nlohmann::json({{"csr", csr}, {"hostname", host}, {"token", token}}).dump());
  }
  return bodies;
}

Result<std::string> JsonString(const std::string& body, const std::vector<std::string>& path) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  const nlohmann::json* at = &j;
  for (const std::string& key : path) {
    if (!at->is_object() || !at->contains(key)) {
      return Internal("no '" + key + "' in the answer: " + body.substr(0, 300));
    }
    at = &(*at)[key];
  }
  if (!at->is_string()) {
    return Internal("not a string in the answer: " + body.substr(0, 300));
  }
  return at->get<std::string>();
}

}  // namespace hostca::bench
