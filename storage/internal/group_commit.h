// GroupCommitStorage: the Storage implementation shared by every backend.
// Writes queue up; one writer thread takes up to max_batch of them, runs them
// in one backend transaction, commits once (one fsync), and only then
// releases the callers.
//
// Each write must be undone alone when it fails. A nested LMDB transaction
// per write does that but costs LMDB about 3 MiB of allocation each, and
// failures are rare; so a batch first runs its writes straight in the outer
// transaction, and only when one of them fails is the batch undone and run
// again with a nested transaction per write. The outcome is the same as
// nesting always. When the backend reports "map_full" the whole batch is
// undone, the backend grows and the batch runs again. View runs on the
// caller's thread.
//
// Thread safety: GroupCommitStorage is thread-safe; a Backend is called by
// the writer thread (Begin, Grow, BatchTxn) and by any thread (View,
// FillStats), and Close runs once after the writer stopped.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/storage.h"

namespace hostca::storage::internal {

// One outer transaction of the writer.
class BatchTxn {
 public:
  virtual ~BatchTxn() = default;
  // Runs fn in a nested transaction, kept when fn succeeds and undone when it
  // fails. Returns fn's status (or the error of a write fn ignored), or
  // resource_exhausted "map_full" when the backend ran out of room (whatever
  // fn returned); after "map_full" only Abort is allowed.
  virtual Status RunNested(const WriteFn& fn) = 0;
  // Runs fn straight in this transaction; statuses as RunNested. After a
  // failure the transaction holds fn's partial changes: only Abort is allowed.
  virtual Status RunDirect(const WriteFn& fn) = 0;
  // Durable on return when OK. "map_full" as above.
  virtual Status Commit() = 0;
  virtual void Abort() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<std::unique_ptr<BatchTxn>> Begin() = 0;
  virtual Status View(const std::function<Status(ReadTxn&)>& fn) = 0;
  // Makes room after "map_full"; resource_exhausted when it cannot grow.
  virtual Status Grow() = 0;
  virtual void FillStats(StorageStats* stats) = 0;
  // Storage::CopyCompactTo.
  virtual Status CopyCompactTo(int fd) = 0;
  // Releases the backend's resources; View then returns unavailable.
  virtual void Close() = 0;
  virtual void ReleaseMappedPages() {}
  // Storage::WriteHealth; any thread.
  virtual Status Health() { return Status::Ok(); }
};

class GroupCommitStorage final : public Storage {
 public:
  GroupCommitStorage(std::unique_ptr<Backend> backend, size_t max_batch);
  ~GroupCommitStorage() override;

  Status View(const std::function<Status(ReadTxn&)>& fn) override;
  Status Update(WriteFn fn) override;
  StorageStats Stats() override;
  Status CopyCompactTo(int fd) override;
  void Close() override;
  void ReleaseMappedPages() override { backend_->ReleaseMappedPages(); }
  Status WriteHealth() override { return backend_->Health(); }

 private:
  struct Pending {
    WriteFn fn;
    std::promise<Status> done;
  };
  void WriterLoop();
  std::vector<Status> RunBatch(std::vector<Pending>& batch);
  void Record(size_t batch_size, bool ok, double apply_seconds = 0, double commit_seconds = 0);
  bool OnWriterThread() const { return std::this_thread::get_id() == writer_id_; }

  std::unique_ptr<Backend> backend_;
  const size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // GUARDED_BY(mu_)
  bool closing_ = false;       // GUARDED_BY(mu_)
  std::mutex stats_mu_;
  StorageStats stats_;  // GUARDED_BY(stats_mu_)
  std::thread writer_;
  std::thread::id writer_id_;
  std::once_flag close_once_;
};

}  // namespace hostca::storage::internal
