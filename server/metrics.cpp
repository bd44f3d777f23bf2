#include "server/metrics.h"

#include <sstream>

namespace hostca::server {

void Metrics::CountRefused(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++refused_[reason];
}

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      ++h.buckets[i];
    }
  }
  ++h.count;
  h.sum += seconds;
  ++requests_[{route, status}];
}

std::string Metrics::Render(const Gauges& g) const {
  std::ostringstream out;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
        << name << " " << v << "\n";
  };
  auto gauge = [&](const char* name, const char* help, uint64_t v) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
        << name << " " << v << "\n";
  };
  counter("hostca_certificates_issued_total", "Certificates issued at first enrollment.",
          issued_.load());
  counter("hostca_certificates_renewed_total", "Certificates issued by renewal.", renewed_.load());
  counter("hostca_certificates_reissued_total", "Certificates issued by reissue.",
          reissued_.load());
  counter("hostca_certificates_revoked_total", "Certificates revoked.", revoked_.load());
  counter("hostca_backups_written_total", "Scheduled backups written.", backups_written_.load());
  counter("hostca_backup_failures_total", "Scheduled backups that failed.",
          backup_failures_.load());
  gauge("hostca_backup_last_success_timestamp_seconds",
        "Unix time of the last scheduled backup written (0: none since start).",
        static_cast<uint64_t>(last_backup_.load()));
  gauge("hostca_tokens_active", "Authorization tokens that can still be used.", g.tokens_active);
  gauge("hostca_hosts", "Known hosts.", g.hosts);
  out << "# HELP hostca_mode The domain mode (1 for the current one).\n# TYPE hostca_mode gauge\n";
  for (const char* mode : {"internal", "mixed", "external"}) {
    out << "hostca_mode{mode=\"" << mode << "\"} " << (g.mode == mode ? 1 : 0) << "\n";
  }
  if (g.external) {
    gauge("hostca_external_certificates", "Enrolled external certificates.", g.external_certs);
    counter("hostca_external_crl_downloads_total",
            "External CRLs downloaded from distribution points.", g.external_crl_downloads);
    counter("hostca_external_crl_download_failures_total", "Failed downloads of external CRLs.",
            g.external_crl_download_failures);
    counter("hostca_external_crl_cache_hits_total", "External CRL lookups answered from the cache.",
            g.external_crl_cache_hits);
  }
  // One series per listener. busy counts the connections being served,
  // idle kept-alive ones included: at max they are all the listener
  // serves, and queued ones wait for a thread.
  const auto per_listener = [&](const char* name, const char* type, const char* help,
                                uint64_t Gauges::Workers::*field) {
    if (g.workers.empty()) {
      return;
    }
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const Gauges::Workers& w : g.workers) {
      out << name << "{listener=\"" << w.listener << "\"} " << w.*field << "\n";
    }
  };
  per_listener("hostca_http_worker_threads_max", "gauge",
               "Most connections a listener serves at once (server.threads).",
               &Gauges::Workers::max_threads);
  per_listener("hostca_http_worker_threads", "gauge",
               "HTTP worker threads alive (one per connection served, and idle ones).",
               &Gauges::Workers::threads);
  per_listener("hostca_http_worker_threads_peak", "gauge",
               "Most HTTP worker threads alive at once since the listener started.",
               &Gauges::Workers::peak_threads);
  per_listener("hostca_http_connections_served", "gauge",
               "Connections a worker is serving, kept-alive idle ones included.",
               &Gauges::Workers::busy);
  per_listener("hostca_http_connections_queued", "gauge",
               "Accepted connections waiting for a worker thread.", &Gauges::Workers::queued);
  per_listener("hostca_http_worker_thread_starts_total", "counter", "HTTP worker threads started.",
               &Gauges::Workers::thread_starts);
  per_listener("hostca_http_worker_thread_start_failures_total", "counter",
               "HTTP worker threads the system refused to start.",
               &Gauges::Workers::start_failures);
  per_listener("hostca_http_idle_connections_closed_total", "counter",
               "Connections closed while idle because more than server.max_idle_connections "
               "were.",
               &Gauges::Workers::idle_closed);
  per_listener("hostca_http_unwatched_connections_total", "counter",
               "Plain-HTTP connections served without a request deadline or idle limit, because "
               "the server could not tell their socket among its descriptors (0 for HTTPS, "
               "watched through TLS).",
               &Gauges::Workers::unwatched);
  gauge("hostca_store_certificates", "Certificate records in the store.", g.store.cert_count);
  gauge("hostca_store_map_bytes", "Size of the LMDB map.", g.store.map_size_bytes);
  gauge("hostca_store_single_page_faults",
        "1 when a read of the store maps one page, not its neighbours (Linux 6.7+).",
        g.store.single_page_faults ? 1 : 0);
  gauge("hostca_store_used_bytes", "Bytes of the LMDB map in use.", g.store.used_bytes);
  gauge("hostca_store_free_bytes",
        "Bytes of the used map on LMDB's freelist, free for commits to reuse.", g.store.free_bytes);
  counter("hostca_store_commits_total", "Group commits (durable transactions).", g.store.commits);
  counter("hostca_store_writes_total", "Writes committed through group commit.", g.store.writes);
  counter("hostca_store_failed_commits_total", "Group commits that failed.",
          g.store.failed_commits);
  // A histogram from per-bucket counts (not cumulative) under the upper
  // bounds `le`; a bucket past the last bound is +Inf.
  const auto histogram = [&out](const char* name, const char* help, const auto& le,
                                const auto& counts, uint64_t count, auto sum) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      out << name << "_bucket{le=\"";
      if (i < le.size()) {
        out << le[i];
      } else {
        out << "+Inf";
      }
      out << "\"} " << cumulative << "\n";
    }
    out << name << "_count " << count << "\n" << name << "_sum " << sum << "\n";
  };
  static constexpr std::array<const char*, 7> kBatchLe = {"1", "3", "7", "15", "31", "63", "127"};
  histogram("hostca_store_batch_size", "Writes per group commit.", kBatchLe,
            g.store.batch_histogram, g.store.commits, g.store.writes);
  histogram("hostca_store_commit_duration_seconds",
            "Time of each group commit's page writes and fsyncs.",
            storage::StorageStats::kCommitSecondsLe, g.store.commit_seconds_histogram,
            g.store.commits, g.store.commit_seconds);
  out << "# HELP hostca_store_apply_seconds_total Time the store writer spent running the writes "
         "of committed batches, before their commits.\n"
      << "# TYPE hostca_store_apply_seconds_total counter\n"
      << "hostca_store_apply_seconds_total " << g.store.apply_seconds << "\n";
  counter("hostca_store_checkpoints_total",
          "Redo log checkpoints made durable (storage.redo_log; 0 without it).",
          g.store.checkpoints);
  out << "# HELP hostca_store_checkpoint_seconds_total Time of the durable redo log checkpoints, "
         "from start to durable.\n"
      << "# TYPE hostca_store_checkpoint_seconds_total counter\n"
      << "hostca_store_checkpoint_seconds_total " << g.store.checkpoint_seconds << "\n";
  counter("hostca_store_writebacks_total",
          "Writebacks of the store's dirty pages started between redo log checkpoints "
          "(storage.writeback_ms; 0 without the log).",
          g.store.writebacks);
  counter("hostca_store_log_appends_total",
          "Group commits appended to the redo log and synced (0 without it).", g.store.log_appends);
  out << "# HELP hostca_store_log_sync_seconds_total Time of the redo log's appends and their "
         "fdatasync: the part of hostca_store_commit_duration_seconds before LMDB's own commit.\n"
      << "# TYPE hostca_store_log_sync_seconds_total counter\n"
      << "hostca_store_log_sync_seconds_total " << g.store.log_seconds << "\n";
  gauge("hostca_store_replayed_transactions",
        "Transactions the store's open replayed from its redo log after a crash.",
        g.store.replayed);
  gauge("hostca_store_writes_stopped",
        "1 once the store stopped writing after a failed write or sync of its redo log or a "
        "failed checkpoint (every write then fails until a restart; /healthz answers 503).",
        g.store.writes_stopped ? 1 : 0);

  std::lock_guard<std::mutex> lock(mu_);
  out << "# HELP hostca_refused_total Requests refused, by error code.\n"
      << "# TYPE hostca_refused_total counter\n";
  for (const auto& [reason, n] : refused_) {
    out << "hostca_refused_total{code=\"" << reason << "\"} " << n << "\n";
  }
  out << "# HELP hostca_requests_total HTTP requests by route and status.\n"
      << "# TYPE hostca_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out << "hostca_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} "
        << n << "\n";
  }
  out << "# HELP hostca_request_duration_seconds Request latency by route.\n"
      << "# TYPE hostca_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out << "hostca_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
          << kLatencyBuckets[i] << "\"} " << h.buckets[i] << "\n";
    }
    out << "hostca_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} "
        << h.count << "\n"
        << "hostca_request_duration_seconds_sum{route=\"" << route << "\"} " << h.sum << "\n"
        << "hostca_request_duration_seconds_count{route=\"" << route << "\"} " << h.count << "\n";
  }
  return out.str();
}

}  // namespace hostca::server
