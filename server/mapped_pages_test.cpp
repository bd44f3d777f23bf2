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

}  // namespace
}  // namespace hostca::server
