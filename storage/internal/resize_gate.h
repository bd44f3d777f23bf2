// ResizeGate: keeps LMDB read transactions and a map resize apart.
//
// mdb_env_set_mapsize may only run while no transaction of the process is
// active, so every read transaction holds the gate shared and the writer
// thread takes it exclusively to grow the map (or to close the
// environment). Unlike std::shared_mutex (glibc's prefers readers), the gate
// lets no new reader in once a resize waits, so a steady stream of
// overlapping reads cannot starve the writer. The flip side: a thread must
// never take the gate shared twice (no View inside View), which the Storage
// contract forbids anyway.
//
// Thread-safe. The lowercase method names make it usable with
// std::shared_lock and std::unique_lock.
#pragma once

#include <condition_variable>
#include <mutex>

namespace hostca::storage::internal {

class ResizeGate {
 public:
  void lock_shared() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !exclusive_ && exclusive_waiting_ == 0; });
    ++readers_;
  }
  void unlock_shared() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--readers_ == 0) {
      cv_.notify_all();
    }
  }
  void lock() {
    std::unique_lock<std::mutex> lock(mu_);
    ++exclusive_waiting_;
    cv_.wait(lock, [this] { return !exclusive_ && readers_ == 0; });
    --exclusive_waiting_;
    exclusive_ = true;
  }
  void unlock() {
    std::lock_guard<std::mutex> lock(mu_);
    exclusive_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;            // GUARDED_BY(mu_)
  int exclusive_waiting_ = 0;  // GUARDED_BY(mu_)
  bool exclusive_ = false;     // GUARDED_BY(mu_)
};

}  // namespace hostca::storage::internal
