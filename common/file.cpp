#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/encoding.h"

namespace hostca {
namespace {

Status ErrnoStatus(const std::string& what, const std::string& path) {
  const int err = errno;
  const std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) {
    return ResourceExhausted(msg);
  }
  if (err == ENOENT) {
    return NotFound(msg);
  }
  if (err == EEXIST) {
    return AlreadyExists(msg);
  }
  if (err == EACCES || err == EPERM) {
    return PermissionDenied(msg);
  }
  return Unavailable(msg);
}

std::string DirOf(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus("cannot open directory", dir);
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) {
    return ErrnoStatus("cannot fsync directory", dir);
  }
  return Status::Ok();
}

// Writes `data` into a new temporary file beside `path`; returns its name.
Result<std::string> WriteTemp(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = path + ".tmp-" + HexEncode(RandomBytes(6));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return ErrnoStatus("cannot create", tmp);
  }
  // The umask may have narrowed the mode; set it exactly.
  if (::fchmod(fd, mode) != 0) {
    Status st = ErrnoStatus("cannot chmod", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      Status st = ErrnoStatus("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status st = ErrnoStatus("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  ::close(fd);
  return tmp;
}

}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string tmp, WriteTemp(path, data, mode));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = ErrnoStatus("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(DirOf(path));
}

Status WriteFileExclusive(const std::string& path, std::string_view data, mode_t mode) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string tmp, WriteTemp(path, data, mode));
  const int rc = ::link(tmp.c_str(), path.c_str());
  Status st = rc == 0 ? Status::Ok() : ErrnoStatus("cannot create", path);
  ::unlink(tmp.c_str());
  HOSTCA_RETURN_IF_ERROR(st);
  return FsyncDir(DirOf(path));
}

Result<std::string> ReadSecretFile(const std::string& path) {
  HOSTCA_ASSIGN_OR_RETURN(std::string secret, ReadFile(path));
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) {
    secret.pop_back();
  }
  return secret;
}

Result<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus("cannot open", path);
  }
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      Status st = ErrnoStatus("cannot read", path);
      ::close(fd);
      return st;
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Status MakeDirs(const std::string& path, mode_t mode) {
  std::string cur;
  for (const auto& part : std::filesystem::path(path)) {
    cur = cur.empty() ? part.string() : (std::filesystem::path(cur) / part).string();
    if (cur == "/" || cur.empty()) {
      continue;
    }
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create directory", cur);
    }
  }
  return Status::Ok();
}

Result<mode_t> FileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus("cannot stat", path);
  }
  return static_cast<mode_t>(st.st_mode & 07777);
}

Fd::~Fd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

}  // namespace hostca
