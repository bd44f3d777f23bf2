#include "server/mapped_pages.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace hostca::server {

uint64_t MappedFileBytes() {
  // statm: size resident shared text lib data dt, in pages. One small read;
  // status would format some fifty lines.
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) {
    return 0;
  }
  unsigned long long size = 0, resident = 0, shared = 0;
  const int n = std::fscanf(f, "%llu %llu %llu", &size, &resident, &shared);
  std::fclose(f);
  if (n != 3) {
    return 0;
  }
  return static_cast<uint64_t>(shared) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

bool ShouldReleaseMappedPages(uint64_t mapped_bytes, uint64_t budget_bytes,
                              std::chrono::steady_clock::duration since_last_release) {
  return mapped_bytes > budget_bytes || since_last_release >= kMappedPagesKeptAtMost;
}

std::chrono::steady_clock::duration MappedPagesPacer::Next(
    uint64_t mapped_bytes, std::chrono::steady_clock::time_point now) {
  using std::chrono::duration;
  using std::chrono::steady_clock;
  if (last_ != steady_clock::time_point{} && now > last_ && mapped_bytes > last_bytes_) {
    const double seconds = duration<double>(now - last_).count();
    const double rate = static_cast<double>(mapped_bytes - last_bytes_) / seconds;
    if (rate > static_cast<double>(fastest_)) {
      fastest_ = static_cast<uint64_t>(std::min(rate, 1e12));  // looks a nanosecond apart
    }
  }
  last_bytes_ = mapped_bytes;
  last_ = now;
  if (mapped_bytes >= budget_) {
    return kMappedPagesLookSoonest;
  }
  const duration<double> to_budget(static_cast<double>(budget_ - mapped_bytes) /
                                   static_cast<double>(fastest_));
  return std::clamp(
      steady_clock::duration(std::chrono::round<std::chrono::microseconds>(to_budget)),
      steady_clock::duration(kMappedPagesLookSoonest),
      steady_clock::duration(kMappedPagesLookLatest));
}

}  // namespace hostca::server
