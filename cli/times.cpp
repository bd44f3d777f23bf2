#include "cli/times.h"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace hostca::cli {
namespace {

// Seconds per unit letter; 0 for anything else.
int64_t UnitSeconds(char unit) {
  switch (unit) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    default:
      return 0;
  }
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgument("bad duration '" + std::string(text) +
                               "': use seconds or a number with s, m, h or d (90s, 15m, 48h, 7d)",
                           "bad_duration");
  };
  if (text.empty()) {
    return bad();
  }
  std::string_view digits = text;
  int64_t unit = UnitSeconds(text.back());
  if (unit != 0) {
    digits.remove_suffix(1);
  } else {
    unit = 1;  // plain seconds
  }
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad();
  }
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  constexpr int64_t kMax = 100LL * 366 * 86400;
  if (ec != std::errc() || end != digits.data() + digits.size() || value <= 0 ||
      value > kMax / unit) {
    return bad();
  }
  return value * unit;
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 0) {
    return "-" + FormatDuration(-seconds);
  }
  const int64_t d = seconds / 86400;
  const int64_t h = seconds % 86400 / 3600;
  const int64_t m = seconds % 3600 / 60;
  const int64_t s = seconds % 60;
  if (d > 0) {
    return std::to_string(d) + "d " + std::to_string(h) + "h";
  }
  if (h > 0) {
    return std::to_string(h) + "h " + std::to_string(m) + "m";
  }
  if (m > 0) {
    return std::to_string(m) + "m " + std::to_string(s) + "s";
  }
  return std::to_string(s) + "s";
}

Result<int64_t> ParseHttpDate(std::string_view text) {
  const std::string copy(text);
  struct tm tm {};
  const char* end = strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return InvalidArgument("bad HTTP date '" + copy + "'", "bad_date");
  }
  return static_cast<int64_t>(timegm(&tm));
}

int64_t RenewalDueAt(int64_t not_before, int64_t not_after) {
  return not_before + (not_after - not_before) / 2;
}

int64_t BackoffSeconds(int failures, double jitter) {
  constexpr int64_t kFirst = 5;
  constexpr int64_t kMax = 600;
  int64_t base = kFirst;
  for (int i = 1; i < failures && base < kMax; ++i) {
    base *= 2;
  }
  base = std::min(base, kMax);
  jitter = std::clamp(jitter, 0.0, 1.0);
  return base + static_cast<int64_t>(static_cast<double>(base) * 0.2 * jitter);
}

int64_t NextWake(int64_t now, int64_t renewal_due, int64_t crl_due, int64_t max_interval) {
  int64_t next = std::min(renewal_due, crl_due);
  if (max_interval > 0) {
    next = std::min(next, now + max_interval);
  }
  return std::max(next, now + 1);
}

}  // namespace hostca::cli
