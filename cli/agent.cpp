// `hostca agent`: keeps this host's certificate and CRL fresh (DESIGN.md
// sections 4 and 8). Each pass: renew once half the lifetime has passed, learn
// the CRL refresh interval from GET /v1/ca and refresh DIR/crl.pem when due
// (RefreshCrlIfDue, with If-None-Match), then sleep until the next due time. A failed pass is
// retried with exponential backoff (5 s doubling to 10 min, plus jitter).
// SIGTERM and SIGINT end the agent between passes with exit code 0; a pass in
// progress (a request, a state write) is finished first.
#include <signal.h>

#include <iostream>
#include <memory>
#include <random>

#include "cli/commands.h"
#include "cli/crl_ops.h"
#include "cli/host_ops.h"
#include "cli/output.h"
#include "cli/times.h"
#include "common/clock.h"
#include "common/encoding.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

struct AgentArgs {
  bool once = false;
  int64_t interval_seconds = 0;  // 0: no cap on the sleep
};

struct AgentState {
  int failures = 0;                 // consecutive failed passes
  int64_t crl_refresh_seconds = 0;  // as GET /v1/ca announced it last
  int64_t next_crl_refresh = 0;     // when the CRL is due next (0: now)
};

struct PassResult {
  Status status;
  bool renewed = false;
  std::string serial;
  int64_t not_after = 0;
  int64_t renewal_due = 0;
  std::string crl;          // "updated", "not_modified", "unchanged", "not_due" ("" not reached)
  int64_t crl_number = -1;  // the local CRL's number after the pass
};

int64_t Now() { return SystemClock::Instance().NowSeconds(); }

void Log(const std::string& message) {
  std::cerr << FormatRfc3339(Now()) << " hostca agent: " << message << "\n" << std::flush;
}

// Refreshes DIR/crl.pem when due (cli/crl_ops.h): the due time comes from
// crl.json's last check plus the interval the server announced, so a
// restarted agent (or --once from cron) does not refetch early, and a level
// raised to a shorter interval takes effect from the last check.
Status RefreshCrlIfDue(const Globals& g, AgentState& st, int64_t interval_seconds, int64_t now,
                       PassResult& out) {
  const StatePaths paths(g.dir);
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, LoadPinnedCa(paths));
  HOSTCA_ASSIGN_OR_RETURN(std::optional<LocalCrl> local, LoadLocalCrl(paths, ca_pem));
  st.crl_refresh_seconds = interval_seconds;
  const int64_t due = CrlRefreshDueAt(local, interval_seconds, now);
  if (now < due) {
    st.next_crl_refresh = due;
    out.crl = "not_due";
    out.crl_number = local ? local->info.number : -1;
    return Status::Ok();
  }
  HOSTCA_ASSIGN_OR_RETURN(CrlFetchResult r, FetchCrl(g, now));
  out.crl = r.updated ? "updated" : (r.not_modified ? "not_modified" : "unchanged");
  out.crl_number = r.info.number;
  if (r.updated) {
    Log("CRL updated to number " + std::to_string(r.info.number) + " (" +
        std::to_string(r.info.entries) + " revoked)");
  }
  std::optional<LocalCrl> fresh;
  fresh.emplace();
  fresh->info = r.info;
  fresh->checked_at = now;
  st.next_crl_refresh = CrlRefreshDueAt(fresh, interval_seconds, now);
  if (st.next_crl_refresh <= now) {
    // The server's CRL is already past its nextUpdate: do not spin on it.
    st.next_crl_refresh = now + interval_seconds;
  }
  return Status::Ok();
}

// Renews when due; fills `out` with the certificate in force afterwards.
Status RenewIfDue(const Globals& g, PassResult& out) {
  HOSTCA_ASSIGN_OR_RETURN(HostState host, LoadHostState(StatePaths(g.dir)));
  out.serial = host.info.serial_hex;
  out.not_after = host.info.not_after;
  out.renewal_due = RenewalDueAt(host.info.not_before, host.info.not_after);
  if (Now() < out.renewal_due) {
    return Status::Ok();
  }
  Log("renewing certificate " + out.serial + " (due since " + FormatRfc3339(out.renewal_due) +
      ", expires " + FormatRfc3339(out.not_after) + ")");
  if (auto renewed = RenewHost(g, host); !renewed.ok()) {
    if (renewed.status().reason() == "external_mode") {
      // The domain runs on external certificates: nothing to renew here,
      // and not a failure to back off from.
      Log("renewal skipped: the domain is in external mode");
      return Status::Ok();
    }
    return renewed.status();
  }
  HOSTCA_ASSIGN_OR_RETURN(HostState fresh, LoadHostState(StatePaths(g.dir)));
  out.renewed = true;
  out.serial = fresh.info.serial_hex;
  out.not_after = fresh.info.not_after;
  out.renewal_due = RenewalDueAt(fresh.info.not_before, fresh.info.not_after);
  Log("renewed: certificate " + out.serial + " expires " + FormatRfc3339(out.not_after));
  return Status::Ok();
}

// Learns the CRL refresh interval and refreshes the CRL when due.
Status CheckCa(const Globals& g, AgentState& st, PassResult& out) {
  HOSTCA_ASSIGN_OR_RETURN(ApiResponse ca, GetCaInfo(g));
  if (!ca.body.contains("crl_refresh_seconds") ||
      !ca.body["crl_refresh_seconds"].is_number_integer() ||
      ca.body["crl_refresh_seconds"].get<int64_t>() <= 0) {
    return Internal("GET /v1/ca lacks a positive crl_refresh_seconds", "bad_response");
  }
  return RefreshCrlIfDue(g, st, ca.body["crl_refresh_seconds"].get<int64_t>(), Now(), out);
}

PassResult RunPass(const Globals& g, AgentState& st) {
  PassResult out;
  out.status = RenewIfDue(g, out);
  if (out.status.ok()) {
    out.status = CheckCa(g, st, out);
  }
  st.failures = out.status.ok() ? 0 : st.failures + 1;
  if (!out.status.ok()) {
    Log("pass failed (attempt " + std::to_string(st.failures) + "): " + out.status.ToString());
  }
  return out;
}

// Sleeps until `until` or a blocked SIGTERM/SIGINT arrives; true on a signal.
bool SleepUntil(const sigset_t& signals, int64_t until) {
  while (true) {
    const int64_t left = until - Now();
    if (left <= 0) {
      return false;
    }
    const timespec ts{static_cast<time_t>(left), 0};
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      return true;
    }
  }
}

// True when SIGTERM or SIGINT arrived during a pass (they are blocked).
bool SignalPending() {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

int RunOnce(const Globals& g) {
  AgentState st;
  const PassResult r = RunPass(g, st);
  if (!r.status.ok()) {
    return ReportError(r.status, g.json);
  }
  if (g.json) {
    PrintJson({{"renewed", r.renewed},
               {"serial", r.serial},
               {"not_after", FormatRfc3339(r.not_after)},
               {"renew_after", FormatRfc3339(r.renewal_due)},
               {"crl_refresh_seconds", st.crl_refresh_seconds},
               {"crl", r.crl},
               {"crl_number", r.crl_number >= 0 ? json(r.crl_number) : json(nullptr)},
               {"crl_refresh_after", FormatRfc3339(st.next_crl_refresh)}});
  }
  return 0;
}

int RunAgent(const Globals& g, const AgentArgs& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Blocked: they stay pending while a pass runs and end the sleep after it.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (args.once) {
    return RunOnce(g);
  }
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  AgentState st;
  Log("started (state in " + g.dir + ")");
  while (!SignalPending()) {
    const PassResult r = RunPass(g, st);
    const int64_t now = Now();
    const int64_t wake =
        r.status.ok() ? NextWake(now, r.renewal_due, st.next_crl_refresh, args.interval_seconds)
                      : now + BackoffSeconds(st.failures, jitter(rng));
    Log("next check at " + FormatRfc3339(wake));
    if (SleepUntil(signals, wake)) {
      break;
    }
  }
  Log("stopping");
  return 0;
}

}  // namespace

void AddAgentCommand(CLI::App& app, const Globals& g, Action* action) {
  auto args = std::make_shared<AgentArgs>();
  CLI::App* a = app.add_subcommand(
      "agent", "renew when due and refresh the CRL per security level, until SIGTERM/SIGINT");
  a->add_flag("--once", args->once, "one pass, then exit (0 when nothing failed)");
  a->add_option("--interval-seconds", args->interval_seconds, "sleep at most this long")
      ->check(CLI::PositiveNumber);
  OnRun(a, action, [&g, args] { return RunAgent(g, *args); });
}

}  // namespace hostca::cli
