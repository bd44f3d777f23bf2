// WorkerPool: the task queue of a listener (cpp-httplib's TaskQueue), with
// as many threads as there are connections to serve, up to a cap.
//
// cpp-httplib serves a connection on one worker from its handshake until
// it closes, idle keep-alive waits included; its own ThreadPool has a fixed
// number of threads, so as many idle connections as threads (a proxy's
// connection pool, or 64 kept-alive clients on the old default) stalled
// every other client until the idle timeout ended them: with 128
// kept-alive connections the issuance bench's p99 was 0.6 to 0.7 s, against
// 0.05 to 0.14 s with this pool (bench/results/issuance-2026-12-07-pool-*).
// This pool starts a thread whenever a connection waits and none is free,
// up to `max_threads`; threads idle for `idle_exit` end, down to
// `kept_threads`. Beyond the cap, connections wait in the queue as before.
// (cpp-httplib 0.11 hands the queue a closure that serves the whole
// connection, not the socket, so an event loop that parks idle connections
// without a thread is not possible behind it.)
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace hostca::server {

// What /metrics shows of a listener's pool. Shared with the pool, so it
// outlives it: cpp-httplib creates the pool when the listener starts and
// deletes it when the listener stops.
struct WorkerPoolStats {
  std::atomic<uint64_t> max_threads{0};     // the cap
  std::atomic<uint64_t> threads{0};         // alive
  std::atomic<uint64_t> busy{0};            // serving a connection
  std::atomic<uint64_t> queued{0};          // connections waiting for a thread
  std::atomic<uint64_t> peak_threads{0};    // most alive at once
  std::atomic<uint64_t> thread_starts{0};   // threads started since the server started
  std::atomic<uint64_t> start_failures{0};  // threads the system refused to start
};

class WorkerPool : public httplib::TaskQueue {
 public:
  // kept_threads start at once and never end; 1 <= kept_threads <= max_threads.
  WorkerPool(size_t max_threads, size_t kept_threads, std::chrono::milliseconds idle_exit,
             std::shared_ptr<WorkerPoolStats> stats);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void enqueue(std::function<void()> fn) override;
  // Runs every queued job, then ends and joins every thread.
  void shutdown() override;

 private:
  void Work();
  // Starts a thread; mu_ held. False when the system refuses one.
  bool StartThreadLocked();
  void PublishLocked();
  void JoinFinished();

  const size_t max_threads_;
  const size_t kept_threads_;
  const std::chrono::milliseconds idle_exit_;
  const std::shared_ptr<WorkerPoolStats> stats_;

  std::mutex mu_;
  std::condition_variable work_cv_;         // a job, or shutdown
  std::condition_variable done_cv_;         // a thread ended
  std::deque<std::function<void()>> jobs_;  // GUARDED_BY(mu_)
  size_t threads_ = 0;                      // GUARDED_BY(mu_): started, not yet ended
  size_t idle_ = 0;                         // GUARDED_BY(mu_): waiting for a job
  bool shutdown_ = false;                   // GUARDED_BY(mu_)
  bool joined_ = false;                     // GUARDED_BY(mu_)
  std::unordered_map<std::thread::id, std::thread> running_;  // GUARDED_BY(mu_)
  std::vector<std::thread> finished_;  // GUARDED_BY(mu_): ended, to be joined
};

}  // namespace hostca::server
