#include "server/mapped_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "storage/internal/test_util.h"
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

TEST_CASE("mapped store pages are dropped over budget, and every ten seconds anyway") {
  constexpr uint64_t kBudget = 128ull << 20;
  REQUIRE_FALSE(ShouldReleaseMappedPages(kBudget, kBudget, 100ms));
  REQUIRE(ShouldReleaseMappedPages(kBudget + 1, kBudget, 0ms));
  REQUIRE(ShouldReleaseMappedPages(0, kBudget, 10s));
  REQUIRE_FALSE(ShouldReleaseMappedPages(0, kBudget, 9999ms));
}

TEST_CASE("the looks find the server idle after a second without growth") {
  QuietLooks quiet;
  REQUIRE_FALSE(quiet.Look(10 << 20));  // grew from nothing
  for (int i = 1; i < kQuietLooksBeforeIdle; ++i) {
    REQUIRE_FALSE(quiet.Look(10 << 20));
  }
  REQUIRE(quiet.Look(10 << 20));
  quiet.Reset();
  // A release is not growth; any growth starts the count again.
  for (int i = 1; i < kQuietLooksBeforeIdle; ++i) {
    REQUIRE_FALSE(quiet.Look(i == 50 ? 2 << 20 : 10 << 20));
  }
  REQUIRE_FALSE(quiet.Look(11 << 20));
  for (int i = 1; i < kQuietLooksBeforeIdle; ++i) {
    REQUIRE_FALSE(quiet.Look(11 << 20));
  }
  REQUIRE(quiet.Look(11 << 20));
}

TEST_CASE("the waking store passes every call through") {
  auto owned = std::make_unique<storage::test::RecordingStorage>();
  storage::test::RecordingStorage& inner = *owned;
  int wakes = 0;
  WakingStorage store(std::move(owned), [&wakes] { ++wakes; });
  store.Sleep();
  storage::test::RequireEveryCallForwarded(store, inner);
  REQUIRE(wakes == 1);
}

TEST_CASE("a sleeping maintenance thread is woken once by the next use of the store") {
  int wakes = 0;
  WakingStorage store(storage::NewMemoryStorage(), [&wakes] { ++wakes; });
  const auto read = [&store] {
    return store.View([](storage::ReadTxn& txn) { return txn.CountCerts().status(); });
  };
  REQUIRE(read().ok());
  REQUIRE(wakes == 0);  // awake: nothing to do
  store.Sleep();
  REQUIRE(store.asleep());
  // Neither the release nor the health check maps store pages.
  store.ReleaseMappedPages();
  REQUIRE(store.WriteHealth().ok());
  REQUIRE(wakes == 0);
  REQUIRE(read().ok());
  REQUIRE(wakes == 1);
  REQUIRE_FALSE(store.asleep());
  REQUIRE(read().ok());
  REQUIRE(wakes == 1);
  // Writes, Stats and copies wake it too, and reach the store.
  store.Sleep();
  REQUIRE(store.Update([](storage::WriteTxn& txn) { return txn.PutMeta("k", "v"); }).ok());
  REQUIRE(wakes == 2);
  store.Sleep();
  (void)store.Stats();
  REQUIRE(wakes == 3);
  store.Sleep();
  REQUIRE(store.CopyCompactTo(-1).code() == Code::kInvalidArgument);  // the in-memory store
  REQUIRE(wakes == 4);
  REQUIRE(store
              .View([](storage::ReadTxn& txn) -> Status {
                HOSTCA_ASSIGN_OR_RETURN(const std::string v, txn.GetMeta("k"));
                return v == "v" ? Status::Ok() : Internal("lost");
              })
              .ok());
}

}  // namespace
}  // namespace hostca::server
