// RedoLog: the redo log's file format (redo_log.h): durable appends read
// back in order, torn tails and leftovers after a reset never read as
// records.
#include "storage/internal/redo_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <utility>
#include <vector>

#include "tests/testutil.h"

namespace hostca::storage::internal {
namespace {

using Records = std::vector<std::pair<uint64_t, std::string>>;

Records ReadAll(const std::string& path) {
  auto log = RedoLog::Open(path);
  REQUIRE(log.ok());
  Records out;
  REQUIRE((*log)
              ->Scan([&](uint64_t txnid, std::string_view payload) {
                out.emplace_back(txnid, std::string(payload));
                return Status::Ok();
              })
              .ok());
  REQUIRE((*log)->records() == out.size());
  return out;
}

void Overwrite(const std::string& path, uint64_t at, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(at)) ==
          static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

TEST_CASE("redo log: appends read back in order after reopening, in a preallocated file") {
  hostca::testing::TempDir dir;
  const std::string path = dir.Sub("redo.log");
  {
    auto log = RedoLog::Open(path);
    REQUIRE(log.ok());
    REQUIRE((*log)->Append(7, "first").ok());
    REQUIRE((*log)->Append(8, std::string(100000, 'x')).ok());
    REQUIRE((*log)->Append(12, "").ok());
    REQUIRE((*log)->records() == 3);
    REQUIRE(FileSize(path) == RedoLog::kChunk);  // appends do not grow it
  }
  const Records r = ReadAll(path);
  REQUIRE(r == Records{{7, "first"}, {8, std::string(100000, 'x')}, {12, ""}});
  // Appending after a reopen continues the chain.
  {
    auto log = RedoLog::Open(path);
    REQUIRE(log.ok());
    REQUIRE((*log)->Append(13, "more").ok());
    REQUIRE_FALSE((*log)->Append(13, "same id").ok());
    REQUIRE_FALSE((*log)->Append(2, "older id").ok());
  }
  REQUIRE(ReadAll(path).size() == 4);
}

TEST_CASE("redo log: a torn or corrupt last frame ends the log, and the next append replaces it") {
  hostca::testing::TempDir dir;
  const std::string path = dir.Sub("redo.log");
  uint64_t third_at = 0;
  {
    auto log = RedoLog::Open(path);
    REQUIRE(log.ok());
    REQUIRE((*log)->Append(1, "one").ok());
    REQUIRE((*log)->Append(2, "two").ok());
    third_at = (*log)->end();
    REQUIRE((*log)->Append(3, "three").ok());
  }
  SECTION("a flipped payload byte") { Overwrite(path, third_at + 24 + 2, "X"); }
  SECTION("a payload never written (zeros)") {
    Overwrite(path, third_at + 24, std::string(5, '\0'));
  }
  SECTION("a length beyond the file") {
    Overwrite(path, third_at + 4, std::string("\x7f\xff\xff\xff", 4));
  }
  REQUIRE(ReadAll(path) == Records{{1, "one"}, {2, "two"}});
  {
    auto log = RedoLog::Open(path);
    REQUIRE(log.ok());
    REQUIRE((*log)->end() == third_at);
    REQUIRE((*log)->Append(4, "four").ok());
  }
  REQUIRE(ReadAll(path) == Records{{1, "one"}, {2, "two"}, {4, "four"}});
}

TEST_CASE("redo log: after a reset, frames left from before are not read as records") {
  hostca::testing::TempDir dir;
  const std::string path = dir.Sub("redo.log");
  {
    auto log = RedoLog::Open(path);
    REQUIRE(log.ok());
    REQUIRE((*log)->Append(1, "aaaa").ok());
    REQUIRE((*log)->Append(50, "bbbb").ok());  // a higher id than what follows the reset
    REQUIRE((*log)->Reset().ok());
    REQUIRE((*log)->records() == 0);
  }
  REQUIRE(ReadAll(path).empty());
  {
    auto log = RedoLog::Open(path);
    REQUIRE(log.ok());
    // Same size as the old first frame: the old second frame, id 50, now
    // follows it byte for byte, and only the chained check refuses it.
    REQUIRE((*log)->Append(10, "cccc").ok());
  }
  REQUIRE(ReadAll(path) == Records{{10, "cccc"}});
}

TEST_CASE("redo log: a visitor's error stops the scan and is returned") {
  hostca::testing::TempDir dir;
  const std::string path = dir.Sub("redo.log");
  auto log = RedoLog::Open(path);
  REQUIRE(log.ok());
  REQUIRE((*log)->Append(1, "a").ok());
  REQUIRE((*log)->Append(2, "b").ok());
  int seen = 0;
  const Status st = (*log)->Scan([&](uint64_t, std::string_view) {
    ++seen;
    return Internal("stop here");
  });
  REQUIRE(seen == 1);
  REQUIRE(st.message() == "stop here");
}

}  // namespace
}  // namespace hostca::storage::internal
