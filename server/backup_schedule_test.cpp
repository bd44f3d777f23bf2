// The schedule of [backup] (server/backup_schedule.h), driven by a
// FakeClock and a stand-in writer: when backups are due, their names, and
// the pruning to `keep`.
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/clock.h"
#include "common/file.h"
#include "server/backup_schedule.h"
#include "tests/testutil.h"

namespace hostca::server {
namespace {

using hostca::testing::TempDir;

constexpr int64_t kT0 = 1'796'040'000;  // 2026-11-30T12:00:00Z

TEST_CASE("backup file names sort by time and parse back") {
  REQUIRE(BackupFileName(kT0) == "hostca-backup-20261130T120000Z.hcbak");
  REQUIRE(ParseBackupFileName(BackupFileName(kT0)) == kT0);
  REQUIRE(BackupFileName(kT0 + 9) < BackupFileName(kT0 + 10));
  REQUIRE(BackupFileName(kT0 + 86400 * 40) > BackupFileName(kT0 + 86400));
  for (const char* other :
       {"hostca-backup-20261130T120000Z.hcbak.tmp-1234", "hostca-backup-20261399T120000Z.hcbak",
        "mine.hcbak", "hostca-backup-2026113OT120000Z.hcbak", "hostca-backup-.hcbak"}) {
    INFO(other);
    REQUIRE_FALSE(ParseBackupFileName(other));
  }
}

struct Fixture {
  TempDir tmp;
  FakeClock clock{kT0};
  std::vector<int64_t> written;
  Status fail;  // when not OK, the writer fails with it
  BackupScheduler Make(int64_t interval, int keep) {
    BackupScheduleOptions o;
    o.directory = tmp.Sub("backups");
    o.interval_seconds = interval;
    o.keep = keep;
    o.retry_seconds = 60;
    return BackupScheduler(o, clock, [this](const std::string& path, int64_t now) -> Status {
      if (!fail.ok()) {
        return fail;
      }
      written.push_back(now);
      return WriteFileExclusive(path, "backup", 0600);
    });
  }
  std::vector<std::string> Files() { return *ListScheduledBackups(tmp.Sub("backups")); }
};

TEST_CASE("backups run when due, once per interval, and keep only the newest") {
  Fixture f;
  BackupScheduler s = f.Make(3600, 3);
  REQUIRE(s.Init().ok());
  REQUIRE(*FileMode(f.tmp.Sub("backups")) == 0700);
  // None yet: due at once.
  REQUIRE(s.SecondsUntilDue() == 0);
  auto out = s.RunIfDue();
  REQUIRE(out.ran);
  REQUIRE(out.status.ok());
  REQUIRE(out.path == f.tmp.Sub("backups") + "/hostca-backup-20261130T120000Z.hcbak");
  REQUIRE(s.SecondsUntilDue() == 3600);
  // Not due again within the interval.
  f.clock.Advance(3599);
  REQUIRE_FALSE(s.RunIfDue().ran);
  f.clock.Advance(1);
  REQUIRE(s.RunIfDue().ran);
  // An unrelated file in the directory is never touched.
  REQUIRE(WriteFileAtomic(f.tmp.Sub("backups") + "/notes.txt", "mine", 0600).ok());
  std::vector<std::string> pruned;
  for (int i = 0; i < 4; ++i) {
    f.clock.Advance(3600);
    out = s.RunIfDue();
    REQUIRE(out.status.ok());
    pruned.insert(pruned.end(), out.pruned.begin(), out.pruned.end());
  }
  REQUIRE(f.written.size() == 6);
  REQUIRE(f.Files() == std::vector<std::string>{BackupFileName(kT0 + 3 * 3600),
                                                BackupFileName(kT0 + 4 * 3600),
                                                BackupFileName(kT0 + 5 * 3600)});
  REQUIRE(pruned == std::vector<std::string>{BackupFileName(kT0), BackupFileName(kT0 + 3600),
                                             BackupFileName(kT0 + 2 * 3600)});
  REQUIRE(FileExists(f.tmp.Sub("backups") + "/notes.txt"));
}

TEST_CASE("after a restart the next backup is one interval after the newest on disk") {
  Fixture f;
  {
    BackupScheduler s = f.Make(86400, 7);
    REQUIRE(s.Init().ok());
    REQUIRE(s.RunIfDue().ran);
  }
  f.clock.Advance(3600);  // restarted an hour later
  BackupScheduler s = f.Make(86400, 7);
  REQUIRE(s.Init().ok());
  REQUIRE(s.next_due() == kT0 + 86400);
  REQUIRE_FALSE(s.RunIfDue().ran);
  // Down for longer than the interval: due at once.
  f.clock.Advance(2 * 86400);
  BackupScheduler late = f.Make(86400, 7);
  REQUIRE(late.Init().ok());
  REQUIRE(late.SecondsUntilDue() == 0);
}

TEST_CASE("a failed backup is retried sooner than the interval and leaves the others") {
  Fixture f;
  BackupScheduler s = f.Make(86400, 2);
  REQUIRE(s.Init().ok());
  REQUIRE(s.RunIfDue().status.ok());
  f.clock.Advance(86400);
  f.fail = ResourceExhausted("the disk is full", "disk_full");
  auto out = s.RunIfDue();
  REQUIRE(out.ran);
  REQUIRE(out.status.reason() == "disk_full");
  REQUIRE(out.path.empty());
  REQUIRE(s.SecondsUntilDue() == 60);
  REQUIRE(f.Files().size() == 1);
  f.fail = Status::Ok();
  f.clock.Advance(60);
  REQUIRE(s.RunIfDue().status.ok());
  REQUIRE(f.Files().size() == 2);
}

}  // namespace
}  // namespace hostca::server
