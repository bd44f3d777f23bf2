// FaultInjectingStorage: wraps a Storage so tests reach the failure paths of
// a real disk (I/O errors, a full disk, an unavailable store). While armed,
// Update returns the armed status without running fn, so nothing is
// stored; View, Stats, CopyCompactTo and Close always pass through.
// Unarmed, it is a plain pass-through.
//
// Thread-safe; arming races with Update calls in flight only in which of
// them see the fault.
#pragma once

#include <memory>
#include <mutex>

#include "storage/storage.h"

namespace hostca::storage {

class FaultInjectingStorage final : public Storage {
 public:
  // Owns `inner`.
  explicit FaultInjectingStorage(std::unique_ptr<Storage> inner)
      : owned_(std::move(inner)), inner_(*owned_) {}
  // Borrows `inner`, which must outlive this object.
  explicit FaultInjectingStorage(Storage& inner) : inner_(inner) {}

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
  Storage& inner() { return inner_; }

  Status View(const std::function<Status(ReadTxn&)>& fn) override { return inner_.View(fn); }
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
    return inner_.Update(std::move(fn));
  }
  StorageStats Stats() override { return inner_.Stats(); }
  Status CopyCompactTo(int fd) override { return inner_.CopyCompactTo(fd); }
  void Close() override { inner_.Close(); }
  void ReleaseMappedPages() override { inner_.ReleaseMappedPages(); }
  Status WriteHealth() override { return inner_.WriteHealth(); }

 private:
  std::unique_ptr<Storage> owned_;  // null when borrowed
  Storage& inner_;
  std::mutex mu_;
  Status fault_;       // GUARDED_BY(mu_)
  int remaining_ = 0;  // GUARDED_BY(mu_); -1 = until Clear
};

}  // namespace hostca::storage
