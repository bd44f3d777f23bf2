// FaultInjectingStorage: wraps a Storage so tests reach the failure paths of
// a real disk (I/O errors, a full disk). While armed, Update returns the
// armed status and stores nothing; reads pass through. Thread-safe.
#pragma once

#include <memory>
#include <mutex>

#include "storage/storage.h"

namespace hostca::storage {

class FaultInjectingStorage final : public Storage {
 public:
  explicit FaultInjectingStorage(std::unique_ptr<Storage> inner) : inner_(std::move(inner)) {}

  // Every Update fails with `st` until Clear().
  void FailCommits(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = std::move(st);
    remaining_ = -1;
  }
  // The next `n` Updates fail with `st`.
  void FailNextCommits(int n, Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = std::move(st);
    remaining_ = n;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    remaining_ = 0;
  }

  Status View(const std::function<Status(ReadTxn&)>& fn) override { return inner_->View(fn); }
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
    return inner_->Update(std::move(fn));
  }
  StorageStats Stats() override { return inner_->Stats(); }
  void Close() override { inner_->Close(); }

 private:
  std::unique_ptr<Storage> inner_;
  std::mutex mu_;
  Status fault_;       // GUARDED_BY(mu_)
  int remaining_ = 0;  // GUARDED_BY(mu_); -1 = until Clear
};

}  // namespace hostca::storage
