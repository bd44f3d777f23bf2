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

}  // namespace
}  // namespace hostca::server
