#include "server/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace hostca::server {

WorkerPool::WorkerPool(size_t max_threads, size_t kept_threads, std::chrono::milliseconds idle_exit,
                       std::shared_ptr<WorkerPoolStats> stats)
    : max_threads_(std::max<size_t>(1, max_threads)),
      kept_threads_(std::clamp<size_t>(kept_threads, 1, std::max<size_t>(1, max_threads))),
      idle_exit_(idle_exit),
      stats_(stats ? std::move(stats) : std::make_shared<WorkerPoolStats>()) {
  stats_->max_threads.store(max_threads_, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < kept_threads_; ++i) {
    if (!StartThreadLocked()) {
      break;
    }
  }
  PublishLocked();
}

WorkerPool::~WorkerPool() { shutdown(); }

bool WorkerPool::StartThreadLocked() {
  try {
    // The new thread waits for mu_ (held here) before it looks at anything.
    std::thread t([this] { Work(); });
    const std::thread::id id = t.get_id();
    running_.emplace(id, std::move(t));
  } catch (const std::system_error& e) {
    // EAGAIN: the process or the system is at its thread limit. The job
    // stays queued for the threads there are.
    // Logged at the 1st, 2nd, 4th, 8th... failure: one per connection
    // would flood the log while the limit lasts.
    const uint64_t failures = stats_->start_failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if ((failures & (failures - 1)) == 0) {
      spdlog::warn("cannot start an HTTP worker thread ({} running; {} failures so far): {}",
                   threads_, failures, e.what());
    }
    return false;
  }
  ++threads_;
  stats_->thread_starts.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void WorkerPool::PublishLocked() {
  stats_->threads.store(threads_, std::memory_order_relaxed);
  stats_->busy.store(threads_ - idle_, std::memory_order_relaxed);
  stats_->queued.store(jobs_.size(), std::memory_order_relaxed);
  if (threads_ > stats_->peak_threads.load(std::memory_order_relaxed)) {
    stats_->peak_threads.store(threads_, std::memory_order_relaxed);
  }
}

void WorkerPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(fn));
    // Idle threads take queued jobs one each; a job beyond them gets a
    // thread of its own while the cap allows.
    if (jobs_.size() > idle_ && threads_ < max_threads_ && !shutdown_) {
      StartThreadLocked();
    }
    PublishLocked();
  }
  work_cv_.notify_one();
  JoinFinished();
}

void WorkerPool::JoinFinished() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(finished_);
  }
  for (std::thread& t : done) {
    t.join();  // it has left Work; only its return is left
  }
}

void WorkerPool::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (jobs_.empty()) {
      if (shutdown_) {
        break;
      }
      ++idle_;
      PublishLocked();
      const bool woken =
          work_cv_.wait_for(lock, idle_exit_, [this] { return !jobs_.empty() || shutdown_; });
      --idle_;
      if (!woken && threads_ > kept_threads_) {
        break;  // idle for idle_exit_, and more threads than kept
      }
      continue;
    }
    std::function<void()> fn = std::move(jobs_.front());
    jobs_.pop_front();
    PublishLocked();
    lock.unlock();
    fn();
    fn = nullptr;  // the connection's state goes before the lock is taken again
    lock.lock();
  }
  --threads_;
  PublishLocked();
  auto self = running_.find(std::this_thread::get_id());
  if (self != running_.end()) {
    finished_.push_back(std::move(self->second));
    running_.erase(self);
  }
  // Notified under the lock: the pool may be destroyed once it is released.
  done_cv_.notify_all();
}

void WorkerPool::shutdown() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (joined_) {
      return;
    }
    shutdown_ = true;
    work_cv_.notify_all();
    done_cv_.wait(lock, [this] { return threads_ == 0; });
    // Jobs no thread took (none could be started) still serve, and close,
    // their connections.
    while (!jobs_.empty()) {
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      fn = nullptr;
      lock.lock();
    }
    joined_ = true;
    PublishLocked();
  }
  JoinFinished();
}

}  // namespace hostca::server
