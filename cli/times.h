// Small time helpers of the `hostca` client: command-line durations, human
// durations, HTTP dates, and the agent's schedule (renewal due time, retry
// backoff, next wake-up). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::cli {

// "90s", "15m", "48h", "7d" or plain seconds ("3600") -> seconds. The value
// must be positive and at most 100 years; invalid_argument ("bad_duration")
// for anything else (empty, signs, spaces, other units, "1h30m").
Result<int64_t> ParseDuration(std::string_view text);

// For people: "2d 3h", "5h 7m", "4m 2s", "42s"; negative values get a "-".
std::string FormatDuration(int64_t seconds);

// An HTTP Date header (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT")
// -> seconds since the epoch; invalid_argument when it does not parse.
Result<int64_t> ParseHttpDate(std::string_view text);

// A host renews once half of its certificate's lifetime has passed.
int64_t RenewalDueAt(int64_t not_before, int64_t not_after);

// Delay before retry number `failures` (1 = after the first failure):
// 5 s doubling up to 10 min, plus `jitter` (0 <= jitter < 1) times 20 % of it.
int64_t BackoffSeconds(int failures, double jitter);

// When the agent wakes up next: the earliest of the renewal and the CRL
// refresh due times, no later than now + max_interval (when max_interval > 0)
// and no earlier than now + 1.
int64_t NextWake(int64_t now, int64_t renewal_due, int64_t crl_due, int64_t max_interval);

}  // namespace hostca::cli
