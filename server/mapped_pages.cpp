#include "server/mapped_pages.h"

#include <unistd.h>

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

}  // namespace hostca::server
