// RedoLog: one append-only file of the store's redo log (redo.h,
// storage/README.md "The redo log").
//
// A record is a frame: magic "HRL1", payload length (u32), LMDB transaction
// id (u64), a check value, then the payload; integers big-endian. The check
// value is the first 8 bytes of SHA-256 over the previous frame's check
// value (8 zero bytes for the first), the 16 bytes before it and the
// payload: chained, so that a frame left over from before a Reset, or from
// a longer log, never reads as the continuation of this one. Transaction
// ids must increase. Append writes one frame
// at the end of the valid records and fdatasyncs before it returns. The
// file is kept extended with zeros ahead of the end (kChunk at a time, then
// fsynced), so an append changes no file size and its fdatasync writes only
// the pages it touched. Reading stops at the first frame that does not
// check (zeros, a torn write, a bad checksum): that and everything after it
// is treated as never written, and the next Append overwrites it.
//
// Thread safety: one thread uses a RedoLog at a time (the store's writer).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::storage::internal {

// The file I/O of the redo log's files (here and redo.cpp). Errors are
// unavailable "storage_io": `what` and strerror(errno).
Status IoError(const std::string& what);
// Writes all n bytes at `at` (retrying short writes and EINTR).
Status PwriteAll(int fd, const char* p, size_t n, uint64_t at, const std::string& what);
// Reads n bytes at `at`; false at the end of the file (a short read).
Result<bool> PreadAll(int fd, char* p, size_t n, uint64_t at, const std::string& what);

class RedoLog {
 public:
  static constexpr uint64_t kChunk = 4u << 20;  // zeros kept ahead of the end

  // Opens or creates (0600) the log at `path` and finds the end of its
  // valid records.
  static Result<std::unique_ptr<RedoLog>> Open(const std::string& path);
  ~RedoLog();
  RedoLog(const RedoLog&) = delete;
  RedoLog& operator=(const RedoLog&) = delete;

  // Durable on return when OK. After an error the log must not be appended
  // to again (the store stops writing; the next start reads what is valid).
  Status Append(uint64_t txnid, std::string_view payload);
  // The valid records in order; stops early when `visit` returns an error,
  // which it returns.
  Status Scan(const std::function<Status(uint64_t txnid, std::string_view payload)>& visit) const;
  // Takes back the last Append (its transaction did not commit): zeros its
  // header and fdatasyncs. Once only, right after the Append.
  Status DropLast();
  // Forgets every record (after a checkpoint made them redundant): zeros
  // the first frame's header, fsyncs, and appends from the start again.
  Status Reset();

  uint64_t end() const { return end_; }  // bytes of valid records
  size_t records() const { return records_; }

 private:
  RedoLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status EnsureRoom(uint64_t bytes);

  const std::string path_;
  int fd_ = -1;
  uint64_t end_ = 0;   // where the next frame goes
  std::string chain_;  // check value of the last frame (8 bytes)
  uint64_t last_txnid_ = 0;
  uint64_t allocated_ = 0;  // file size: zeros from end_ to here
  struct Before {           // the state before the last Append, for DropLast
    uint64_t end;
    std::string chain;
    uint64_t last_txnid;
  };
  std::optional<Before> before_last_;
  size_t records_ = 0;
};

}  // namespace hostca::storage::internal
