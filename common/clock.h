// Clock: the injectable source of time (STYLE.md rule 6). Nothing in ca/,
// crl/ or enrollment/ reads the system clock directly; they take a Clock&.
//
// Thread safety: SystemClock and FakeClock are safe to use from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace hostca {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t NowSeconds() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowSeconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // A process-wide instance.
  static SystemClock& Instance() {
    static SystemClock clock;
    return clock;
  }
};

// A clock tests move by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now) : now_(now) {}
  int64_t NowSeconds() const override { return now_.load(); }
  void Set(int64_t now) { now_.store(now); }
  void Advance(int64_t seconds) { now_.fetch_add(seconds); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace hostca
