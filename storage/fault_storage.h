// FaultInjectingStorage: wraps a Storage so tests reach the failure paths of
// a real disk (I/O errors, a full disk, an unavailable store). While armed,
// Update returns the armed status without running fn, so nothing is
// stored; every other call passes through (ForwardingStorage).
// Unarmed, it is a plain pass-through.
//
// Thread-safe; arming races with Update calls in flight only in which of
// them see the fault.
#pragma once

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
  Status Update(WriteFn fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
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
  Status fault_;       // GUARDED_BY(mu_)
  int remaining_ = 0;  // GUARDED_BY(mu_); -1 = until Clear
};

}  // namespace hostca::storage
