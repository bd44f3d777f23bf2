#include "storage/internal/group_commit.h"

#include "storage/internal/kv.h"

namespace hostca::storage::internal {

GroupCommitStorage::GroupCommitStorage(std::unique_ptr<Backend> backend, size_t max_batch)
    : backend_(std::move(backend)), max_batch_(std::max<size_t>(1, max_batch)) {
  writer_ = std::thread([this] { WriterLoop(); });
}

GroupCommitStorage::~GroupCommitStorage() { Close(); }

Status GroupCommitStorage::View(const std::function<Status(ReadTxn&)>& fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      return Unavailable("the store is closed");
    }
  }
  return backend_->View(fn);
}

Status GroupCommitStorage::Update(WriteFn fn) {
  std::future<Status> result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      return Unavailable("the store is closed");
    }
    queue_.push_back(Pending{std::move(fn), {}});
    result = queue_.back().done.get_future();
  }
  cv_.notify_one();
  return result.get();
}

void GroupCommitStorage::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      return;
    }
    closing_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable()) {
    writer_.join();
  }
}

void GroupCommitStorage::WriterLoop() {
  while (true) {
    std::vector<Pending> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) {
        return;  // closing and drained
      }
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Status> results = RunBatch(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].done.set_value(results[i]);
    }
  }
}

std::vector<Status> GroupCommitStorage::RunBatch(std::vector<Pending>& batch) {
  while (true) {
    auto txn = backend_->Begin();
    if (!txn.ok()) {
      Record(batch.size(), false);
      return std::vector<Status>(batch.size(), txn.status());
    }
    std::vector<Status> results;
    results.reserve(batch.size());
    bool full = false;
    for (Pending& p : batch) {
      results.push_back((*txn)->RunNested(p.fn));
      if (results.back().reason() == kMapFullReason) {
        full = true;
        break;
      }
    }
    Status commit = full ? Status::Ok() : (*txn)->Commit();
    if (full || commit.reason() == kMapFullReason) {
      if (full) {
        (*txn)->Abort();
      }
      if (Status grown = backend_->Grow(); !grown.ok()) {
        Record(batch.size(), false);
        return std::vector<Status>(batch.size(), grown);
      }
      continue;  // the map grew: run the whole batch again
    }
    if (!commit.ok()) {
      Record(batch.size(), false);
      return std::vector<Status>(batch.size(), commit);
    }
    Record(batch.size(), true);
    return results;
  }
}

void GroupCommitStorage::Record(size_t n, bool ok) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  if (!ok) {
    ++stats_.failed_commits;
    return;
  }
  ++stats_.commits;
  stats_.writes += n;
  stats_.max_batch = std::max<uint64_t>(stats_.max_batch, n);
  size_t bucket = 0;
  for (size_t v = n; v > 1 && bucket + 1 < stats_.batch_histogram.size(); v >>= 1) {
    ++bucket;
  }
  ++stats_.batch_histogram[bucket];
}

StorageStats GroupCommitStorage::Stats() {
  StorageStats s;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s = stats_;
  }
  backend_->FillStats(&s);
  return s;
}

}  // namespace hostca::storage::internal
