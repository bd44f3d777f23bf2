#include "storage/internal/group_commit.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "storage/internal/kv.h"

namespace hostca::storage::internal {
namespace {

// No exception may leave the writer thread (it would end the process) or
// cross the module boundary: a throwing fn fails only its own write.
Status CallGuarded(const WriteFn& fn, WriteTxn& txn) {
  try {
    return fn(txn);
  } catch (const std::exception& e) {
    return Internal(std::string("a write threw an exception: ") + e.what());
  } catch (...) {
    return Internal("a write threw an exception");
  }
}

size_t HistogramBucket(size_t batch_size, size_t buckets) {
  size_t bucket = 0;
  for (size_t v = batch_size; v > 1 && bucket + 1 < buckets; v >>= 1) {
    ++bucket;
  }
  return bucket;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GroupCommitStorage::GroupCommitStorage(std::unique_ptr<Backend> backend, size_t max_batch)
    : backend_(std::move(backend)), max_batch_(std::max<size_t>(1, max_batch)) {
  writer_ = std::thread([this] { WriterLoop(); });
  writer_id_ = writer_.get_id();
}

GroupCommitStorage::~GroupCommitStorage() { Close(); }

Status GroupCommitStorage::View(const std::function<Status(ReadTxn&)>& fn) {
  if (OnWriterThread()) {
    return Internal("View called from inside an Update (it would deadlock)");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      return Unavailable("the store is closed");
    }
  }
  return backend_->View(fn);
}

Status GroupCommitStorage::Update(WriteFn fn) {
  if (OnWriterThread()) {
    return Internal("Update called from inside an Update (it would deadlock)");
  }
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

Status GroupCommitStorage::CopyCompactTo(int fd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      return Unavailable("the store is closed");
    }
  }
  return backend_->CopyCompactTo(fd);
}

void GroupCommitStorage::Close() {
  std::call_once(close_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_one();
    writer_.join();  // drains the queue first
    backend_->Close();
  });
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
      batch[i].done.set_value(std::move(results[i]));
    }
  }
}

std::vector<Status> GroupCommitStorage::RunBatch(std::vector<Pending>& batch) {
  bool nested = false;  // first try the batch without nested transactions
  while (true) {
    const auto started = std::chrono::steady_clock::now();
    auto txn = backend_->Begin();
    if (!txn.ok()) {
      Record(batch.size(), false);
      return std::vector<Status>(batch.size(), txn.status());
    }
    std::vector<Status> results;
    results.reserve(batch.size());
    bool full = false;
    bool failed = false;
    for (Pending& p : batch) {
      WriteFn guarded = [&p](WriteTxn& t) { return CallGuarded(p.fn, t); };
      results.push_back(nested ? (*txn)->RunNested(guarded) : (*txn)->RunDirect(guarded));
      full = results.back().reason() == kMapFullReason;
      failed = !nested && !results.back().ok();
      if (full || failed) {
        break;
      }
    }
    Status commit;
    double apply_seconds = 0, commit_seconds = 0;
    if (full || failed) {
      (*txn)->Abort();
    } else {
      apply_seconds = SecondsSince(started);
      const auto committing = std::chrono::steady_clock::now();
      commit = (*txn)->Commit();
      commit_seconds = SecondsSince(committing);
    }
    if (full || commit.reason() == kMapFullReason) {
      if (Status grown = backend_->Grow(); !grown.ok()) {
        Record(batch.size(), false);
        return std::vector<Status>(batch.size(), grown);
      }
      continue;  // the map grew: run the whole batch again
    }
    if (failed) {
      if (batch.size() == 1) {
        return results;  // nothing else to keep
      }
      nested = true;  // undo only the failing writes
      continue;
    }
    if (!commit.ok()) {
      Record(batch.size(), false);
      return std::vector<Status>(batch.size(), commit);
    }
    Record(batch.size(), true, apply_seconds, commit_seconds);
    return results;
  }
}

void GroupCommitStorage::Record(size_t n, bool ok, double apply_seconds, double commit_seconds) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  if (!ok) {
    ++stats_.failed_commits;
    return;
  }
  ++stats_.commits;
  stats_.writes += n;
  stats_.max_batch = std::max<uint64_t>(stats_.max_batch, n);
  ++stats_.batch_histogram[HistogramBucket(n, stats_.batch_histogram.size())];
  const auto& le = StorageStats::kCommitSecondsLe;
  const size_t bucket =
      static_cast<size_t>(std::lower_bound(le.begin(), le.end(), commit_seconds) - le.begin());
  ++stats_.commit_seconds_histogram[bucket];
  stats_.commit_seconds += commit_seconds;
  stats_.apply_seconds += apply_seconds;
}

StorageStats GroupCommitStorage::Stats() {
  StorageStats s;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s = stats_;
  }
  backend_->FillStats(&s);
  s.writes_stopped = !backend_->Health().ok();
  return s;
}

}  // namespace hostca::storage::internal
