#include "enrollment/rate_limiter.h"

namespace hostca::enrollment {

void FailureRateLimiter::Prune(std::deque<int64_t>& times, int64_t now) const {
  while (!times.empty() && times.front() <= now - options_.window_seconds) {
    times.pop_front();
  }
}

Status FailureRateLimiter::Check(const std::string& source, int64_t* retry_after) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(source);
  if (it == failures_.end()) {
    return Status::Ok();
  }
  Prune(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return Status::Ok();
  }
  if (static_cast<int>(it->second.size()) < options_.max_failures) {
    return Status::Ok();
  }
  *retry_after = std::max<int64_t>(1, it->second.front() + options_.window_seconds - now);
  return ResourceExhausted("too many failed token attempts from " + source + "; retry in " +
                               std::to_string(*retry_after) + " s",
                           "rate_limited");
}

void FailureRateLimiter::RecordFailure(const std::string& source) {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(mu_);
  auto& times = failures_[source];
  Prune(times, now);
  times.push_back(now);
  // Bound memory under a flood from many addresses: drop idle entries.
  if (failures_.size() > 100000) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      Prune(it->second, now);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
  }
}

}  // namespace hostca::enrollment
