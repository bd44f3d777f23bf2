#include "server/mapped_pages.h"

#include <optional>

#include "common/resident_memory.h"

namespace hostca::server {

uint64_t MappedFileBytes() {
  const std::optional<ResidentMemory> memory = ReadResidentMemory();
  return memory ? memory->shared_bytes : 0;
}

bool ShouldReleaseMappedPages(uint64_t mapped_bytes, uint64_t budget_bytes,
                              std::chrono::steady_clock::duration since_last_release) {
  return mapped_bytes > budget_bytes || since_last_release >= kMappedPagesKeptAtMost;
}

}  // namespace hostca::server
