#include "server/worker_pool.h"

#include <catch2/catch.hpp>
#include <condition_variable>
#include <future>
#include <mutex>

#include "tests/testutil.h"

namespace hostca::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

// Jobs that hold their thread until Open(), as a connection holds its
// worker while it is open.
class Gate {
 public:
  std::function<void()> Job() {
    return [this] {
      std::unique_lock<std::mutex> lock(mu_);
      ++started_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
      ++finished_;
      cv_.notify_all();
    };
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitStarted(int n) {
    return WaitFor([&] { return started_ >= n; });
  }
  bool WaitFinished(int n) {
    return WaitFor([&] { return finished_ >= n; });
  }
  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }

 private:
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), pred);
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int started_ = 0;
  int finished_ = 0;
};

bool Settled(const WorkerPoolStats& s, uint64_t threads) {
  return testing::PollUntil([&] { return s.threads.load() == threads && s.busy.load() == 0; },
                            milliseconds(30000));
}

TEST_CASE("a worker pool starts a thread for each waiting job up to its cap and queues the rest") {
  auto stats = std::make_shared<WorkerPoolStats>();
  Gate gate;
  {
    WorkerPool pool(4, 1, minutes(1), stats);
    CHECK(stats->max_threads == 4);
    for (int i = 0; i < 6; ++i) {
      pool.enqueue(gate.Job());
    }
    REQUIRE(gate.WaitStarted(4));
    CHECK(stats->threads == 4);
    CHECK(stats->busy == 4);
    CHECK(stats->queued == 2);
    CHECK(stats->peak_threads == 4);
    CHECK(gate.started() == 4);  // the cap holds: two wait
    gate.Open();
    REQUIRE(gate.WaitFinished(6));
    CHECK(stats->thread_starts == 4);
    CHECK(stats->start_failures == 0);
  }
  // Shut down: every thread ended.
  CHECK(stats->threads == 0);
  CHECK(stats->queued == 0);
}

TEST_CASE("a worker pool gives jobs to idle threads before it starts new ones") {
  auto stats = std::make_shared<WorkerPoolStats>();
  WorkerPool pool(8, 2, minutes(1), stats);
  REQUIRE(Settled(*stats, 2));
  for (int i = 0; i < 20; ++i) {
    std::promise<void> done;
    pool.enqueue([&done] { done.set_value(); });
    done.get_future().wait();
    REQUIRE(Settled(*stats, 2));
  }
  CHECK(stats->thread_starts == 2);
  CHECK(stats->peak_threads == 2);
}

TEST_CASE("threads beyond the kept ones end once idle and the pool grows again") {
  auto stats = std::make_shared<WorkerPoolStats>();
  WorkerPool pool(5, 2, milliseconds(20), stats);
  for (int round = 0; round < 2; ++round) {
    Gate gate;
    for (int i = 0; i < 5; ++i) {
      pool.enqueue(gate.Job());
    }
    REQUIRE(gate.WaitStarted(5));
    CHECK(stats->threads == 5);
    gate.Open();
    REQUIRE(gate.WaitFinished(5));
    // The three beyond the kept two end after 20 ms without a job.
    REQUIRE(Settled(*stats, 2));
  }
  CHECK(stats->peak_threads == 5);
  CHECK(stats->thread_starts >= 8);  // 2 kept, then 3 more in each round
}

TEST_CASE("shutting a worker pool down runs the queued jobs first") {
  auto stats = std::make_shared<WorkerPoolStats>();
  std::atomic<int> ran{0};
  Gate gate;
  WorkerPool pool(1, 1, minutes(1), stats);
  pool.enqueue(gate.Job());
  REQUIRE(gate.WaitStarted(1));
  for (int i = 0; i < 5; ++i) {
    pool.enqueue([&ran] { ++ran; });
  }
  CHECK(stats->queued == 5);
  auto stopped = std::async(std::launch::async, [&pool] { pool.shutdown(); });
  gate.Open();
  stopped.get();
  CHECK(ran == 5);
  CHECK(stats->threads == 0);
  pool.shutdown();  // a second call does nothing
}

}  // namespace
}  // namespace hostca::server
