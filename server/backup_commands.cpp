#include "server/backup_commands.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/encoding.h"
#include "server/backup.h"
#include "server/backup_archive.h"
#include "server/backup_schedule.h"
#include "server/command_util.h"
#include "server/layout.h"
#include "server/options.h"
#include "storage/storage.h"

namespace hostca::server {
namespace {

constexpr char kPassphraseEnv[] = "HOSTCA_BACKUP_PASSPHRASE";

// --passphrase-file (explicit on the command line) wins over
// HOSTCA_BACKUP_PASSPHRASE. Neither: a usage error, never a prompt (the
// commands run from cron and scripts).
Result<std::string> BackupPassphrase(const BackupFlags& f, bool* usage_error) {
  *usage_error = false;
  if (!f.passphrase_file.empty()) {
    return ReadPassphraseFile(f.passphrase_file);
  }
  const char* env = std::getenv(kPassphraseEnv);
  if (env != nullptr && *env != '\0') {
    return std::string(env);
  }
  *usage_error = true;
  return InvalidArgument(
      "no backup passphrase: give --passphrase-file FILE or set HOSTCA_BACKUP_PASSPHRASE");
}

// backup --list: every *.hcbak in the directory with what its header says
// (no passphrase needed: the header is not secret).
int ListBackups(const BackupFlags& f) {
  std::string dir = f.dir;
  if (dir.empty() && !f.config.empty()) {
    ServerOptions o;
    if (Status st = LoadConfigFile(f.config, &o); !st.ok()) {
      return CommandFailed("backup --list", st);
    }
    dir = o.backup_directory;
  }
  if (dir.empty()) {
    std::cerr << "hostca-server backup --list: give --dir DIR, or --config FILE with "
                 "backup.directory set\n";
    return 2;
  }
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".hcbak" && it->is_regular_file(ec)) {
      files.push_back(it->path());
    }
  }
  if (ec) {
    return CommandFailed("backup --list", Unavailable("cannot read " + dir + ": " + ec.message()));
  }
  std::sort(files.begin(), files.end());
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& path : files) {
    nlohmann::json row = {{"file", path.filename().string()},
                          {"size", std::filesystem::file_size(path, ec)}};
    auto header = ReadBackupHeader(path.string());
    if (header.ok()) {
      row["time"] = FormatRfc3339(header->created_at);
      row["format_version"] = header->version;
    } else {
      row["error"] =
          header.status().reason().empty() ? header.status().message() : header.status().reason();
    }
    rows.push_back(row);
  }
  if (f.json) {
    std::cout << nlohmann::json{{"directory", dir}, {"backups", rows}}.dump(2) << "\n";
    return 0;
  }
  std::printf("%-40s %-21s %14s %s\n", "FILE", "TIME", "SIZE", "FORMAT");
  for (const auto& row : rows) {
    const std::string file = row["file"];
    const std::string time = row.contains("time") ? row["time"].get<std::string>() : "-";
    const std::string format = row.contains("format_version")
                                   ? std::to_string(row["format_version"].get<int>())
                                   : "unreadable: " + row["error"].get<std::string>();
    std::printf("%-40s %-21s %14llu %s\n", file.c_str(), time.c_str(),
                static_cast<unsigned long long>(row["size"].get<uint64_t>()), format.c_str());
  }
  return 0;
}

}  // namespace

int RunBackupCommand(const BackupFlags& f) {
  if (f.list) {
    return ListBackups(f);
  }
  if (f.data_dir.empty() || f.out.empty()) {
    std::cerr << "hostca-server backup: --data DIR and --out FILE are required (or --list)\n";
    return 2;
  }
  bool usage = false;
  auto pass = BackupPassphrase(f, &usage);
  if (!pass.ok()) {
    CommandFailed("backup", pass.status());
    return usage ? 2 : 1;
  }
  // LMDB's copy thread blocks SIGPIPE itself; this process ignores it too,
  // so an early end of the encrypting side can never kill it.
  signal(SIGPIPE, SIG_IGN);
  const DataLayout layout(f.data_dir);
  BackupSource src;
  src.data_dir = f.data_dir;
  src.config_path = f.config;
  // The store is open in the running server: copy it from a read-only
  // environment of our own (safe beside the server's writes).
  src.copy_store = [db = layout.db()](int fd) { return storage::CopyLmdbStoreTo(db, fd); };
  if (!f.config.empty()) {
    ServerOptions o;
    if (Status st = LoadConfigFile(f.config, &o); !st.ok()) {
      return CommandFailed("backup", st);
    }
    src.exclude_dir = o.backup_directory;
  }
  auto report = CreateBackup(src, f.out, *pass, SystemClock::Instance().NowSeconds());
  if (!report.ok()) {
    return CommandFailed("backup", report.status());
  }
  std::cout << "backup written to " << f.out << " (" << report->file_bytes << " bytes, "
            << report->entries << " entries, store " << report->store_bytes
            << " bytes compacted)\n";
  return 0;
}

int RunRestoreCommand(const BackupFlags& f) {
  bool usage = false;
  auto pass = BackupPassphrase(f, &usage);
  if (!pass.ok()) {
    CommandFailed("restore", pass.status());
    return usage ? 2 : 1;
  }
  auto report = RestoreBackup(f.in, f.data_dir, *pass);
  if (!report.ok()) {
    return CommandFailed("restore", report.status());
  }
  std::cout << "restored " << report->entries << " entries (" << report->bytes
            << " bytes) from the backup of " << FormatRfc3339(report->created_at) << " into "
            << f.data_dir << "\n";
  if (report->config_restored) {
    std::cout << "the configuration is in " << f.data_dir
              << "/hostca.toml (pass it with --config; check its paths)\n";
  }
  std::cout << "start it with: hostca-server serve --data " << f.data_dir << "\n";
  return 0;
}

}  // namespace hostca::server
