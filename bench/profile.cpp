#include "bench/profile.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace hostca::bench {
namespace {

// Children share (0..1) of every symbol in the report, the largest when a
// symbol has several lines (inlined copies).
std::map<std::string, double> ChildrenShares(const std::string& report, std::string* samples) {
  std::map<std::string, double> out;
  std::istringstream in(report);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# Samples:", 0) == 0) {
      *samples = line.substr(2);
      continue;
    }
    // "    48.27%     0.06%  [.] hostca::enrollment::EnrollmentService::Enroll"
    std::istringstream fields(line);
    std::string children, self, kind;
    if (!(fields >> children >> self >> kind) || children.empty() || children.back() != '%' ||
        (kind != "[.]" && kind != "[k]")) {
      continue;
    }
    std::string symbol;
    std::getline(fields, symbol);
    symbol.erase(0, symbol.find_first_not_of(' '));
    symbol.erase(symbol.find_last_not_of(' ') + 1);
    double pct = 0;
    try {
      pct = std::stod(children.substr(0, children.size() - 1));
    } catch (const std::exception&) {
      continue;
    }
    double& slot = out[symbol];
    slot = std::max(slot, pct / 100);
  }
  return out;
}

// The largest share of a symbol whose name starts with `prefix` (C++ names
// carry their parameter lists).
double Share(const std::map<std::string, double>& shares, const std::string& prefix) {
  double best = 0;
  for (auto it = shares.lower_bound(prefix); it != shares.end() && it->first.rfind(prefix, 0) == 0;
       ++it) {
    best = std::max(best, it->second);
  }
  return best;
}

}  // namespace

Profile IssuanceProfileFromReport(const std::string& report_text) {
  Profile p;
  const auto shares = ChildrenShares(report_text, &p.samples);
  if (shares.empty()) {
    p.not_taken = "perf report showed no samples";
    return p;
  }
  const double verify = Share(shares, "EVP_DigestVerifyFinal");
  const double csr = Share(shares, "hostca::ca::ParseAndCheckCsr");
  const double sign = Share(shares, "EVP_DigestSignFinal");
  const double issue = Share(shares, "hostca::ca::Issuer::Issue");
  const double writer = Share(shares, "hostca::storage::internal::GroupCommitStorage::WriterLoop");
  const double commit = Share(shares, "mdb_txn_commit");
  const double sync = Share(shares, "mdb_env_sync");
  // With the redo log (the default) the writer appends and fdatasyncs the
  // log before LMDB's commit, which then syncs nothing; a thread of the
  // log's own fdatasyncs data.mdb at checkpoints.
  const double log = Share(shares, "hostca::storage::internal::Redo::Log");
  const double checkpoint = Share(shares, "hostca::storage::internal::Redo::CheckpointLoop");
  const double request = Share(shares, "httplib::Server::process_request");
  const double dispatch = Share(shares, "httplib::Server::dispatch_request");
  const double respond = Share(shares, "httplib::Server::write_response_core");
  const double enroll = Share(shares, "hostca::enrollment::EnrollmentService::Enroll");
  auto add = [&p](std::string part, std::string symbols, double share) {
    p.parts.push_back({std::move(part), std::move(symbols), std::max(0.0, share)});
  };
  add("CSR signature check (ECDSA verify)", "EVP_DigestVerifyFinal", verify);
  add("CSR parsing and public key import", "ParseAndCheckCsr - verify", csr - verify);
  add("certificate signature (ECDSA sign)", "EVP_DigestSignFinal", sign);
  add("certificate assembly (DER, PEM)", "Issuer::Issue - sign", issue - sign);
  add("enrollment decisions, tokens, audit, waiting on the commit",
      "EnrollmentService::Enroll - CSR - certificate", enroll - csr - issue);
  add("HTTP handler outside enrollment (JSON body and answer, log line)",
      "dispatch_request - Enroll", dispatch - enroll);
  add("store commit: writing B-tree pages (pwrite)", "mdb_txn_commit - mdb_env_sync",
      commit - sync);
  add("store commit: fdatasync (data and meta page; none with the redo log)", "mdb_env_sync", sync);
  add("store commit: redo log append and fdatasync", "Redo::Log", log);
  add("store writer: the batch's record updates", "WriterLoop - mdb_txn_commit - Redo::Log",
      writer - commit - log);
  add("store checkpoints: fdatasync of data.mdb (redo log)", "Redo::CheckpointLoop", checkpoint);
  add("TLS record and TCP send of the answer", "write_response_core", respond);
  add("TLS read and HTTP parsing of the request", "process_request - dispatch - write_response",
      request - dispatch - respond);
  double named = 0;
  for (const ProfilePart& part : p.parts) {
    named += part.share;
  }
  add("rest: thread switches, polling, accept, handshakes on reconnects", "100% - the above",
      1.0 - named);
  return p;
}

Result<std::unique_ptr<PerfRecording>> PerfRecording::Start(pid_t pid,
                                                            const std::string& data_path) {
  // DWARF call graphs: OpenSSL and LMDB are built without frame pointers,
  // so only .eh_frame unwinding attributes their time to hostca's callers.
  HOSTCA_ASSIGN_OR_RETURN(
      std::unique_ptr<ChildProcess> perf,
      ChildProcess::Start({"perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-p",
                           std::to_string(pid), "-o", data_path},
                          data_path + ".log"));
  return std::unique_ptr<PerfRecording>(new PerfRecording(std::move(perf), data_path));
}

Result<Profile> PerfRecording::Finish(const std::string& what) {
  // perf record ends on SIGTERM by the signal, after writing its data.
  const int code = perf_->Stop(std::chrono::seconds(60));
  if (code != 0 && perf_->LogTail(4096).find("Captured and wrote") == std::string::npos) {
    Profile p;
    p.not_taken = "perf record failed (exit " + std::to_string(code) + "): " + perf_->LogTail(300);
    return p;
  }
  HOSTCA_ASSIGN_OR_RETURN(const CommandRun report,
                          RunCommand({"perf", "report", "-i", data_path_, "--children", "--sort",
                                      "symbol", "--stdio", "-g", "none"}));
  if (report.exit_code != 0) {
    Profile p;
    p.not_taken = "perf report failed: " + report.output.substr(0, 300);
    return p;
  }
  Profile p = IssuanceProfileFromReport(report.output);
  p.what = what;
  return p;
}

}  // namespace hostca::bench
