// File helpers. WriteFileAtomic is how every key, certificate and state file
// is written: a temporary file in the same directory with the final mode from
// the start, fsync, rename over the target, fsync of the directory. A crash
// leaves either the old or the new content, never a mix.
#pragma once

#include <sys/types.h>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca {

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode);
// Like WriteFileAtomic but fails with already_exists if `path` exists
// (uses link(2), so two racing writers cannot both succeed).
Status WriteFileExclusive(const std::string& path, std::string_view data, mode_t mode);
Result<std::string> ReadFile(const std::string& path);
// A file holding one secret line (a passphrase): its content without the
// trailing newlines and carriage returns an editor or `echo` leaves. May be
// empty; callers say what an empty one means.
Result<std::string> ReadSecretFile(const std::string& path);
bool FileExists(const std::string& path);
// mkdir -p with `mode` for the directories it creates.
Status MakeDirs(const std::string& path, mode_t mode);
// Permission bits of a file (e.g. 0600).
Result<mode_t> FileMode(const std::string& path);

// An open file descriptor, closed when the object goes away (-1: none).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace hostca
