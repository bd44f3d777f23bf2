// Scheduled backups ([backup] in the configuration): the decision when the
// next backup is due, the file names, and the pruning to `keep` files. The
// server runs a BackupScheduler on a background thread; the writing itself
// is the function it is given, so tests drive the schedule with a
// FakeClock and a stand-in writer.
//
// File names sort by time: hostca-backup-20261130T120000Z.hcbak (UTC).
// Only files with exactly that shape are ever listed or pruned; anything
// else in the directory is left alone.
//
// Thread safety: a BackupScheduler belongs to one thread (the server's
// backup thread); the free functions are reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace hostca::server {

struct BackupScheduleOptions {
  std::string directory;             // where backups go; created 0700 if missing
  int64_t interval_seconds = 86400;  // one backup per interval
  int keep = 7;                      // the newest `keep` scheduled backups stay
  // After a failed backup the next try comes this much later (or after the
  // interval, if shorter).
  int64_t retry_seconds = 300;
};

// "hostca-backup-YYYYMMDDTHHMMSSZ.hcbak" for the UTC time `unix_seconds`.
std::string BackupFileName(int64_t unix_seconds);
// The time in a name made by BackupFileName; nullopt for any other name.
std::optional<int64_t> ParseBackupFileName(const std::string& name);

// Scheduled backups in `dir` (names as above), oldest first. An absent
// directory holds none. unavailable when it cannot be read.
Result<std::vector<std::string>> ListScheduledBackups(const std::string& dir);

// Removes the oldest scheduled backups in `dir` until `keep` remain;
// returns the names removed. unavailable when a file cannot be removed
// (those removed before stay removed).
Result<std::vector<std::string>> PruneBackups(const std::string& dir, int keep);

class BackupScheduler {
 public:
  // Writes one backup to the given path (the file must not exist before);
  // `now` is the time in its name.
  using WriteFn = std::function<Status(const std::string& path, int64_t now)>;

  struct Outcome {
    bool ran = false;                 // a backup was due and attempted
    Status status;                    // its result (OK when !ran)
    std::string path;                 // the file written (when ran and OK)
    std::vector<std::string> pruned;  // names removed afterwards
  };

  BackupScheduler(BackupScheduleOptions options, const Clock& clock, WriteFn write);

  // Reads the directory: the first backup is due one interval after the
  // newest one there, or now when there is none (or it lies in the future).
  Status Init();
  // Writes a backup if one is due at the clock's time, then prunes.
  Outcome RunIfDue();
  int64_t next_due() const { return next_due_; }
  // Seconds from the clock's time to next_due (0 when due).
  int64_t SecondsUntilDue() const;

 private:
  BackupScheduleOptions options_;
  const Clock& clock_;
  WriteFn write_;
  int64_t next_due_ = 0;
};

}  // namespace hostca::server
