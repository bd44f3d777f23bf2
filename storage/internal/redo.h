// Redo: the store's redo log in front of LMDB (storage/README.md "The redo
// log"). Each group commit's key-value writes are appended to a log file and
// fdatasynced (one short sequential write) before LMDB commits them with
// MDB_NOSYNC; LMDB's scattered page writes reach the disk later, all at
// once, at a checkpoint. A crash may leave data.mdb with any subset of the
// page writes since the last checkpoint; recovery puts the checkpoint's meta
// page back and replays the log after it.
//
// Why this is safe:
//   - A checkpoint at LMDB transaction T reads T's meta page, fdatasyncs
//     data.mdb, and then writes {T, the meta page} durably to DIR/redo.ckpt.
//   - A read transaction on T stays open ("the pin") until the next
//     checkpoint is durable, so LMDB reuses none of T's pages (it reuses
//     only pages freed before its oldest reader): whatever later writes
//     reach the disk, T's pages are intact.
//   - Recovery writes T's meta page over both of LMDB's meta pages (LMDB
//     opens the one with the greater transaction id; a later one may have
//     reached the disk), opens the environment at T, and replays every
//     logged transaction after T in order, each with the id it had.
//   - The log alternates between two files, by generation: a checkpoint
//     opens the next generation at its T, and a file is emptied only when
//     the checkpoint durable on disk made all its records redundant.
//     Records carry their generation, so a file's older records never
//     replay into a newer generation.
//   - Between checkpoints the thread starts the writeback of data.mdb's
//     dirty pages (RedoOptions::writeback_interval): the kernel may write
//     any dirty page at any time anyway, and T's pages are not among them.
//   - A checkpoint that fails (fdatasync errors) stops the store's writes
//     until a restart recovers: after a failed fdatasync the page cache
//     cannot be trusted to reach the disk.
//
// The checkpoint file, DIR/redo.ckpt, holds two slots (at 0 and 4096) of
// {magic "HCK1", active, seq, gen, txnid, page size, the first kMetaBytes of
// the meta page, check}: a write goes to slot seq & 1, so a torn write
// leaves the other. Not active: data.mdb needs no recovery (a clean close,
// or a store opened without the log). Every process that opens the store
// for writing holds an exclusive flock on it.
//
// Thread safety: everything runs on the store's writer thread (or at open
// and close, with the writer stopped), except the checkpoint's fdatasync
// and slot write and the writebacks between checkpoints, which run on a
// thread of this class's own.
#pragma once

#include <lmdb.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"
#include "storage/internal/lmdb_kv.h"
#include "storage/internal/redo_log.h"

namespace hostca::storage::internal {

// The leading bytes of an LMDB meta page that hold its page header (16
// bytes) and MDB_meta (152 bytes on 64-bit: magic, version, address, map
// size, the free and main databases, last page, txnid). LMDB writes no
// other byte of a meta page after creating it. The transaction id is the
// last field.
inline constexpr size_t kMetaBytes = 256;
inline constexpr size_t kMetaTxnidOffset = 144;

// Whether `meta` (kMetaBytes read from a meta slot) has LMDB 0.9's layout,
// the one the offsets above assume: P_META in the page header's flags, then
// MDB_meta's magic (0xBEEFC0DE) and data version 1, in host order. Any
// other LMDB (a Debian upgrade to a later major version, a store made by
// one) is refused with internal "lmdb_layout" instead of being
// read or written by those offsets. The linked library's version is checked
// too (`mdb_version`): the log replays with it.
Status CheckMetaLayout(std::string_view meta, const std::string& where);

struct RedoOptions {
  // A checkpoint starts once the log holds this many bytes, or this long
  // after the previous one started, whichever comes first.
  uint64_t checkpoint_bytes = 16ull << 20;
  std::chrono::milliseconds checkpoint_interval{1000};
  // Between checkpoints, this long after a commit the checkpoint thread
  // starts the writeback of data.mdb's dirty pages (sync_file_range, not
  // waiting for it), so that a checkpoint's fdatasync finds little left to
  // write and the pin it holds moves on sooner. 0: only checkpoints write.
  std::chrono::milliseconds writeback_interval{0};
};

struct RedoStats {
  uint64_t checkpoints = 0;
  double checkpoint_seconds = 0;  // summed fdatasync + slot write time
  uint64_t log_appends = 0;       // commits written to the log
  double log_seconds = 0;         // their append + fdatasync time, summed
  uint64_t replayed = 0;          // transactions replayed at open
  uint64_t writebacks = 0;        // writebacks started between checkpoints
};

class Redo {
 public:
  // Locks the store and reads the checkpoint file. Every process that
  // writes, with the log or without, holds the flock
  // exclusively: one writing process at a time. Errors: unavailable
  // "store_in_use" when another process holds it; internal
  // "corrupt_store" when a checkpoint slot that checks is malformed.
  static Result<std::unique_ptr<Redo>> Acquire(const std::string& dir, RedoOptions options);
  ~Redo();
  Redo(const Redo&) = delete;
  Redo& operator=(const Redo&) = delete;

  // True when a process that logged writes ended without a clean close.
  bool recovery_needed() const { return ckpt_.active; }
  // Before mdb_env_open, when recovery_needed: the checkpoint's meta page
  // into both meta slots of data.mdb, fdatasynced.
  Status RestoreMetaPages();
  // After the tables are open: the logged transactions after the
  // checkpoint, each in a transaction of its own (MDB_NOSYNC). Start or
  // MarkClean must follow: they fdatasync before the checkpoint file
  // changes, and until then the checkpoint stays pinned.
  Status Replay(MDB_env* env, const Dbis& dbis);
  // Without the log: fdatasyncs data.mdb and marks the checkpoint file not
  // active (after a recovery, so a later open does not replay again).
  Status MarkClean();
  // With the log: checkpoints at the latest transaction and opens the next
  // generation. The environment must be open with MDB_NOSYNC.
  Status Start(MDB_env* env);
  // The writes of transaction `txnid`, durable on return. After an error
  // the store must not commit the transaction.
  Status Log(uint64_t txnid, std::string_view ops);
  // Takes back the last Log (its commit failed). On error the store stops
  // writing (failed()).
  Status DropLast();
  // Between batches: starts a checkpoint when one is due, and releases the
  // previous pin once a checkpoint is durable.
  void MaybeCheckpoint(MDB_env* env);
  // Clean close: waits for the checkpoint in flight, fdatasyncs data.mdb,
  // marks the file not active, ends the pins. The environment stays open;
  // it must be called before the environment closes (a pin is a read
  // transaction of it), also when Start never ran.
  Status Finish();
  // Ends the pins without marking anything (before closing the environment
  // after a failure); the next open recovers.
  void Abandon();

  // Set after a failed log write, checkpoint or DropLast: every Log fails.
  Status failed() const;
  // Any thread: OK, or why the store stopped writing (failed(), or a
  // checkpoint that failed and is not collected yet).
  Status Health() const;
  RedoStats stats() const;

 private:
  struct Ckpt {
    bool active = false;
    uint64_t seq = 0;
    uint64_t gen = 0;
    uint64_t txnid = 0;
    uint32_t page_size = 0;
    std::string meta;  // kMetaBytes
  };
  struct Job {
    Ckpt ckpt;
    std::chrono::steady_clock::time_point started;
  };

  Redo(std::string dir, RedoOptions options, int ckpt_fd)
      : dir_(std::move(dir)), options_(options), ckpt_fd_(ckpt_fd) {}
  static Result<std::optional<Ckpt>> ReadCkpt(int fd, const std::string& path);
  friend Result<bool> RedoRecoveryPending(const std::string& dir);
  Status OpenDataFd();
  Status OpenLogs();
  Status WriteCkpt(const Ckpt& c);
  Status SyncData();
  // Begins a read transaction at the latest transaction and reads its meta
  // page. nullopt meta: the slot already holds a later transaction's.
  Status PinLatest(MDB_env* env, MDB_txn** pin, Ckpt* c);
  void CheckpointLoop();
  // On the checkpoint thread, mu_ held: waits for a checkpoint job or the
  // stop, starting writebacks of data.mdb while commits come (StartWriteback).
  void WaitForJob(std::unique_lock<std::mutex>& lock);
  void StartWriteback();
  void StopThread();
  void CollectDone();
  // Sets what failed() and Health report.
  void Stop(Status st);
  // What the store answers once a log append, or the reset of a log file,
  // failed; and once a checkpoint did.
  static Status LogFailed(const Status& why);
  static Status CheckpointFailed(const Status& why);

  const std::string dir_;
  const RedoOptions options_;
  int ckpt_fd_ = -1;
  int data_fd_ = -1;
  Ckpt ckpt_;  // the last durable checkpoint
  std::unique_ptr<RedoLog> logs_[2];
  uint64_t gen_ = 0;             // the generation appended to (logs_[gen_ & 1])
  MDB_txn* pin_ = nullptr;       // on ckpt_.txnid
  MDB_txn* next_pin_ = nullptr;  // on the checkpoint in flight
  std::chrono::steady_clock::time_point last_start_;

  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Job> job_;      // GUARDED_BY(mu_): waiting for the thread
  bool in_flight_ = false;      // GUARDED_BY(mu_)
  std::optional<Status> done_;  // GUARDED_BY(mu_): the finished job's outcome
  bool stop_ = false;           // GUARDED_BY(mu_)
  // The thread waits for a commit to write back after (Log wakes it).
  bool waiting_for_commit_ = false;  // GUARDED_BY(mu_)
  bool writeback_refused_ = false;   // GUARDED_BY(mu_): sync_file_range failed once
  RedoStats stats_;                  // GUARDED_BY(mu_)
  Status stopped_;                   // GUARDED_BY(mu_): failed()
};

// For a process that opens the store read-only (backup, check): true when
// the store was left by a process that logged writes and did not close
// cleanly, and no writing process holds it now; it must then be opened for
// writing once (which recovers it) before its data.mdb may be read.
Result<bool> RedoRecoveryPending(const std::string& dir);

// Tests only: `hook` runs on the opening thread after each transaction a
// recovery replays and commits, with how many this open has replayed (a
// test's child process ends itself there: a crash in the middle of a
// recovery). Null, the default, runs nothing.
void SetReplayHookForTest(void (*hook)(uint64_t replayed));

}  // namespace hostca::storage::internal
