#include "storage/internal/single_page_faults.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "common/resident_memory.h"
#include "tests/testutil.h"

namespace hostca::storage::internal {
namespace {

// File-backed pages mapped into this process.
long MappedFilePages() {
  const std::optional<ResidentMemory> memory = ReadResidentMemory();
  REQUIRE(memory);
  return static_cast<long>(memory->shared_bytes / static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
}

// A read-only shared map of a 4 MiB file whose pages are all in the page
// cache (just written), as the store's map is.
struct CachedFileMap {
  hostca::testing::TempDir dir;
  static constexpr size_t kSize = 4u << 20;
  int fd = -1;
  char* map = nullptr;
  CachedFileMap() {
    fd = ::open(dir.Sub("data").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string chunk(64 * 1024, 'x');
    for (size_t at = 0; at < kSize; at += chunk.size()) {
      REQUIRE(::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(at)) ==
              static_cast<ssize_t>(chunk.size()));
    }
    void* p = ::mmap(nullptr, kSize, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    map = static_cast<char*>(p);
  }
  ~CachedFileMap() {
    ::munmap(map, kSize);
    ::close(fd);
  }
  std::vector<std::pair<uintptr_t, uintptr_t>> Range() const {
    const auto begin = reinterpret_cast<uintptr_t>(map);
    return {{begin, begin + kSize}};
  }
  // Reads one byte of each of `n` pages 64 pages apart (beyond any
  // fault-around window) and returns how many pages that mapped.
  long TouchSpreadPages(int n) const {
    const long before = MappedFilePages();
    volatile char sum = 0;
    for (int i = 0; i < n; ++i) {
      sum = static_cast<char>(sum + map[static_cast<size_t>(i) * 64 * 4096]);
    }
    return MappedFilePages() - before;
  }
};

TEST_CASE("an armed map takes one page per read fault, and reads the same bytes") {
  CachedFileMap plain;
  const long plain_pages = plain.TouchSpreadPages(16);
  CachedFileMap armed;
  SinglePageFaults faults;
  if (!faults.Arm(armed.Range())) {
    WARN(
        "this kernel refuses a write-protect userfaultfd with WP_ASYNC (Linux < 6.7, or no "
        "userfaultfd): the store's map keeps the kernel's fault-around");
    REQUIRE_FALSE(faults.armed());
    REQUIRE_FALSE(faults.Arm(armed.Range()));  // not asked again
    return;
  }
  REQUIRE(faults.armed());
  const long armed_pages = armed.TouchSpreadPages(16);
  INFO("16 reads mapped " << plain_pages << " pages unarmed, " << armed_pages << " armed");
  // Exactly one each, give or take a page of the test's own code.
  REQUIRE(armed_pages >= 16);
  REQUIRE(armed_pages <= 18);
  // The map reads what the file holds, and can be dropped and read again.
  REQUIRE(armed.map[12345] == 'x');
  REQUIRE(::madvise(armed.map, CachedFileMap::kSize, MADV_DONTNEED) == 0);
  REQUIRE(armed.map[CachedFileMap::kSize - 1] == 'x');
}

TEST_CASE("a map that moved is armed again; nothing is armed without ranges") {
  SinglePageFaults faults;
  REQUIRE_FALSE(faults.Arm({}));
  CachedFileMap first;
  if (!faults.Arm(first.Range())) {
    WARN("no write-protect userfaultfd with WP_ASYNC on this kernel");
    return;
  }
  CachedFileMap second;  // as after the store's map grew
  REQUIRE(faults.Arm(second.Range()));
  const long pages = second.TouchSpreadPages(8);
  REQUIRE(pages >= 8);
  REQUIRE(pages <= 10);
}

}  // namespace
}  // namespace hostca::storage::internal
