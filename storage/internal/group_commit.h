// GroupCommitStorage: the Storage implementation shared by every backend.
// Writes queue up; one writer thread runs a batch of them in one backend
// transaction (each in a nested transaction of its own), commits once, and
// only then releases the callers. View runs on the caller's thread.
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
  // fails. Returns fn's status, or resource_exhausted "map_full" when the
  // backend ran out of room (whatever fn returned).
  virtual Status RunNested(const WriteFn& fn) = 0;
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
};

class GroupCommitStorage final : public Storage {
 public:
  GroupCommitStorage(std::unique_ptr<Backend> backend, size_t max_batch);
  ~GroupCommitStorage() override;

  Status View(const std::function<Status(ReadTxn&)>& fn) override;
  Status Update(WriteFn fn) override;
  StorageStats Stats() override;
  void Close() override;

 private:
  struct Pending {
    WriteFn fn;
    std::promise<Status> done;
  };
  void WriterLoop();
  std::vector<Status> RunBatch(std::vector<Pending>& batch);
  void Record(size_t batch_size, bool ok);

  std::unique_ptr<Backend> backend_;
  const size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // GUARDED_BY(mu_)
  bool closing_ = false;       // GUARDED_BY(mu_)
  std::mutex stats_mu_;
  StorageStats stats_;  // GUARDED_BY(stats_mu_)
  std::thread writer_;
};

}  // namespace hostca::storage::internal
