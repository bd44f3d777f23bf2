// When the server drops its mappings of store pages (Storage::
// ReleaseMappedPages): every ten seconds, and sooner when the file pages mapped
// into the process exceed storage.mapped_mib. Under load at ten million
// stored certificates every random B-tree page read maps 64 KB (the kernel's
// fault-around), about 600 MiB a second, all of it page cache that VmRSS
// counts; the budget keeps VmRSS near it. A store larger than the budget
// maps one page per fault instead (StoreOptions, storage::LmdbOptions::
// single_page_faults_from), so the budget fills later. An idle server stops
// looking (QuietLooks, WakingStorage). Thread safety: the free functions
// and WakingStorage from any thread; QuietLooks is the maintenance thread's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "storage/forwarding_storage.h"
#include "storage/storage.h"

namespace hostca::server {

// How often the maintenance thread looks at the mapped pages. What the
// server maps between two looks comes on top of the budget: at 10M stored
// certificates, issuing at 8 connections, the loaded server's peak VmRSS
// (VmHWM) was 492 and 592 MiB with a look every 100 ms, 244 and 266 MiB
// every 20 ms, and 220 and 225 MiB every 10 ms, at the same rate (issue 5
// asks for under 256 MiB; bench/results/scale-2026-12-03-mapped-check-*).
// A look reads /proc/self/statm: about 15 us, 0.15% of a core. With looks
// spaced by the room left under the budget (up to 125 ms apart when idle)
// the peak reached 364 MiB (bench/results/scale-2026-12-03-paced-looks-ab-
// 10m), most likely in a burst from idle such as the inventory queries, which
// map pages faster than the growth such a pacer can assume; so the interval
// is fixed.
inline constexpr std::chrono::milliseconds kMappedPagesCheckEvery{10};
// The longest the mappings are kept whatever their size. Under load the
// budget drops them sooner; a server that goes idle drops them after
// kQuietLooksBeforeIdle. Between the two, each drop makes the pages the
// next commits reuse fault in again: beside the redo log's writeback
// (storage.writeback_ms), one run of 30000 requests on a fresh store
// issued 810 and 720 certs/s (new connection, renewal) with 1 s, the
// value until 2026-12-05, against 854 and 797 with 10 s (issuance_bench,
// 2026-12-05, not kept; the change as a whole is in bench/results/
// issuance-2026-12-05-writeback-*).
inline constexpr std::chrono::seconds kMappedPagesKeptAtMost{10};
// Looks in a row that find no more mapped pages than the one before, after
// which the server is idle: it drops its mappings once and stops looking
// (and so waking up 100 times a second) until the store is used again.
inline constexpr int kQuietLooksBeforeIdle = 100;  // a second

// Bytes of file-backed pages mapped into this process: the third field of
// /proc/self/statm (RssFile + RssShmem), 0 when it cannot be read.
uint64_t MappedFileBytes();

// True when the mappings are to be dropped now: they exceed `budget_bytes`,
// or `since_last_release` reached kMappedPagesKeptAtMost.
bool ShouldReleaseMappedPages(uint64_t mapped_bytes, uint64_t budget_bytes,
                              std::chrono::steady_clock::duration since_last_release);

// Tells when the looks found the mapped pages still for kQuietLooksBeforeIdle
// looks in a row. A release in between is not growth.
class QuietLooks {
 public:
  // The mapped bytes a look found (after its release, if it made one); true
  // once they have not grown for kQuietLooksBeforeIdle looks.
  bool Look(uint64_t mapped_bytes) {
    quiet_ = mapped_bytes > last_ ? 0 : quiet_ + 1;
    last_ = mapped_bytes;
    return quiet_ >= kQuietLooksBeforeIdle;
  }
  void Reset() { quiet_ = 0; }

 private:
  uint64_t last_ = 0;
  int quiet_ = 0;
};

// The server's store: every call goes to `inner`. After Sleep, the first
// call that may map store pages (View, Update, CopyCompactTo, Stats) runs
// `wake` once, before its own work: the maintenance thread then looks
// again from the first page a burst maps. Only that call pays more than a
// relaxed load; `wake` must not call back into this store.
class WakingStorage final : public storage::ForwardingStorage {
 public:
  WakingStorage(std::unique_ptr<storage::Storage> inner, std::function<void()> wake)
      : ForwardingStorage(std::move(inner)), wake_(std::move(wake)) {}

  // The maintenance thread goes idle; the next call wakes it.
  void Sleep() { asleep_.store(true); }
  bool asleep() const { return asleep_.load(); }

  Status View(const std::function<Status(storage::ReadTxn&)>& fn) override {
    Touch();
    return ForwardingStorage::View(fn);
  }
  Status Update(storage::WriteFn fn) override {
    Touch();
    return ForwardingStorage::Update(std::move(fn));
  }
  storage::StorageStats Stats() override {
    Touch();
    return ForwardingStorage::Stats();
  }
  Status CopyCompactTo(int fd) override {
    Touch();
    return ForwardingStorage::CopyCompactTo(fd);
  }

 private:
  void Touch() {
    if (asleep_.load(std::memory_order_relaxed) && asleep_.exchange(false)) {
      wake_();
    }
  }

  std::function<void()> wake_;
  std::atomic<bool> asleep_{false};
};

}  // namespace hostca::server
