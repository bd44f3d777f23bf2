// How much of this process is in memory, from /proc/self/statm: one small
// read (about 15 us), where /proc/self/status would format some fifty lines.
// Used by the server to bound the store pages it keeps mapped, and by the
// benchmarks and tests that count pages.
#pragma once

#include <cstdint>
#include <optional>

namespace hostca {

struct ResidentMemory {
  uint64_t resident_bytes = 0;  // VmRSS
  uint64_t shared_bytes = 0;    // RssFile + RssShmem: mapped files and shared memory
  uint64_t anonymous_bytes() const { return resident_bytes - shared_bytes; }  // RssAnon
};

// Empty when /proc/self/statm cannot be read or makes no sense.
std::optional<ResidentMemory> ReadResidentMemory();

}  // namespace hostca
