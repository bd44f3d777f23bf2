#include "bench/scale_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench/loadgen.h"

namespace hostca::bench {
namespace {

std::string Secs(double s) { return Format(s < 1 ? "%.3f" : "%.2f", s); }
std::string MiB(uint64_t bytes) {
  return Format("%.1f", static_cast<double>(bytes) / (1024.0 * 1024.0));
}
std::string Count(size_t n) {
  if (n >= 1000000 && n % 1000000 == 0) {
    return std::to_string(n / 1000000) + "M";
  }
  if (n >= 1000 && n % 1000 == 0) {
    return std::to_string(n / 1000) + "k";
  }
  return std::to_string(n);
}

// "median (min–max)".
std::string Spread(const std::vector<double>& v, std::string (*fmt)(double)) {
  if (v.empty()) {
    return "-";
  }
  std::string out = fmt(Median(v));
  if (v.size() > 1) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    out += " (" + fmt(*lo) + "–" + fmt(*hi) + ")";
  }
  return out;
}

double Ratio(double a, double b) { return a > 0 && b > 0 ? a / b : 0; }

double IssuanceRatio(const ScaleSize& s) {
  return Ratio(Median(s.loaded.issuance_rates), Median(s.empty.issuance_rates));
}
double QueryP50(const StoreRun& r) { return Quantile(r.query_seconds, 0.50); }
double QueryP99(const StoreRun& r) { return Quantile(r.query_seconds, 0.99); }

std::string Verdict(bool ok) { return ok ? "pass" : "FAIL"; }

StringTable FiguresTable(const ScaleResults& res) {
  StringTable t = {{"store", "certificates", "start s (median, min–max)", "query p50 ms",
                    "query p99 ms", "first query ms", "issuance certs/s (median, min–max)",
                    "issuance p99 ms", "server CPU ms/cert", "page faults/cert",
                    "page cache dirtied KiB/cert", "VmRSS MiB", "VmHWM MiB", "RssAnon MiB",
                    "RssFile MiB"}};
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped) {
      continue;
    }
    for (const auto* run : {&s.empty, &s.loaded}) {
      const StoreRun& r = *run;
      t.push_back({(run == &s.empty ? "empty, for " : "loaded ") + Count(s.certificates),
                   std::to_string(r.stored), Spread(r.start_seconds, Secs), Millis(QueryP50(r)),
                   Millis(QueryP99(r)), Millis(r.first_query_seconds),
                   Spread(r.issuance_rates, Rate), Millis(Median(r.issuance_p99)),
                   Format("%.3f", Median(r.server_cpu_per_cert) * 1000),
                   Format("%.1f", Median(r.faults_per_cert)),
                   Format("%.0f", Median(r.dirtied_per_cert) / 1024), MiB(r.memory.vm_rss),
                   MiB(r.memory.vm_hwm), MiB(r.memory.rss_anon), MiB(r.memory.rss_file)});
    }
  }
  return t;
}

// The store writer during the issuance runs (/metrics deltas): how many
// requests each group commit carried, how long its page writes and fsyncs
// took and how much of that was the redo log's sync, what running the
// writes cost the writer before each commit, and the checkpoints beside.
StringTable WriterTable(const ScaleResults& res) {
  StringTable t = {{"store", "writes/commit", "commit ms (mean)", "of which redo log ms",
                    "commit us/write", "writer running the writes us/write", "commits/s",
                    "checkpoints/run", "checkpoint ms (mean)"}};
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped) {
      continue;
    }
    for (const auto* run : {&s.empty, &s.loaded}) {
      const StoreRun& r = *run;
      const double per_commit = Median(r.writes_per_commit);
      const double commit = Median(r.commit_seconds);
      t.push_back({(run == &s.empty ? "empty, for " : "loaded ") + Count(s.certificates),
                   Format("%.1f", per_commit), Format("%.2f", commit * 1000),
                   Format("%.2f", Median(r.log_seconds) * 1000),
                   Format("%.0f", per_commit > 0 ? commit / per_commit * 1e6 : 0),
                   Format("%.0f", Median(r.apply_seconds_per_write) * 1e6),
                   Rate(per_commit > 0 ? Median(r.issuance_rates) / per_commit : 0),
                   Format("%.0f", Median(r.checkpoints)),
                   Format("%.1f", Median(r.checkpoint_seconds) * 1000)});
    }
  }
  return t;
}

bool DiskTimed(const ScaleSize& s) {
  return !s.skipped && s.sync_error.empty() && s.loaded_sync.pages > 0;
}

// A table of a timing taken on both stores' files: after `header`, a row
// per store of each size where `timed`, its label then `cells(timing)`.
template <typename T, typename Cells>
StringTable BothStoresTable(const ScaleResults& res, std::vector<std::string> header,
                            bool (*timed)(const ScaleSize&), T ScaleSize::*empty,
                            T ScaleSize::*loaded, Cells cells) {
  StringTable t = {std::move(header)};
  for (const ScaleSize& s : res.sizes) {
    if (!timed(s)) {
      continue;
    }
    for (const bool is_empty : {true, false}) {
      std::vector<std::string> row = {(is_empty ? "empty, for " : "loaded ") +
                                      Count(s.certificates)};
      for (std::string& cell : cells(s.*(is_empty ? empty : loaded))) {
        row.push_back(std::move(cell));
      }
      t.push_back(std::move(row));
    }
  }
  return t;
}

StringTable DiskTable(const ScaleResults& res) {
  return BothStoresTable(
      res,
      {"store file", "MiB", "pages per fdatasync", "scattered ms", "in one run ms",
       "scattered / in one run"},
      DiskTimed, &ScaleSize::empty_sync, &ScaleSize::loaded_sync, [](const SyncTiming& sync) {
        return std::vector<std::string>{
            Format("%.0f", sync.span_bytes / 1048576), std::to_string(sync.pages),
            Format("%.2f", sync.scattered_seconds * 1000),
            Format("%.2f", sync.contiguous_seconds * 1000),
            Format("%.1f", Ratio(sync.scattered_seconds, sync.contiguous_seconds))};
      });
}

bool HasDisk(const ScaleResults& res) {
  return std::any_of(res.sizes.begin(), res.sizes.end(), DiskTimed);
}

bool ReadsTimed(const ScaleSize& s) {
  return !s.skipped && s.read_error.empty() && s.loaded_reads.pages > 0;
}

StringTable ReadsTable(const ScaleResults& res) {
  return BothStoresTable(res,
                         {"store file", "MiB", "pages each way", "first touch in a map us",
                          "pread 4 KB us", "map / pread", "mapped ahead us", "then first touch us"},
                         ReadsTimed, &ScaleSize::empty_reads, &ScaleSize::loaded_reads,
                         [](const ReadTiming& r) {
                           const bool ahead = r.populate_seconds > 0;
                           return std::vector<std::string>{
                               Format("%.0f", r.span_bytes / 1048576),
                               std::to_string(r.pages),
                               Format("%.1f", r.fault_seconds * 1e6),
                               Format("%.1f", r.pread_seconds * 1e6),
                               Format("%.1f", Ratio(r.fault_seconds, r.pread_seconds)),
                               ahead ? Format("%.1f", r.populate_seconds * 1e6) : "-",
                               ahead ? Format("%.1f", r.touch_populated_seconds * 1e6) : "-"};
                         });
}

bool HasReads(const ScaleResults& res) {
  return std::any_of(res.sizes.begin(), res.sizes.end(), ReadsTimed);
}

StringTable TargetsTable(const ScaleResults& res) {
  const ScaleTargets target;
  StringTable t = {{"certificates", "issuance loaded/empty", "≥ 0.90", "query p50 ms", "< 50 ms",
                    "start s", "< 1 s", "VmRSS under load MiB", "< 256 MiB", "VmRSS idle MiB",
                    "< 256 MiB", "peak (VmHWM) MiB", "< 256 MiB"}};
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped) {
      t.push_back({Count(s.certificates), "skipped", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                   "-", "-"});
      continue;
    }
    const uint64_t idle = s.loaded.memory_idle.vm_rss;
    const double ratio = IssuanceRatio(s);
    const double p50 = QueryP50(s.loaded);
    const double start = Median(s.loaded.start_seconds);
    const uint64_t rss = s.loaded.memory.vm_rss;
    // The highest VmRSS the loaded server reached, start-up, queries and
    // issuance included: mostly mapped store pages, between two of the
    // maintenance thread's looks at them (server/mapped_pages.h).
    const uint64_t peak = s.loaded.memory.vm_hwm;
    t.push_back(
        {Count(s.certificates), Format("%.2f", ratio), Verdict(ratio >= target.issuance_ratio_min),
         Millis(p50), Verdict(p50 < target.query_p50_max_seconds), Secs(start),
         Verdict(start < target.start_max_seconds), MiB(rss), Verdict(rss < target.rss_max_bytes),
         MiB(idle), Verdict(idle < target.rss_max_bytes), MiB(peak),
         Verdict(peak < target.rss_max_bytes)});
  }
  return t;
}

StringTable LoadTable(const ScaleResults& res) {
  StringTable t = {{"certificates", "load s", "certs/s", "revoked", "Updates", "commits",
                    "close+fdatasync s", "compact s", "data.mdb before compact MiB", "db du MiB",
                    "data.mdb MiB", "bytes/cert on disk", "empty db du MiB"}};
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped) {
      continue;
    }
    const BulkLoadStats& l = s.load;
    if (s.reused) {
      t.push_back({Count(s.certificates), "-", "-", "-", "-", "-", "-", "-", "-",
                   MiB(s.loaded.db_disk_bytes), MiB(s.loaded.data_mdb_bytes), "-",
                   MiB(s.empty.db_disk_bytes)});
      continue;
    }
    const double per_cert =
        s.certificates == 0
            ? 0
            : static_cast<double>(s.loaded.db_disk_bytes - s.empty.db_disk_bytes) / s.certificates;
    t.push_back({Count(s.certificates), Secs(l.seconds), Rate(l.CertsPerSecond()),
                 std::to_string(l.revoked), std::to_string(l.updates), std::to_string(l.commits),
                 Secs(l.sync_seconds), l.compacted_bytes == 0 ? "-" : Secs(l.compact_seconds),
                 l.compacted_bytes == 0 ? "-" : MiB(l.loaded_bytes), MiB(s.loaded.db_disk_bytes),
                 MiB(s.loaded.data_mdb_bytes), Format("%.0f", per_cert),
                 MiB(s.empty.db_disk_bytes)});
  }
  return t;
}

StringTable OtherEndpointsTable(const ScaleResults& res) {
  StringTable t = {{"store", "/healthz p50 ms", "/metrics p50 ms", "/metrics max ms",
                    "VmRSS after /metrics MiB", "VmHWM after /metrics MiB",
                    "RssAnon after /metrics MiB"}};
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped) {
      continue;
    }
    for (const auto* run : {&s.empty, &s.loaded}) {
      const StoreRun& r = *run;
      t.push_back({(run == &s.empty ? "empty, for " : "loaded ") + Count(s.certificates),
                   Millis(Quantile(r.healthz_seconds, 0.5)),
                   Millis(Quantile(r.metrics_seconds, 0.5)),
                   Millis(r.metrics_seconds.empty() ? 0 : r.metrics_seconds.back()),
                   MiB(r.memory_after_metrics.vm_rss), MiB(r.memory_after_metrics.vm_hwm),
                   MiB(r.memory_after_metrics.rss_anon)});
    }
  }
  return t;
}

// scale_bench --mapped-mib: the loaded store's issuance at each page
// budget beside the empty store's runs of the same phase.
StringTable BudgetTable(const ScaleResults& res) {
  StringTable t = {{"store", "storage.mapped_mib", "server", "issuance certs/s (median, min–max)",
                    "loaded/empty", "issuance p99 ms", "server CPU ms/cert",
                    "page cache dirtied KiB/cert", "VmRSS after a run MiB (median, max)"}};
  // --crash: what the next start replayed after this server was killed.
  const bool crashes = std::any_of(res.sizes.begin(), res.sizes.end(), [](const ScaleSize& s) {
    return std::any_of(s.budgets.begin(), s.budgets.end(),
                       [](const BudgetRun& b) { return !b.crash_replayed.empty(); });
  });
  if (crashes) {
    t[0].push_back("after its SIGKILL: transactions replayed (median, min–max)");
    t[0].push_back("the next start s (median, min–max)");
  }
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped || s.budgets.empty()) {
      continue;
    }
    const StoreRun& e = s.empty_beside_budgets;
    t.push_back({"empty, for " + Count(s.certificates), "default",
                 s.budgets.front().server.empty() ? "" : "A", Spread(e.issuance_rates, Rate),
                 "1.00", Millis(Median(e.issuance_p99)),
                 Format("%.3f", Median(e.server_cpu_per_cert) * 1000),
                 Format("%.0f", Median(e.dirtied_per_cert) / 1024), "-"});
    if (crashes) {
      t.back().push_back("-");
      t.back().push_back("-");
    }
    for (const BudgetRun& b : s.budgets) {
      const StoreRun& r = b.run;
      std::vector<double> rss(b.vm_rss_bytes.begin(), b.vm_rss_bytes.end());
      const double max_rss = rss.empty() ? 0 : *std::max_element(rss.begin(), rss.end());
      t.push_back({"loaded " + Count(s.certificates),
                   b.mapped_mib == 0 ? "default" : std::to_string(b.mapped_mib), b.server,
                   Spread(r.issuance_rates, Rate),
                   Format("%.2f", Ratio(Median(r.issuance_rates), Median(e.issuance_rates))),
                   Millis(Median(r.issuance_p99)),
                   Format("%.3f", Median(r.server_cpu_per_cert) * 1000),
                   Format("%.0f", Median(r.dirtied_per_cert) / 1024),
                   MiB(static_cast<uint64_t>(Median(rss))) + " (" +
                       MiB(static_cast<uint64_t>(max_rss)) + ")"});
      if (crashes) {
        t.back().push_back(Spread(b.crash_replayed, [](double v) { return Format("%.0f", v); }));
        t.back().push_back(Spread(b.crash_start_seconds, Secs));
      }
    }
  }
  return t;
}

bool HasBudgets(const ScaleResults& res) {
  return std::any_of(res.sizes.begin(), res.sizes.end(),
                     [](const ScaleSize& s) { return !s.skipped && !s.budgets.empty(); });
}

nlohmann::json MemoryJson(const ProcessMemory& m) {
  return {{"vm_rss_bytes", m.vm_rss},
          {"vm_hwm_bytes", m.vm_hwm},
          {"rss_anon_bytes", m.rss_anon},
          {"rss_file_bytes", m.rss_file}};
}

nlohmann::json RunJson(const StoreRun& r) {
  return {
      {"stored_certificates", r.stored},
      {"start_s", {{"median", Median(r.start_seconds)}, {"runs", r.start_seconds}}},
      {"port_in_log_s", r.port_seconds},
      {"query",
       {{"first_s", r.first_query_seconds},
        {"p50_s", QueryP50(r)},
        {"p99_s", QueryP99(r)},
        {"runs_s", r.query_seconds},
        {"results", r.query_results}}},
      {"issuance",
       {{"certs_per_s", {{"median", Median(r.issuance_rates)}, {"runs", r.issuance_rates}}},
        {"p50_s", Median(r.issuance_p50)},
        {"p99_s", Median(r.issuance_p99)},
        {"server_cpu_s_per_cert", Median(r.server_cpu_per_cert)},
        {"minor_faults_per_cert",
         {{"median", Median(r.faults_per_cert)}, {"runs", r.faults_per_cert}}},
        {"page_cache_dirtied_bytes_per_cert",
         {{"median", Median(r.dirtied_per_cert)}, {"runs", r.dirtied_per_cert}}},
        {"store_writer",
         {{"writes_per_commit",
           {{"median", Median(r.writes_per_commit)}, {"runs", r.writes_per_commit}}},
          {"commit_s", {{"median", Median(r.commit_seconds)}, {"runs", r.commit_seconds}}},
          {"apply_s_per_write",
           {{"median", Median(r.apply_seconds_per_write)}, {"runs", r.apply_seconds_per_write}}},
          {"log_s", {{"median", Median(r.log_seconds)}, {"runs", r.log_seconds}}},
          {"checkpoints", {{"median", Median(r.checkpoints)}, {"runs", r.checkpoints}}},
          {"checkpoint_s",
           {{"median", Median(r.checkpoint_seconds)}, {"runs", r.checkpoint_seconds}}}}},
        {"issued", r.issued},
        {"failed", r.issue_failures}}},
      {"memory_after_runs", MemoryJson(r.memory)},
      {"memory_idle", MemoryJson(r.memory_idle)},
      {"healthz_s", {{"p50", Quantile(r.healthz_seconds, 0.5)}, {"runs", r.healthz_seconds}}},
      {"metrics_s", {{"p50", Quantile(r.metrics_seconds, 0.5)}, {"runs", r.metrics_seconds}}},
      {"memory_after_metrics", MemoryJson(r.memory_after_metrics)},
      {"db_du_bytes", r.db_disk_bytes},
      {"data_mdb_bytes", r.data_mdb_bytes}};
}

std::string Header(const ScaleResults& res) {
  const Environment& env = res.env;
  std::string md = "# hostca scale benchmark, " + env.date + "\n\n";
  md += "- machine: " + std::to_string(env.nproc) + " CPUs, " + env.cpu_model + ", " + env.kernel +
        "\n";
  md += "- OpenSSL library in hostca and the load generator: " + env.openssl_library + "\n";
  md += "- hostca commit: " + (env.git_commit.empty() ? "unknown" : env.git_commit) + "\n";
  md += "- command: `" + env.command_line + "`\n";
  md += "- inventory query: `GET /v1/certs?expires_before=<now+" +
        std::to_string(res.query_window_seconds / 86400) +
        "d>&limit=" + std::to_string(res.query_limit) +
        "` on one kept-alive HTTPS connection; issuance: POST /v1/enroll, keep-alive, C=" +
        std::to_string(res.connections) + ", " + std::to_string(res.requests_per_run) +
        " requests per run\n\n";
  return md;
}

}  // namespace

namespace {

// Each part of an issuance in the empty and the loaded store's profile,
// with its share and what it costs per certificate at that server's median
// (unprofiled) CPU per certificate.
StringTable ProfileTable(const ScaleSize& s) {
  const double empty_cpu = Median(s.empty.server_cpu_per_cert);
  const double loaded_cpu = Median(s.loaded.server_cpu_per_cert);
  StringTable t = {{"part of the server's work", "empty share", "loaded share", "empty us/cert",
                    "loaded us/cert"}};
  const std::vector<ProfilePart>& e = s.empty_profile.parts;
  const std::vector<ProfilePart>& l = s.loaded_profile.parts;
  for (size_t i = 0; i < e.size() && i < l.size(); ++i) {
    t.push_back({e[i].part, Format("%.1f%%", e[i].share * 100), Format("%.1f%%", l[i].share * 100),
                 Format("%.0f", e[i].share * empty_cpu * 1e6),
                 Format("%.0f", l[i].share * loaded_cpu * 1e6)});
  }
  return t;
}

std::string ProfileSection(const ScaleResults& res) {
  std::string md;
  for (const ScaleSize& s : res.sizes) {
    if (s.skipped) {
      continue;
    }
    const std::string why = !s.empty_profile.not_taken.empty()    ? s.empty_profile.not_taken
                            : !s.loaded_profile.not_taken.empty() ? s.loaded_profile.not_taken
                                                                  : "";
    if (!why.empty()) {
      md += "- " + Count(s.certificates) + ": no profile: " + why + "\n";
      continue;
    }
    if (s.empty_profile.parts.empty() || s.loaded_profile.parts.empty()) {
      continue;
    }
    md += "\n### " + Count(s.certificates) + "\n\nEmpty: " + s.empty_profile.samples +
          "; loaded: " + s.loaded_profile.samples + ".\n\n" + RenderMarkdown(ProfileTable(s), 1);
  }
  if (md.empty()) {
    return "";
  }
  return "\n## Where the servers' CPU goes, empty and loaded\n\n"
         "One more issuance run of each server under `perf record` (not in the figures above); "
         "the parts are those of issuance_bench's profile (bench/README.md). us/cert applies a "
         "share to that server's median server CPU per certificate: where the loaded store's "
         "certificates cost more is where its ratio is lost.\n" +
         md;
}

}  // namespace

std::string ScaleTextTable(const ScaleResults& res) {
  std::string text = RenderText(FiguresTable(res)) + "\n" + RenderText(WriterTable(res)) + "\n" +
                     RenderText(TargetsTable(res)) + "\n" + RenderText(LoadTable(res)) + "\n" +
                     RenderText(OtherEndpointsTable(res));
  if (HasDisk(res)) {
    text += "\n" + RenderText(DiskTable(res));
  }
  if (HasReads(res)) {
    text += "\n" + RenderText(ReadsTable(res));
  }
  if (HasBudgets(res)) {
    text += "\n" + RenderText(BudgetTable(res));
  }
  return text;
}

std::string ScaleMarkdownReport(const ScaleResults& res) {
  std::string md = Header(res);
  md += "## Against the empty store and issue 5's targets\n\n";
  md +=
      "The targets are stated for 10M stored certificates; they are checked at every size. "
      "Issuance is the median certificates per second of the loaded store's server divided by "
      "that of an empty store's server running beside it (runs alternate); start is the median "
      "time from the exec of "
      "`hostca-server serve` to the first `/healthz` 200; VmRSS is read after the start-ups, "
      "queries and issuance runs, and the peak is the VmHWM the loaded server reached by then "
      "(mostly store pages mapped between two of its looks at them).\n\n";
  md += RenderMarkdown(TargetsTable(res), 1);
  md += "\n## Figures\n\n";
  md +=
      "Each size has two CAs made by `init`: one stays empty, the other gets the bulk load; "
      "both servers run side by side. Query latencies: median and p99 of the timed queries after "
      "one untimed first "
      "query (shown apart: it pays the first touch of the pages it reads).\n\n";
  md += RenderMarkdown(FiguresTable(res), 1);
  md += "\n## The store writer during the issuance runs\n\n";
  md +=
      "From the servers' `/metrics` before and after each run (medians over the runs): group "
      "commits and the writes they carried, the commits' page writes and fsyncs "
      "(`hostca_store_commit_duration_seconds`) and the part of them in the redo log's append and "
      "fdatasync (`hostca_store_log_sync_seconds_total`), the writer's time running the writes "
      "before each commit (`hostca_store_apply_seconds_total`), and the background checkpoints "
      "during a run with their fdatasync of data.mdb (`hostca_store_checkpoints_total`, "
      "`hostca_store_checkpoint_seconds_total`). At 8 connections a commit carries at "
      "most 8 writes, and the requests of a commit wait for it: where the loaded store's "
      "commits take longer, its rate is lower even with the CPU to spare.\n\n";
  md += RenderMarkdown(WriterTable(res), 1);
  if (HasDisk(res)) {
    md += "\n## The disk under the commits\n\n";
    md +=
        "After the servers stopped: as many 4 KB pages as the loaded store's commits wrote "
        "(writes per commit times page cache dirtied per certificate) rewritten in place in "
        "each store's `data.mdb`, then one `fdatasync` timed (median of 50): at random offsets "
        "over the file, as LMDB's copy-on-write scatters a commit's pages over the store, and "
        "as one run, as a sequential log would write them (bench/disk_sync.h).\n\n";
    md += RenderMarkdown(DiskTable(res), 1);
  }
  if (HasReads(res)) {
    md += "\n## Reading a page the server has not mapped\n\n";
    md +=
        "After the servers stopped: random pages of each store's cached `data.mdb`, one in "
        "each of distinct 64 KB windows, read once each through a new read-only shared map "
        "of the file (a page fault each, as when the server's LMDB reads a B-tree page it "
        "has not mapped: a random leaf, a page its budget dropped, a page a commit wrote "
        "elsewhere), as many others with `pread`, and as many others mapped ahead one at a "
        "time with `madvise(MADV_POPULATE_READ)` and then touched (bench/disk_sync.h). The "
        "loaded store's page faults per certificate times the first column is CPU that the "
        "empty store's server does not spend; the last two columns are what mapping the pages "
        "ahead instead of faulting them in could save at most (on a virtual machine whose "
        "hypervisor fills its own page tables on first touch, little).\n\n";
    md += RenderMarkdown(ReadsTable(res), 1);
  }
  md += "\n## Loading and store size\n\n";
  md += RenderMarkdown(LoadTable(res), 1);
  md += "\n## /healthz and /metrics\n\n";
  md += "Read after the figures above, so VmHWM here includes what a /metrics scrape costs.\n\n";
  md += RenderMarkdown(OtherEndpointsTable(res), 1);
  if (HasBudgets(res)) {
    md += "\n## The loaded store at each page budget (`--mapped-mib`) and build (`--server-b`)\n\n";
    md +=
        "After the figures above: the empty store's server runs again, and its issuance runs "
        "alternate with the loaded store's, whose server is started with `storage.mapped_mib` "
        "set to each budget (default: no config file) and, with `--server-b`, from each build "
        "(A: `--server`, B: `--server-b`) before each run and stopped after it (so every run "
        "starts with no store pages mapped; the figures above come from one server that stayed "
        "up). loaded/empty is against the empty store's runs of this phase. VmRSS is read right "
        "after each run. With `--crash` each such server is killed with SIGKILL after its run "
        "instead, and the next start of the loaded store (by whichever server runs next) "
        "replays its redo log: the last two columns are those replays, under the server that "
        "was killed, and that start's time from the exec to the first /healthz 200.\n\n";
    md += RenderMarkdown(BudgetTable(res), 1);
  }
  md += ProfileSection(res);
  if (!res.notes.empty()) {
    md += "\n## Notes\n\n";
    for (const std::string& n : res.notes) {
      md += "- " + n + "\n";
    }
  }
  md += "\nSee bench/README.md for how each figure is taken.\n";
  return md;
}

namespace {

// A timing taken on both stores' files: {"empty": ..., "loaded": ...}, or
// {"error": why} when it was not taken.
template <typename T, typename ToJson>
nlohmann::json BothStoresJson(const std::string& error, const T& empty, const T& loaded,
                              ToJson to_json) {
  if (!error.empty()) {
    return nlohmann::json{{"error", error}};
  }
  return nlohmann::json{{"empty", to_json(empty)}, {"loaded", to_json(loaded)}};
}

}  // namespace

std::string ScaleJsonReport(const ScaleResults& res) {
  const Environment& env = res.env;
  const ScaleTargets target;
  nlohmann::json j;
  j["benchmark"] = "scale";
  j["date"] = env.date;
  j["command"] = env.command_line;
  j["machine"] = {{"nproc", env.nproc}, {"cpu_model", env.cpu_model}, {"kernel", env.kernel}};
  j["versions"] = {{"openssl_library", env.openssl_library},
                   {"hostca_commit", env.git_commit.empty() ? nlohmann::json(nullptr)
                                                            : nlohmann::json(env.git_commit)}};
  j["setup"] = {{"requests_per_run", res.requests_per_run},
                {"connections", res.connections},
                {"query_limit", res.query_limit},
                {"query_window_s", res.query_window_seconds}};
  j["targets"] = {{"issuance_ratio_min", target.issuance_ratio_min},
                  {"query_p50_max_s", target.query_p50_max_seconds},
                  {"start_max_s", target.start_max_seconds},
                  {"rss_max_bytes", target.rss_max_bytes}};
  j["sizes"] = nlohmann::json::array();
  for (const ScaleSize& s : res.sizes) {
    nlohmann::json e = {{"certificates", s.certificates}, {"skipped", s.skipped}};
    if (s.skipped) {
      e["skip_reason"] = s.skip_reason;
      j["sizes"].push_back(e);
      continue;
    }
    const double ratio = IssuanceRatio(s);
    e["reused"] = s.reused;
    e["load"] = {{"seconds", s.load.seconds},
                 {"certs_per_s", s.load.CertsPerSecond()},
                 {"revoked", s.load.revoked},
                 {"updates", s.load.updates},
                 {"commits", s.load.commits},
                 {"close_fdatasync_s", s.load.sync_seconds},
                 {"compacted", s.load.compacted_bytes != 0},
                 {"compact_s", s.load.compact_seconds},
                 {"data_mdb_bytes_before_compact", s.load.loaded_bytes}};
    e["empty"] = RunJson(s.empty);
    e["loaded"] = RunJson(s.loaded);
    auto sync_json = [](const SyncTiming& t) {
      return nlohmann::json{{"file_bytes_spanned", t.span_bytes},
                            {"pages", t.pages},
                            {"scattered_fdatasync_s", t.scattered_seconds},
                            {"contiguous_fdatasync_s", t.contiguous_seconds}};
    };
    e["disk_sync"] = BothStoresJson(s.sync_error, s.empty_sync, s.loaded_sync, sync_json);
    auto read_json = [](const ReadTiming& t) {
      return nlohmann::json{{"file_bytes_spanned", t.span_bytes},
                            {"pages", t.pages},
                            {"map_first_touch_s", t.fault_seconds},
                            {"pread_4k_s", t.pread_seconds},
                            {"populate_one_page_s", t.populate_seconds},
                            {"first_touch_after_populate_s", t.touch_populated_seconds}};
    };
    e["page_reads"] = BothStoresJson(s.read_error, s.empty_reads, s.loaded_reads, read_json);
    if (!s.budgets.empty()) {
      e["empty_beside_budgets"] = RunJson(s.empty_beside_budgets);
      e["budgets"] = nlohmann::json::array();
      for (const BudgetRun& b : s.budgets) {
        e["budgets"].push_back(
            {{"mapped_mib", b.mapped_mib},
             {"server", b.server},
             {"issuance_loaded_over_empty",
              Ratio(Median(b.run.issuance_rates), Median(s.empty_beside_budgets.issuance_rates))},
             {"vm_rss_bytes_after_runs", b.vm_rss_bytes},
             {"crash_replayed_transactions", b.crash_replayed},
             {"crash_next_start_seconds", b.crash_start_seconds},
             {"loaded", RunJson(b.run)}});
      }
    }
    e["ratios"] = {{"issuance_loaded_over_empty", ratio},
                   {"query_p50_loaded_over_empty", Ratio(QueryP50(s.loaded), QueryP50(s.empty))},
                   {"start_loaded_over_empty",
                    Ratio(Median(s.loaded.start_seconds), Median(s.empty.start_seconds))},
                   {"rss_loaded_over_empty", Ratio(static_cast<double>(s.loaded.memory.vm_rss),
                                                   static_cast<double>(s.empty.memory.vm_rss))}};
    for (const auto& [name, p] : {std::pair{"empty_profile", &s.empty_profile},
                                  std::pair{"loaded_profile", &s.loaded_profile}}) {
      nlohmann::json parts = nlohmann::json::array();
      for (const ProfilePart& part : p->parts) {
        parts.push_back(
            {{"part", part.part}, {"share", part.share}, {"measured_as", part.symbols}});
      }
      e[name] = {{"not_taken", p->not_taken}, {"samples", p->samples}, {"parts", parts}};
    }
    e["targets_met"] = {{"issuance", ratio >= target.issuance_ratio_min},
                        {"query", QueryP50(s.loaded) < target.query_p50_max_seconds},
                        {"start", Median(s.loaded.start_seconds) < target.start_max_seconds},
                        {"rss", s.loaded.memory.vm_rss < target.rss_max_bytes}};
    j["sizes"].push_back(e);
  }
  j["notes"] = res.notes;
  return j.dump(2) + "\n";
}

}  // namespace hostca::bench
