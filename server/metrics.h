// Metrics: counters and latency histograms for GET /metrics, rendered in the
// Prometheus text format (DESIGN.md section 10).
//
// Thread-safe: counters are atomics; the per-reason and per-route maps take a
// mutex (only on refusals and at the end of a request, never while signing).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "storage/records.h"

namespace hostca::server {

class Metrics {
 public:
  static constexpr std::array<double, 12> kLatencyBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

  void CountIssued() { issued_.fetch_add(1, std::memory_order_relaxed); }
  void CountRenewed() { renewed_.fetch_add(1, std::memory_order_relaxed); }
  void CountReissued() { reissued_.fetch_add(1, std::memory_order_relaxed); }
  void CountRevoked(uint64_t n = 1) { revoked_.fetch_add(n, std::memory_order_relaxed); }
  void CountRefused(const std::string& reason);
  void ObserveRequest(const std::string& route, int status, double seconds);
  // Scheduled backups: one written at `unix_seconds`, or one that failed.
  void CountBackupWritten(int64_t unix_seconds) {
    backups_written_.fetch_add(1, std::memory_order_relaxed);
    last_backup_.store(unix_seconds, std::memory_order_relaxed);
  }
  void CountBackupFailed() { backup_failures_.fetch_add(1, std::memory_order_relaxed); }

  // Everything above plus the gauges the caller reads at scrape time.
  struct Gauges {
    storage::StorageStats store;
    uint64_t tokens_active = 0;
    uint64_t hosts = 0;
    std::string mode = "internal";  // the domain mode (DESIGN.md section 7)
    bool external = false;          // an [external] trust bundle is configured
    uint64_t external_certs = 0;    // stored external certificate records
    uint64_t external_crl_downloads = 0, external_crl_download_failures = 0,
             external_crl_cache_hits = 0;
    // A listener's HTTP worker pool (worker_pool.h), read at scrape time.
    struct Workers {
      std::string listener;  // "https" or "http"
      uint64_t max_threads = 0, threads = 0, busy = 0, queued = 0, peak_threads = 0,
               thread_starts = 0, start_failures = 0;
      uint64_t idle_closed = 0;  // beyond server.max_idle_connections
      uint64_t unwatched = 0;    // plain HTTP: served without a deadline
    };
    std::vector<Workers> workers;
  };
  std::string Render(const Gauges& gauges) const;

 private:
  struct Histogram {
    std::array<uint64_t, kLatencyBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  std::atomic<uint64_t> issued_{0}, renewed_{0}, reissued_{0}, revoked_{0};
  std::atomic<uint64_t> backups_written_{0}, backup_failures_{0};
  std::atomic<int64_t> last_backup_{0};  // Unix seconds; 0 = none since start
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> refused_;                   // GUARDED_BY(mu_)
  std::map<std::string, Histogram> latency_;                  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
};

}  // namespace hostca::server
