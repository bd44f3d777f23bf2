// FailureRateLimiter: counts failed token attempts per source address
// (DESIGN.md section 5) and refuses further attempts from an address that
// failed `max_failures` times within `window_seconds`.
//
// Thread-safe (one mutex; called only on the token path, never while signing).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/status.h"

namespace hostca::enrollment {

struct RateLimitOptions {
  int max_failures = 10;  // failed attempts allowed per window
  int64_t window_seconds = 60;
};

class FailureRateLimiter {
 public:
  FailureRateLimiter(const Clock& clock, RateLimitOptions options)
      : clock_(clock), options_(options) {}

  // OK, or resource_exhausted with reason "rate_limited"; *retry_after is
  // then the seconds until the oldest counted failure leaves the window.
  Status Check(const std::string& source, int64_t* retry_after);
  void RecordFailure(const std::string& source);

 private:
  void Prune(std::deque<int64_t>& times, int64_t now) const;

  const Clock& clock_;
  const RateLimitOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<int64_t>> failures_;  // GUARDED_BY(mu_)
};

}  // namespace hostca::enrollment
