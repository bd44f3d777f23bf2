#include "server/metrics.h"

#include <catch2/catch.hpp>

namespace hostca::server {
namespace {

TEST_CASE("metrics render the store's commit histogram cumulatively, with +Inf and its sum") {
  Metrics m;
  Metrics::Gauges g;
  g.store.commits = 6;
  g.store.writes = 20;
  g.store.batch_histogram = {1, 2, 3, 0, 0, 0, 0, 0};
  // 0.3 ms, two of 0.8 ms, 3 ms, 50 ms and 2 s.
  g.store.commit_seconds_histogram = {1, 2, 0, 1, 0, 0, 0, 1, 0, 1};
  g.store.commit_seconds = 2.0537;
  g.store.apply_seconds = 0.25;
  const std::string out = m.Render(g);
  CHECK_THAT(out, Catch::Contains("# TYPE hostca_store_commit_duration_seconds histogram\n"));
  CHECK_THAT(out, Catch::Contains("hostca_store_commit_duration_seconds_bucket{le=\"0.0005\"} 1\n"
                                  "hostca_store_commit_duration_seconds_bucket{le=\"0.001\"} 3\n"
                                  "hostca_store_commit_duration_seconds_bucket{le=\"0.002\"} 3\n"
                                  "hostca_store_commit_duration_seconds_bucket{le=\"0.004\"} 4\n"));
  CHECK_THAT(out, Catch::Contains("hostca_store_commit_duration_seconds_bucket{le=\"0.1\"} 5\n"
                                  "hostca_store_commit_duration_seconds_bucket{le=\"1\"} 5\n"
                                  "hostca_store_commit_duration_seconds_bucket{le=\"+Inf\"} 6\n"
                                  "hostca_store_commit_duration_seconds_count 6\n"
                                  "hostca_store_commit_duration_seconds_sum 2.0537\n"));
  CHECK_THAT(out, Catch::Contains("# TYPE hostca_store_apply_seconds_total counter\n"
                                  "hostca_store_apply_seconds_total 0.25\n"));
  CHECK_THAT(out, Catch::Contains("hostca_store_batch_size_bucket{le=\"7\"} 6\n"
                                  "hostca_store_batch_size_bucket{le=\"15\"} 6\n"));
}

TEST_CASE("metrics render each listener's worker pool under one HELP and TYPE") {
  Metrics m;
  Metrics::Gauges g;
  g.workers.push_back({"https", 1024, 40, 35, 2, 70, 90, 1, 7, 0});
  g.workers.push_back({"http", 1024, 16, 0, 0, 16, 16, 0, 3, 2});
  const std::string out = m.Render(g);
  CHECK_THAT(out, Catch::Contains("# TYPE hostca_http_connections_served gauge\n"
                                  "hostca_http_connections_served{listener=\"https\"} 35\n"
                                  "hostca_http_connections_served{listener=\"http\"} 0\n"));
  CHECK_THAT(out, Catch::Contains("hostca_http_worker_threads{listener=\"https\"} 40\n"));
  CHECK_THAT(out, Catch::Contains("hostca_http_worker_threads_peak{listener=\"https\"} 70\n"));
  CHECK_THAT(out, Catch::Contains("hostca_http_connections_queued{listener=\"https\"} 2\n"));
  CHECK_THAT(out,
             Catch::Contains("# TYPE hostca_http_worker_thread_starts_total counter\n"
                             "hostca_http_worker_thread_starts_total{listener=\"https\"} 90\n"));
  CHECK_THAT(out, Catch::Contains(
                      "hostca_http_worker_thread_start_failures_total{listener=\"https\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("hostca_http_worker_threads_max{listener=\"http\"} 1024\n"));
  CHECK_THAT(out,
             Catch::Contains("# TYPE hostca_http_idle_connections_closed_total counter\n"
                             "hostca_http_idle_connections_closed_total{listener=\"https\"} 7\n"
                             "hostca_http_idle_connections_closed_total{listener=\"http\"} 3\n"));
  CHECK_THAT(out,
             Catch::Contains("hostca_http_unwatched_connections_total{listener=\"http\"} 2\n"));
  // Without pools (a server not yet listening) the series are left out.
  CHECK_THAT(m.Render(Metrics::Gauges{}), !Catch::Contains("hostca_http_worker_threads"));
}

}  // namespace
}  // namespace hostca::server
