// Backup and restore of a whole data directory (DESIGN.md section 8): the
// CA certificate and encrypted key, ca.pass, admin.token, the TLS identity,
// crl.der, a compacted copy of the store, and optionally the configuration
// file, in one backup file (server/backup.h encrypts it).
//
//   BackupSource src;
//   src.data_dir = "/var/lib/hostca-server";
//   src.copy_store = [&](int fd) { return storage::CopyLmdbStoreTo(src.data_dir + "/db", fd); };
//   auto report = CreateBackup(src, "/backups/ca.hcbak", passphrase, clock.NowSeconds());
//   ...
//   auto restored = RestoreBackup("/backups/ca.hcbak", "/var/lib/hostca-new", passphrase);
//
// Inside the encryption the backup is a simple archive: "HCARCH01", then
// entries (u8 type: 1 file, 2 directory, 0 end; u16 length + relative
// path; files: u32 mode, then segments of u32 length + bytes ending with a
// zero length), then the end entry with the u64 number of entries. Files
// are streamed in segments of at most 1 MiB, so a store of any size passes
// through bounded memory and is never written unencrypted to disk.
//
// Thread safety: the functions are reentrant; `cancel` may be set from any
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/backup.h"

namespace hostca::server {

struct BackupSource {
  std::string data_dir;  // the data directory to back up
  // A configuration file to include (restored as NEWDIR/hostca.toml).
  // Empty: none; a hostca.toml in the data directory itself is then kept.
  std::string config_path;
  // A directory to leave out when it lies inside the data directory (where
  // scheduled backups go). Files ending in .hcbak, WriteFileAtomic's
  // temporary files, symlinks and everything under db/ are always left
  // out; db/data.mdb comes from copy_store instead.
  std::string exclude_dir;
  // Writes the compacted store to the descriptor (the write end of a pipe):
  // storage::CopyLmdbStoreTo when another process (the server) has the
  // store open, Storage::CopyCompactTo inside the server.
  std::function<Status(int fd)> copy_store;
  // When set and true, the backup stops at the next segment (unavailable
  // "cancelled"); nothing is left behind.
  const std::atomic<bool>* cancel = nullptr;
};

struct BackupReport {
  uint64_t file_bytes = 0;   // size of the backup file
  uint64_t entries = 0;      // files and directories in it
  uint64_t store_bytes = 0;  // size of the compacted store copy
};

// Writes the backup of `src` to `out_path` (never replacing an existing
// file; the file appears only once complete). Errors: those of BackupWriter,
// copy_store's, unavailable for an unreadable data directory,
// invalid_argument "incomplete_data_dir" when it holds no ca.crt.
Result<BackupReport> CreateBackup(const BackupSource& src, const std::string& out_path,
                                  std::string_view passphrase, int64_t now,
                                  const KdfParams& kdf = {});

struct RestoreReport {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // plaintext bytes restored
  int64_t created_at = 0;
  bool config_restored = false;  // NEWDIR/hostca.toml came from the backup
};

// Restores the backup at `in_path` into the new directory `data_dir`.
// Every chunk is verified while it is decrypted into a temporary directory
// beside `data_dir` (mode 0700); only when the whole file verified is that
// directory renamed to `data_dir`. On any failure the temporary directory is
// removed and `data_dir` does not exist. Files get their recorded mode
// without group or other write bits (keys stay 0600), directories 0700.
// Errors: those of BackupReader; already_exists "restore_target_exists"
// when `data_dir` exists and is not empty; invalid_argument
// "backup_damaged" for an archive that breaks its own rules (a bad path, an
// entry missing) even though it authenticated.
Result<RestoreReport> RestoreBackup(const std::string& in_path, const std::string& data_dir,
                                    std::string_view passphrase);

}  // namespace hostca::server
