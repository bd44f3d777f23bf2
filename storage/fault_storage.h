// FaultInjectingStorage: wraps a Storage so tests reach the failure paths of
// a real disk (I/O errors, a full disk, an unavailable store). While armed,
// Update returns the armed status without running fn, so nothing is
// stored; every other call passes through (ForwardingStorage).
// Unarmed, it is a plain pass-through.
//
// Thread-safe; arming races with Update calls in flight only in which of
// them see the fault.
//
// HoldCommits makes Updates wait before they run until ReleaseHeld: a
// request then stays in its handler for as long as a test needs (a slow
// disk, or a request in flight when the server stops).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "storage/forwarding_storage.h"

namespace hostca::storage {

class FaultInjectingStorage final : public ForwardingStorage {
 public:
  // Owns `inner`, or borrows it (it must then outlive this object).
  using ForwardingStorage::ForwardingStorage;

  // Every Update fails with `st` (not OK) until Clear().
  void FailCommits(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = std::move(st);
    remaining_ = -1;
  }
  // The next `n` Updates fail with `st` (not OK), then writes pass again.
  void FailNextCommits(int n, Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = std::move(st);
    remaining_ = n;
  }
  // Disarms.
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    remaining_ = 0;
  }
  // Updates from now on wait until ReleaseHeld.
  void HoldCommits() {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = true;
  }
  // Lets the held Updates (and later ones) run.
  void ReleaseHeld() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      holding_ = false;
    }
    cv_.notify_all();
  }
  // Whether `n` Updates are waiting within `limit`.
  bool WaitHeld(int n, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return held_ >= n; });
  }
  Status Update(WriteFn fn) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (holding_) {
        ++held_;
        cv_.notify_all();
        cv_.wait(lock, [this] { return !holding_; });
        --held_;
      }
      if (remaining_ != 0) {
        if (remaining_ > 0) {
          --remaining_;
        }
        return fault_;
      }
    }
    return ForwardingStorage::Update(std::move(fn));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Status fault_;          // GUARDED_BY(mu_)
  int remaining_ = 0;     // GUARDED_BY(mu_); -1 = until Clear
  bool holding_ = false;  // GUARDED_BY(mu_)
  int held_ = 0;          // GUARDED_BY(mu_): Updates waiting
};

}  // namespace hostca::storage
