// The `hostca-server backup` and `restore` commands (main.cpp parses the
// flags). Each returns the process exit code: 0 ok, 1 error, 2 usage (no
// passphrase, missing flags).
#pragma once

#include <string>

namespace hostca::server {

struct BackupFlags {
  std::string data_dir, out, in, passphrase_file, config, dir;
  bool list = false;
  bool json = false;
};

// backup --data DIR --out FILE [--config F] [--passphrase-file F]
// backup --list [--dir D | --config F] [--json]
int RunBackupCommand(const BackupFlags& f);
// restore --in FILE --data NEWDIR [--passphrase-file F]
int RunRestoreCommand(const BackupFlags& f);

}  // namespace hostca::server
