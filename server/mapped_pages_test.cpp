#include "server/mapped_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "tests/testutil.h"

namespace hostca::server {
namespace {

using namespace std::chrono_literals;

TEST_CASE("MappedFileBytes counts the file pages this process maps") {
  // A file in the page cache, mapped and read page by page, then unmapped.
  hostca::testing::TempDir dir;
  const std::string path = dir.Sub("data");
  constexpr size_t kSize = 8 << 20;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const std::string chunk(1 << 20, 'x');
  for (size_t off = 0; off < kSize; off += chunk.size()) {
    REQUIRE(pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) ==
            static_cast<ssize_t>(chunk.size()));
  }
  void* map = mmap(nullptr, kSize, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  const uint64_t before = MappedFileBytes();
  REQUIRE(before > 0);  // at least the test binary
  volatile char sum = 0;
  for (size_t off = 0; off < kSize; off += 4096) {
    sum = static_cast<char>(sum + static_cast<const char*>(map)[off]);
  }
  const uint64_t touched = MappedFileBytes();
  REQUIRE(touched >= before + kSize - (64 << 10));
  REQUIRE(munmap(map, kSize) == 0);
  REQUIRE(MappedFileBytes() + kSize / 2 < touched);
  close(fd);
}

TEST_CASE("mapped store pages are dropped over budget, and every second anyway") {
  constexpr uint64_t kBudget = 128ull << 20;
  REQUIRE_FALSE(ShouldReleaseMappedPages(kBudget, kBudget, 100ms));
  REQUIRE(ShouldReleaseMappedPages(kBudget + 1, kBudget, 0ms));
  REQUIRE(ShouldReleaseMappedPages(0, kBudget, 1s));
  REQUIRE_FALSE(ShouldReleaseMappedPages(0, kBudget, 999ms));
}

TEST_CASE("the looks at the mapped pages come sooner as they near the budget") {
  using std::chrono::steady_clock;
  constexpr uint64_t kMiB = 1ull << 20;
  constexpr uint64_t kBudget = 128 * kMiB;
  const steady_clock::time_point t0 = steady_clock::time_point{} + 1h;
  MappedPagesPacer pacer(kBudget);
  // Idle, with nothing mapped: 128 MiB at the assumed 1 GiB/s is 125 ms,
  // not the 10 ms of a server under load.
  REQUIRE(pacer.Next(0, t0) == 125ms);
  REQUIRE(pacer.Next(0, t0 + 125ms) == 125ms);
  // Growing at the assumed rate: the wait is the time left to the budget.
  REQUIRE(pacer.Next(64 * kMiB, t0 + 187500us) == 62500us);
  // Near and over the budget: the shortest wait.
  REQUIRE(pacer.Next(kBudget - kMiB, t0 + 250ms) == kMappedPagesLookSoonest);
  REQUIRE(pacer.Next(kBudget + kMiB, t0 + 260ms) == kMappedPagesLookSoonest);
  REQUIRE(pacer.fastest_growth() == kMappedGrowthAssumed);
  // After a release, growth faster than assumed (40 MiB in 10 ms, 4000 MiB/s)
  // is remembered: the waits shorten to match, also from then on.
  REQUIRE(pacer.Next(0, t0 + 270ms) == 125ms);
  REQUIRE(pacer.Next(40 * kMiB, t0 + 280ms) == 22ms);  // 88 MiB left
  REQUIRE(pacer.fastest_growth() == 4000 * kMiB);
  REQUIRE(pacer.Next(0, t0 + 290ms) == 32ms);
  // Shrinking mapped pages say nothing of the growth.
  REQUIRE(pacer.Next(0, t0 + 300ms) == 32ms);
}

TEST_CASE("a large budget is still looked at four times a second") {
  MappedPagesPacer pacer(1ull << 40);
  REQUIRE(pacer.Next(0, std::chrono::steady_clock::time_point{} + 1h) == kMappedPagesLookLatest);
}

}  // namespace
}  // namespace hostca::server
