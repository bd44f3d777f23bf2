// ForwardingStorage: a Storage that passes every call to another one, the
// base of the wrappers that change a few calls (FaultInjectingStorage, the
// server's WakingStorage). Storage has calls with a default that does
// nothing (ReleaseMappedPages, WriteHealth): a wrapper that forwarded by
// hand and missed one would silently do nothing there (a server whose
// mapped store pages are never dropped), so the forwarding is written once,
// here, and a subclass overrides only what it changes, calling this class's
// version for the rest of the work.
//
// Thread safety: that of the inner store; this class adds no state after
// construction.
#pragma once

#include <functional>
#include <memory>

#include "storage/storage.h"

namespace hostca::storage {

class ForwardingStorage : public Storage {
 public:
  // Owns `inner`.
  explicit ForwardingStorage(std::unique_ptr<Storage> inner)
      : owned_(std::move(inner)), inner_(*owned_) {}
  // Borrows `inner`, which must outlive this object.
  explicit ForwardingStorage(Storage& inner) : inner_(inner) {}

  Storage& inner() { return inner_; }

  Status View(const std::function<Status(ReadTxn&)>& fn) override { return inner_.View(fn); }
  Status Update(WriteFn fn) override { return inner_.Update(std::move(fn)); }
  StorageStats Stats() override { return inner_.Stats(); }
  Status CopyCompactTo(int fd) override { return inner_.CopyCompactTo(fd); }
  void Close() override { inner_.Close(); }
  void ReleaseMappedPages() override { inner_.ReleaseMappedPages(); }
  Status WriteHealth() override { return inner_.WriteHealth(); }

 private:
  std::unique_ptr<Storage> owned_;  // null when borrowed
  Storage& inner_;
};

}  // namespace hostca::storage
