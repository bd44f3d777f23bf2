#include "storage/internal/redo_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/encoding.h"
#include "storage/internal/codec.h"

namespace hostca::storage::internal {
namespace {

constexpr char kMagic[4] = {'H', 'R', 'L', '1'};
constexpr size_t kHeader = 24;               // magic, length, txnid, check
constexpr uint32_t kMaxPayload = 64u << 20;  // a longer length is a torn frame

std::string Check(std::string_view prev, std::string_view head16, std::string_view payload) {
  std::string in;
  in.reserve(prev.size() + head16.size() + payload.size());
  in.append(prev).append(head16).append(payload);
  return Sha256(in).substr(0, 8);
}

// Walks the valid frames of `fd` from the start: calls visit (when set) for
// each, and leaves where the next frame goes, the chain and the count.
struct WalkEnd {
  uint64_t end = 0;
  std::string chain = std::string(8, '\0');
  uint64_t last_txnid = 0;
  size_t records = 0;
};
Result<WalkEnd> Walk(int fd, const std::string& path,
                     const std::function<Status(uint64_t, std::string_view)>* visit) {
  WalkEnd w;
  char head[kHeader];
  std::string payload;
  while (true) {
    HOSTCA_ASSIGN_OR_RETURN(const bool full,
                            PreadAll(fd, head, kHeader, w.end, "cannot read " + path));
    if (!full || std::memcmp(head, kMagic, 4) != 0) {
      return w;
    }
    const auto len = static_cast<uint32_t>(ReadBigEndian({head + 4, 4}, 4));
    const uint64_t txnid = ReadBigEndian64({head + 8, 8});
    if (len > kMaxPayload || (w.records > 0 && txnid <= w.last_txnid)) {
      return w;
    }
    payload.resize(len);
    HOSTCA_ASSIGN_OR_RETURN(const bool whole, PreadAll(fd, payload.data(), len, w.end + kHeader,
                                                       "cannot read " + path));
    if (!whole) {
      return w;
    }
    const std::string check = Check(w.chain, std::string_view(head, 16), payload);
    if (std::memcmp(check.data(), head + 16, 8) != 0) {
      return w;
    }
    if (visit != nullptr) {
      HOSTCA_RETURN_IF_ERROR((*visit)(txnid, payload));
    }
    w.end += kHeader + len;
    w.chain = check;
    w.last_txnid = txnid;
    ++w.records;
  }
}

}  // namespace

Status IoError(const std::string& what) {
  return Unavailable(what + ": " + std::strerror(errno), "storage_io");
}

Status PwriteAll(int fd, const char* p, size_t n, uint64_t at, const std::string& what) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return IoError(what);
    }
    p += w;
    n -= static_cast<size_t>(w);
    at += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Result<bool> PreadAll(int fd, char* p, size_t n, uint64_t at, const std::string& what) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(at));
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return IoError(what);
    }
    if (r == 0) {
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
    at += static_cast<uint64_t>(r);
  }
  return true;
}

Result<std::unique_ptr<RedoLog>> RedoLog::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return IoError("cannot open " + path);
  }
  std::unique_ptr<RedoLog> log(new RedoLog(path, fd));
  // No read-ahead when the records are read at open: it would cache the
  // file in large folios too (see EnsureRoom).
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return IoError("cannot stat " + path);
  }
  // The file's name must be durable before its records are.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
    const Status st_dir = IoError("cannot sync the directory of " + path);
    if (dir_fd >= 0) {
      ::close(dir_fd);
    }
    return st_dir;
  }
  ::close(dir_fd);
  log->allocated_ = static_cast<uint64_t>(st.st_size);
  HOSTCA_ASSIGN_OR_RETURN(const WalkEnd w, Walk(fd, path, nullptr));
  log->end_ = w.end;
  log->chain_ = w.chain;
  log->last_txnid_ = w.last_txnid;
  log->records_ = w.records;
  return log;
}

RedoLog::~RedoLog() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

Status RedoLog::EnsureRoom(uint64_t bytes) {
  if (end_ + bytes <= allocated_) {
    return Status::Ok();
  }
  const uint64_t target = ((end_ + bytes + kChunk - 1) / kChunk) * kChunk;
  // 4 KB at a time: Linux caches a file in folios as large as the writes
  // that created them (up to megabytes), and every later append into a
  // large folio would dirty, and its fdatasync write, all of it (measured:
  // 270 KiB of page cache dirtied per certificate, against 12 KiB of
  // records, with 1 MiB writes here).
  const std::string zeros(4096, '\0');
  for (uint64_t at = allocated_; at < target;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), target - at));
    HOSTCA_RETURN_IF_ERROR(PwriteAll(fd_, zeros.data(), n, at, "cannot extend " + path_));
    at += n;
  }
  if (::fsync(fd_) != 0) {
    return IoError("cannot sync " + path_);
  }
  allocated_ = target;
  return Status::Ok();
}

Status RedoLog::Append(uint64_t txnid, std::string_view payload) {
  if (payload.size() > kMaxPayload) {
    return InvalidArgument("a redo log record of " + std::to_string(payload.size()) +
                           " bytes is over the limit");
  }
  if (records_ > 0 && txnid <= last_txnid_) {
    return Internal("redo log transaction ids must increase");
  }
  std::string frame(kMagic, 4);
  AppendBigEndian(&frame, payload.size(), 4);
  AppendBigEndian(&frame, txnid, 8);
  const std::string check = Check(chain_, frame, payload);
  frame.append(check).append(payload);
  HOSTCA_RETURN_IF_ERROR(EnsureRoom(frame.size()));
  before_last_.reset();
  HOSTCA_RETURN_IF_ERROR(
      PwriteAll(fd_, frame.data(), frame.size(), end_, "cannot write to " + path_));
  if (::fdatasync(fd_) != 0) {
    return IoError("cannot sync " + path_);
  }
  before_last_ = Before{end_, chain_, records_ > 0 ? last_txnid_ : 0};
  end_ += frame.size();
  chain_ = check;
  last_txnid_ = txnid;
  ++records_;
  return Status::Ok();
}

Status RedoLog::DropLast() {
  if (!before_last_) {
    return Internal("no redo log record to take back");
  }
  const std::string zeros(kHeader, '\0');
  HOSTCA_RETURN_IF_ERROR(
      PwriteAll(fd_, zeros.data(), zeros.size(), before_last_->end, "cannot write to " + path_));
  if (::fdatasync(fd_) != 0) {
    return IoError("cannot sync " + path_);
  }
  end_ = before_last_->end;
  chain_ = before_last_->chain;
  last_txnid_ = before_last_->last_txnid;
  --records_;
  before_last_.reset();
  return Status::Ok();
}

Status RedoLog::Scan(
    const std::function<Status(uint64_t txnid, std::string_view payload)>& visit) const {
  return Walk(fd_, path_, &visit).status();
}

Status RedoLog::Reset() {
  const std::string zeros(kHeader, '\0');
  HOSTCA_RETURN_IF_ERROR(PwriteAll(fd_, zeros.data(), zeros.size(), 0, "cannot reset " + path_));
  if (::fdatasync(fd_) != 0) {
    return IoError("cannot sync " + path_);
  }
  before_last_.reset();
  end_ = 0;
  chain_.assign(8, '\0');
  last_txnid_ = 0;
  records_ = 0;
  return Status::Ok();
}

}  // namespace hostca::storage::internal
