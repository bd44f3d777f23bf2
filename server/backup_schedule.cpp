#include "server/backup_schedule.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "common/encoding.h"
#include "common/file.h"

namespace hostca::server {
namespace {

constexpr char kPrefix[] = "hostca-backup-";
constexpr char kSuffix[] = ".hcbak";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
constexpr size_t kSuffixLen = sizeof(kSuffix) - 1;
constexpr size_t kStampLen = 16;  // YYYYMMDDTHHMMSSZ

}  // namespace

std::string BackupFileName(int64_t unix_seconds) {
  return std::string(kPrefix) + FormatUtc(unix_seconds, "%Y%m%dT%H%M%SZ") + kSuffix;
}

std::optional<int64_t> ParseBackupFileName(const std::string& name) {
  if (name.size() != kPrefixLen + kStampLen + kSuffixLen ||
      name.compare(0, kPrefixLen, kPrefix) != 0 ||
      name.compare(name.size() - kSuffixLen, kSuffixLen, kSuffix) != 0) {
    return std::nullopt;
  }
  const std::string stamp = name.substr(kPrefixLen, kStampLen);
  for (size_t i = 0; i < kStampLen; ++i) {
    const bool digit = stamp[i] >= '0' && stamp[i] <= '9';
    if ((i == 8 && stamp[i] != 'T') || (i == 15 && stamp[i] != 'Z') ||
        (i != 8 && i != 15 && !digit)) {
      return std::nullopt;
    }
  }
  struct tm tm_utc {};
  tm_utc.tm_year = std::stoi(stamp.substr(0, 4)) - 1900;
  tm_utc.tm_mon = std::stoi(stamp.substr(4, 2)) - 1;
  tm_utc.tm_mday = std::stoi(stamp.substr(6, 2));
  tm_utc.tm_hour = std::stoi(stamp.substr(9, 2));
  tm_utc.tm_min = std::stoi(stamp.substr(11, 2));
  tm_utc.tm_sec = std::stoi(stamp.substr(13, 2));
  const int64_t t = timegm(&tm_utc);
  // Only a canonical name maps back (no 20261399T...).
  if (BackupFileName(t) != name) {
    return std::nullopt;
  }
  return t;
}

Result<std::vector<std::string>> ListScheduledBackups(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    return names;
  }
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && ParseBackupFileName(name)) {
      names.push_back(name);
    }
  }
  if (ec) {
    return Unavailable("cannot read the backup directory " + dir + ": " + ec.message());
  }
  std::sort(names.begin(), names.end());  // the names sort by time
  return names;
}

Result<std::vector<std::string>> PruneBackups(const std::string& dir, int keep) {
  HOSTCA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListScheduledBackups(dir));
  std::vector<std::string> removed;
  const size_t excess = names.size() > static_cast<size_t>(std::max(keep, 0))
                            ? names.size() - static_cast<size_t>(std::max(keep, 0))
                            : 0;
  for (size_t i = 0; i < excess; ++i) {
    std::error_code ec;
    if (!std::filesystem::remove(dir + "/" + names[i], ec) && ec) {
      return Unavailable("cannot remove the old backup " + dir + "/" + names[i] + ": " +
                         ec.message());
    }
    removed.push_back(names[i]);
  }
  return removed;
}

BackupScheduler::BackupScheduler(BackupScheduleOptions options, const Clock& clock, WriteFn write)
    : options_(std::move(options)), clock_(clock), write_(std::move(write)) {}

Status BackupScheduler::Init() {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(options_.directory, 0700));
  HOSTCA_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                          ListScheduledBackups(options_.directory));
  const int64_t now = clock_.NowSeconds();
  next_due_ = now;
  if (!names.empty()) {
    const int64_t newest = *ParseBackupFileName(names.back());
    if (newest <= now) {
      next_due_ = std::max(now, newest + options_.interval_seconds);
    }
  }
  return Status::Ok();
}

int64_t BackupScheduler::SecondsUntilDue() const {
  return std::max<int64_t>(0, next_due_ - clock_.NowSeconds());
}

BackupScheduler::Outcome BackupScheduler::RunIfDue() {
  Outcome out;
  const int64_t now = clock_.NowSeconds();
  if (now < next_due_) {
    return out;
  }
  out.ran = true;
  const std::string path = options_.directory + "/" + BackupFileName(now);
  out.status = MakeDirs(options_.directory, 0700);
  if (out.status.ok()) {
    out.status = write_(path, now);
  }
  if (!out.status.ok()) {
    next_due_ = now + std::min(options_.interval_seconds, options_.retry_seconds);
    return out;
  }
  out.path = path;
  next_due_ = now + options_.interval_seconds;
  auto pruned = PruneBackups(options_.directory, options_.keep);
  if (pruned.ok()) {
    out.pruned = std::move(*pruned);
  } else {
    out.status = pruned.status().WithContext("the backup was written but pruning failed");
  }
  return out;
}

}  // namespace hostca::server
