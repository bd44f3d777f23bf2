#include "bench/issuance_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace hostca::bench {
namespace {

using Table = StringTable;

std::string Times(double r) { return r <= 0 ? "-" : Format(r < 10 ? "%.2fx" : "%.1fx", r); }

std::vector<double> Figures(const LoadRow& row, double LoadRun::*figure) {
  std::vector<double> v;
  for (const LoadRun& r : row.runs) {
    v.push_back(r.*figure);
  }
  return v;
}

std::vector<double> Connections(const LoadRow& row) {
  std::vector<double> v;
  for (const LoadRun& r : row.runs) {
    v.push_back(static_cast<double>(r.connections));
  }
  return v;
}

// "median (min–max)" of certificates per second.
std::string RateSpread(const std::vector<double>& runs) {
  if (runs.empty()) {
    return "-";
  }
  std::string out = Rate(Median(runs));
  if (runs.size() > 1) {
    const auto [lo, hi] = std::minmax_element(runs.begin(), runs.end());
    out += " (" + Rate(*lo) + "–" + Rate(*hi) + ")";
  }
  return out;
}

const LoadRow* Find(const IssuanceResults& res, const std::string& system, const std::string& mode,
                    int connections) {
  for (const LoadRow& r : res.rows) {
    if (r.system == system && r.mode == mode && r.connections == connections) {
      return &r;
    }
  }
  return nullptr;
}

double RowRate(const LoadRow* row) {
  return row == nullptr ? 0 : MedianOf(*row, &LoadRun::certs_per_second);
}

double Ratio(double a, double b) { return a > 0 && b > 0 ? a / b : 0; }

// The signature limit of a row's load shape.
double LimitFor(const IssuanceResults& res, const LoadRow& r) {
  return r.mode == "keep-alive" ? res.limit.KeepAlive() : res.limit.NewConnection();
}

size_t Failed(const LoadRow& row) {
  size_t n = 0;
  for (const LoadRun& r : row.runs) {
    n += r.failed;
  }
  return n;
}

Table LoadTable(const IssuanceResults& res) {
  Table t = {{"system", "mode", "C", "certs/s (median, min–max)", "p50 ms", "p99 ms",
              "server CPU ms/cert", "of which kernel", "client CPU ms/cert", "connections/run",
              "writes/commit", "commit ms", "of which redo log", "failed"}};
  for (const LoadRow& r : res.rows) {
    const double per_commit = MedianOf(r, &LoadRun::writes_per_commit);
    t.push_back(
        {r.system, r.mode, std::to_string(r.connections),
         RateSpread(Figures(r, &LoadRun::certs_per_second)),
         Millis(MedianOf(r, &LoadRun::p50_seconds)), Millis(MedianOf(r, &LoadRun::p99_seconds)),
         Format("%.3f", MedianOf(r, &LoadRun::server_cpu_per_cert) * 1000),
         Format("%.3f", MedianOf(r, &LoadRun::server_system_cpu_per_cert) * 1000),
         Format("%.3f", MedianOf(r, &LoadRun::client_cpu_per_cert) * 1000),
         Format("%.0f", Median(Connections(r))), per_commit > 0 ? Format("%.1f", per_commit) : "-",
         per_commit > 0 ? Format("%.2f", MedianOf(r, &LoadRun::commit_seconds) * 1000) : "-",
         per_commit > 0 ? Format("%.2f", MedianOf(r, &LoadRun::log_seconds) * 1000) : "-",
         std::to_string(Failed(r))});
  }
  return t;
}

double OpensslCaRate(const IssuanceResults& res) { return Median(res.openssl_ca.certs_per_second); }

Table RatioTable(const IssuanceResults& res) {
  Table t = {{"mode", "C", "hostca certs/s", "signature limit/s", "hostca/limit", "hostca/cfssl",
              "hostca/cfssl+sqlite", "hostca/openssl ca"}};
  for (const LoadRow& r : res.rows) {
    if (r.system != "hostca") {
      continue;
    }
    const double hostca = RowRate(&r);
    const double limit = LimitFor(res, r);
    t.push_back({r.mode, std::to_string(r.connections), Rate(hostca), Rate(limit),
                 Format("%.1f%%", Ratio(hostca, limit) * 100),
                 Times(Ratio(hostca, RowRate(Find(res, "cfssl", r.mode, r.connections)))),
                 Times(Ratio(hostca, RowRate(Find(res, "cfssl+sqlite", r.mode, r.connections)))),
                 Times(Ratio(hostca, OpensslCaRate(res)))});
  }
  return t;
}

// What issue 5's target for a load shape leaves of the machine once the
// signature work and the load generator, which shares the cores, are paid.
struct TargetRoom {
  double limit = 0;           // the signature limit, certs/s
  double target = 0;          // fraction of it asked
  double signatures_cpu = 0;  // CPU seconds per certificate at openssl speed rates
  double client_cpu = 0;      // the load generator's, measured
  double ceiling = 0;         // certs/s of a server doing only the signature work
  double room = 0;            // CPU seconds per certificate left at the target (may be < 0)
  double server_beyond = 0;   // the server's measured CPU beyond the signatures
};

TargetRoom RoomAtTarget(const IssuanceResults& res, const LoadRow& r) {
  TargetRoom t;
  const double limit = LimitFor(res, r);
  const double cores = res.limit.cores;
  if (limit <= 0 || cores <= 0) {
    return t;
  }
  t.limit = limit;
  t.target = r.mode == "keep-alive" ? 0.6 : 0.5;
  t.signatures_cpu = cores / limit;
  t.client_cpu = MedianOf(r, &LoadRun::client_cpu_per_cert);
  t.ceiling = cores / (t.signatures_cpu + t.client_cpu);
  t.room = cores / (t.target * limit) - t.signatures_cpu - t.client_cpu;
  t.server_beyond = MedianOf(r, &LoadRun::server_cpu_per_cert) - t.signatures_cpu;
  return t;
}

std::string Micros(double seconds) { return Format("%.0f", seconds * 1e6); }

Table RoomTable(const IssuanceResults& res) {
  Table t = {{"mode", "C", "target", "certs/s at the target", "signatures us/cert",
              "load generator us/cert", "at most beside it/s", "of the limit",
              "left for the rest at the target us/cert", "hostca's rest us/cert"}};
  for (const LoadRow& r : res.rows) {
    if (r.system != "hostca") {
      continue;
    }
    const TargetRoom room = RoomAtTarget(res, r);
    if (room.target <= 0) {
      continue;
    }
    t.push_back({r.mode, std::to_string(r.connections), Format("%.0f%%", room.target * 100),
                 Rate(room.target * room.limit), Micros(room.signatures_cpu),
                 Micros(room.client_cpu), Rate(room.ceiling),
                 Format("%.0f%%", Ratio(room.ceiling, room.limit) * 100),
                 room.room > 0 ? Micros(room.room) : "none (" + Micros(room.room) + ")",
                 Micros(room.server_beyond)});
  }
  return t;
}

const char kRoomSummary[] =
    "The load generator runs on the server's cores, so what it spends per certificate (measured "
    "above) is not the server's. A server whose only work were the signatures (at `openssl "
    "speed` rates) would reach at most cores / (signatures + load generator) per second beside "
    "it. At issue 5's target rate, what is left per certificate for everything else the server "
    "does (TLS records, HTTP, JSON, the store and its durability, threads) is the \"left\" "
    "column; hostca's rest is its measured server CPU beyond the signatures. Where nothing is "
    "left, no server can meet the target beside this load generator on this machine: that "
    "would take a lighter load generator, or cores of its own.\n";

std::string Text(const Table& rows) { return RenderText(rows); }
std::string Markdown(const Table& rows) { return RenderMarkdown(rows, 2); }

std::string OpensslCaLine(const IssuanceResults& res) {
  const OpensslCaRuns& o = res.openssl_ca;
  if (o.certs_per_second.empty()) {
    return "not run";
  }
  return RateSpread(o.certs_per_second) + " certs/s over " + std::to_string(o.certs_per_run) +
         " certificates per run, " + Format("%.1f", Median(o.cpu_per_cert) * 1000) +
         " ms CPU per certificate";
}

// The profile's parts with their share and what they cost per certificate
// at the unprofiled server CPU of the same load shape.
Table ProfileTable(const IssuanceResults& res) {
  const LoadRow* row = Find(res, "hostca", "keep-alive", res.profile_connections);
  const double cpu = row == nullptr ? 0 : MedianOf(*row, &LoadRun::server_cpu_per_cert);
  Table t = {{"part of the server's work", "share of CPU", "us/cert", "measured as"}};
  for (const ProfilePart& p : res.profile.parts) {
    t.push_back({p.part, Format("%.1f%%", p.share * 100),
                 cpu > 0 ? Format("%.0f", p.share * cpu * 1e6) : "-", p.symbols});
  }
  return t;
}

std::string ProfileSummary(const IssuanceResults& res) {
  if (!res.profile.not_taken.empty()) {
    return "No profile: " + res.profile.not_taken + "\n";
  }
  if (res.profile.parts.empty()) {
    return "";
  }
  const double verify_us = res.limit.verify_per_second > 0 ? 1e6 / res.limit.verify_per_second : 0;
  const double sign_us = res.limit.sign_per_second > 0 ? 1e6 / res.limit.sign_per_second : 0;
  return "`perf record` of the server during one more " + res.profile.what +
         " run (not in the tables above; " + res.profile.samples +
         "). Shares are of the server's samples, inclusive of what each part calls; us/cert "
         "applies them to the unprofiled server CPU per certificate of the same shape. At `openssl "
         "speed` rates the signature work is " +
         Format("%.0f", verify_us + sign_us) + " us per certificate (verify " +
         Format("%.0f", verify_us) + " + sign " + Format("%.0f", sign_us) +
         "): whatever else the server spends per certificate is the distance to the "
         "signature limit.\n";
}

std::string Millions(double v) { return Format("%.3f", v / 1e6); }

std::string InstructionSummary(const IssuanceResults& res) {
  const InstructionCounts& c = res.instructions;
  if (!c.not_taken.empty()) {
    return "No instruction count: " + c.not_taken + "\n";
  }
  if (c.certificates == 0) {
    return "";
  }
  return "callgrind's count of the server's user-space instructions during one more " + c.what +
         " (" + std::to_string(c.certificates) + " certificates, after a warm-up; a server of " +
         "its own, under `valgrind --tool=callgrind`, not in the tables above). The count does " +
         "not move with the machine's load, so it compares builds where certificates per second " +
         "on a shared machine cannot. Kernel work (TCP, the store's pwrite and fdatasync, " +
         "futexes) is not in it. " + Millions(c.server_per_cert) +
         "M instructions per certificate; one P-256 CSR verification and one signature alone " +
         "(a loop under callgrind) take " + Millions(c.signatures_per_cert) + "M, " +
         Format("%.1f%%",
                c.server_per_cert > 0 ? 100 * c.signatures_per_cert / c.server_per_cert : 0) +
         " of the server's count.\n";
}

// Inclusive instructions per certificate of the frames of an issuance.
Table InstructionTable(const IssuanceResults& res) {
  const InstructionCounts& c = res.instructions;
  Table t = {{"frame of the server's work", "M instructions/cert", "share", "frame"}};
  const auto share = [&](double v) {
    return Format("%.1f%%", c.server_per_cert > 0 ? 100 * v / c.server_per_cert : 0);
  };
  t.push_back({"the whole server process", Millions(c.server_per_cert), share(c.server_per_cert),
               "(callgrind totals)"});
  for (const InstructionPart& p : c.parts) {
    t.push_back({p.part, Millions(p.per_cert), share(p.per_cert), p.symbol});
  }
  t.push_back({"signature work alone (loop)", Millions(c.signatures_per_cert),
               share(c.signatures_per_cert), "EVP_DigestVerify + EVP_DigestSign"});
  return t;
}

}  // namespace

double SignatureLimit::KeepAlive() const {
  if (sign_per_second <= 0 || verify_per_second <= 0) {
    return 0;
  }
  return cores / (1 / sign_per_second + 1 / verify_per_second);
}

double SignatureLimit::NewConnection() const {
  if (sign_per_second <= 0 || verify_per_second <= 0 || ecdh_per_second <= 0) {
    return 0;
  }
  return cores / (2 / sign_per_second + 1 / verify_per_second + 1 / ecdh_per_second);
}

double MedianOf(const LoadRow& row, double LoadRun::*figure) {
  return Median(Figures(row, figure));
}

std::string IssuanceTextTable(const IssuanceResults& res) {
  std::string out = Text(LoadTable(res));
  out += "\nopenssl ca (one process per certificate): " + OpensslCaLine(res) + "\n\n";
  out += Text(RatioTable(res));
  out += "\n" + Text(RoomTable(res));
  if (!res.profile.parts.empty() || !res.profile.not_taken.empty()) {
    out += "\n" + ProfileSummary(res);
    if (!res.profile.parts.empty()) {
      out += Text(ProfileTable(res));
    }
  }
  if (res.instructions.certificates > 0 || !res.instructions.not_taken.empty()) {
    out += "\n" + InstructionSummary(res);
    if (res.instructions.certificates > 0) {
      out += Text(InstructionTable(res));
    }
  }
  return out;
}

std::string IssuanceMarkdownReport(const IssuanceResults& res) {
  const Environment& env = res.env;
  std::string md = "# hostca issuance benchmark, " + env.date + "\n\n";
  md += "- machine: " + std::to_string(env.nproc) + " CPUs, " + env.cpu_model + ", " + env.kernel +
        "\n";
  md += "- OpenSSL command line: " + env.openssl_cli + "\n";
  md += "- OpenSSL library in hostca and the load generator: " + env.openssl_library + "\n";
  md += "- cfssl: " + (res.cfssl_version.empty() ? "not run" : res.cfssl_version) +
        "; SQLite: " + (res.sqlite_version.empty() ? "not run" : res.sqlite_version) + "\n";
  md += "- hostca commit: " + (env.git_commit.empty() ? "unknown" : env.git_commit) + "\n";
  md += "- command: `" + env.command_line + "`\n\n";
  md += "## Throughput and latency\n\n";
  md += "Median of " + std::to_string(res.rows.empty() ? 0 : res.rows.front().runs.size()) +
        " runs (min–max for certificates per second); C = concurrent connections. hostca is "
        "HTTPS (TLS 1.3, P-256), cfssl plain HTTP.\n\n";
  md += Markdown(LoadTable(res));
  md += "\n## Against the baselines\n\n";
  md += Markdown(RatioTable(res));
  md += "\n## The targets beside this load generator\n\n";
  md += std::string(kRoomSummary) + "\n" + Markdown(RoomTable(res));
  md += "\n## Baselines\n\n";
  md += "- signature limit: `openssl speed` on one core: ECDSA P-256 " +
        Rate(res.limit.sign_per_second) + " sign/s, " + Rate(res.limit.verify_per_second) +
        " verify/s, ECDH P-256 " + Rate(res.limit.ecdh_per_second) + " op/s; times " +
        std::to_string(res.limit.cores) + " cores: " + Rate(res.limit.KeepAlive()) +
        " certs/s (verify the CSR + sign the certificate), " + Rate(res.limit.NewConnection()) +
        " certs/s with a new TLS connection each (+ handshake signature + ECDH)\n";
  md += "- openssl ca, one process per certificate, sequential: " + OpensslCaLine(res) + "\n";
  if (!res.profile.parts.empty() || !res.profile.not_taken.empty()) {
    md += "\n## Where the server's CPU goes\n\n" + ProfileSummary(res);
    if (!res.profile.parts.empty()) {
      md += "\n" + RenderMarkdown(ProfileTable(res), 1);
    }
  }
  if (res.instructions.certificates > 0 || !res.instructions.not_taken.empty()) {
    md += "\n## Instructions per certificate\n\n" + InstructionSummary(res);
    if (res.instructions.certificates > 0) {
      md += "\n" + RenderMarkdown(InstructionTable(res), 1);
    }
  }
  bool any_failure = false;
  for (const LoadRow& r : res.rows) {
    for (const auto& [kind, n] : r.failures) {
      if (!any_failure) {
        md += "\n## Failed requests\n\n";
        any_failure = true;
      }
      md += "- " + r.system + " " + r.mode + " C=" + std::to_string(r.connections) + ": " +
            std::to_string(n) + " × " + kind + "\n";
    }
  }
  if (!res.notes.empty()) {
    md += "\n## Notes\n\n";
    for (const std::string& n : res.notes) {
      md += "- " + n + "\n";
    }
  }
  md +=
      "\nEvery run checks one issued certificate against its CA. Server CPU is utime + stime "
      "of the server process from /proc; the load generator runs on the same machine. See "
      "bench/README.md.\n";
  return md;
}

std::string IssuanceJsonReport(const IssuanceResults& res) {
  const Environment& env = res.env;
  nlohmann::json j;
  j["benchmark"] = "issuance";
  j["date"] = env.date;
  j["command"] = env.command_line;
  j["machine"] = {{"nproc", env.nproc}, {"cpu_model", env.cpu_model}, {"kernel", env.kernel}};
  j["versions"] = {{"openssl_cli", env.openssl_cli},
                   {"openssl_library", env.openssl_library},
                   {"cfssl", res.cfssl_version},
                   {"sqlite", res.sqlite_version},
                   {"hostca_commit", env.git_commit.empty() ? nlohmann::json(nullptr)
                                                            : nlohmann::json(env.git_commit)}};
  j["signature_limit"] = {{"ecdsa_p256_sign_per_s", res.limit.sign_per_second},
                          {"ecdsa_p256_verify_per_s", res.limit.verify_per_second},
                          {"ecdh_p256_per_s", res.limit.ecdh_per_second},
                          {"cores", res.limit.cores},
                          {"keep_alive_certs_per_s", res.limit.KeepAlive()},
                          {"new_connection_certs_per_s", res.limit.NewConnection()}};
  j["openssl_ca"] = {{"certs_per_run", res.openssl_ca.certs_per_run},
                     {"certs_per_s",
                      {{"median", Median(res.openssl_ca.certs_per_second)},
                       {"runs", res.openssl_ca.certs_per_second}}},
                     {"cpu_s_per_cert", Median(res.openssl_ca.cpu_per_cert)}};
  j["load"] = nlohmann::json::array();
  for (const LoadRow& r : res.rows) {
    nlohmann::json runs = nlohmann::json::array();
    for (const LoadRun& run : r.runs) {
      runs.push_back({{"certs_per_s", run.certs_per_second},
                      {"p50_s", run.p50_seconds},
                      {"p99_s", run.p99_seconds},
                      {"server_cpu_s_per_cert", run.server_cpu_per_cert},
                      {"server_system_cpu_s_per_cert", run.server_system_cpu_per_cert},
                      {"client_cpu_s_per_cert", run.client_cpu_per_cert},
                      {"ok", run.ok},
                      {"failed", run.failed},
                      {"connections", run.connections},
                      {"connections_before_start", run.connections_before_start},
                      {"server_closes", run.server_closes},
                      {"store_writes_per_commit", run.writes_per_commit},
                      {"store_commit_s", run.commit_seconds},
                      {"store_apply_s_per_write", run.apply_seconds_per_write},
                      {"store_log_s", run.log_seconds},
                      {"store_checkpoints", run.checkpoints},
                      {"store_checkpoint_s", run.checkpoint_seconds}});
    }
    const std::vector<double> rates = Figures(r, &LoadRun::certs_per_second);
    const auto [lo, hi] = std::minmax_element(rates.begin(), rates.end());
    j["load"].push_back(
        {{"system", r.system},
         {"mode", r.mode},
         {"connections", r.connections},
         {"requests_per_run", r.requests_per_run},
         {"certs_per_s",
          {{"median", Median(rates)},
           {"min", rates.empty() ? 0 : *lo},
           {"max", rates.empty() ? 0 : *hi}}},
         {"p50_s", MedianOf(r, &LoadRun::p50_seconds)},
         {"p99_s", MedianOf(r, &LoadRun::p99_seconds)},
         {"server_cpu_s_per_cert", MedianOf(r, &LoadRun::server_cpu_per_cert)},
         {"server_system_cpu_s_per_cert", MedianOf(r, &LoadRun::server_system_cpu_per_cert)},
         {"failures", r.failures},
         {"runs", runs}});
  }
  j["ratios"] = nlohmann::json::array();
  for (const LoadRow& r : res.rows) {
    if (r.system != "hostca") {
      continue;
    }
    const double hostca = RowRate(&r);
    const double limit = LimitFor(res, r);
    const TargetRoom room = RoomAtTarget(res, r);
    j["ratios"].push_back(
        {{"mode", r.mode},
         {"connections", r.connections},
         {"hostca_over_signature_limit", Ratio(hostca, limit)},
         {"target_over_signature_limit", room.target},
         {"signatures_cpu_s_per_cert", room.signatures_cpu},
         {"load_generator_cpu_s_per_cert", room.client_cpu},
         {"ceiling_beside_load_generator_certs_per_s", room.ceiling},
         {"cpu_s_per_cert_left_at_target", room.room},
         {"hostca_cpu_s_per_cert_beyond_signatures", room.server_beyond},
         {"hostca_over_cfssl", Ratio(hostca, RowRate(Find(res, "cfssl", r.mode, r.connections)))},
         {"hostca_over_cfssl_sqlite",
          Ratio(hostca, RowRate(Find(res, "cfssl+sqlite", r.mode, r.connections)))},
         {"hostca_over_openssl_ca", Ratio(hostca, OpensslCaRate(res))}});
  }
  j["profile"] = {{"not_taken", res.profile.not_taken},
                  {"load", res.profile.what},
                  {"samples", res.profile.samples},
                  {"parts", nlohmann::json::array()}};
  for (const ProfilePart& p : res.profile.parts) {
    j["profile"]["parts"].push_back(
        {{"part", p.part}, {"share", p.share}, {"measured_as", p.symbols}});
  }
  const InstructionCounts& ic = res.instructions;
  j["instructions"] = {{"not_taken", ic.not_taken},
                       {"load", ic.what},
                       {"certificates", ic.certificates},
                       {"server_per_certificate", ic.server_per_cert},
                       {"signature_work_per_certificate", ic.signatures_per_cert},
                       {"frames", nlohmann::json::array()}};
  for (const InstructionPart& p : ic.parts) {
    j["instructions"]["frames"].push_back(
        {{"part", p.part}, {"frame", p.symbol}, {"per_certificate", p.per_cert}});
  }
  j["notes"] = res.notes;
  return j.dump(2) + "\n";
}

}  // namespace hostca::bench
