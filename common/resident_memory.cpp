#include "common/resident_memory.h"

#include <unistd.h>

#include <cstdio>

namespace hostca {

std::optional<ResidentMemory> ReadResidentMemory() {
  // statm: size resident shared text lib data dt, in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) {
    return std::nullopt;
  }
  unsigned long long size = 0, resident = 0, shared = 0;
  const int n = std::fscanf(f, "%llu %llu %llu", &size, &resident, &shared);
  std::fclose(f);
  if (n != 3 || shared > resident) {
    return std::nullopt;
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return ResidentMemory{resident * page, shared * page};
}

}  // namespace hostca
