// Stopping an in-process server at the moment it starts (issue 5's
// benchmarks found it): cpp-httplib stops only a listener whose accept loop
// already runs, so a Stop() that came before both loops ran (a SIGTERM
// right after "ready") used to reach neither, and the server ran on until
// killed. Server::Run now passes such a stop on once the loops run.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>

#include "tests/api_fixture.h"

namespace hostca::testing {
namespace {

// A CA made by init in a temporary directory, served on ephemeral ports.
struct Stoppable {
  Stoppable() {
    options.data_dir = tmp.Sub("ca");
    options.listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.durable = false;
    auto report = server::RunInit(options, server::InitOptions{}, clock);
    if (!report.ok()) {
      throw std::runtime_error("init: " + report.status().ToString());
    }
  }
  std::unique_ptr<server::Server> Bound() {
    auto server = server::Server::Create(options, clock);
    if (!server.ok()) {
      throw std::runtime_error("create: " + server.status().ToString());
    }
    if (Status st = (*server)->Bind(); !st.ok()) {
      throw std::runtime_error("bind: " + st.ToString());
    }
    return std::move(*server);
  }
  TempDir tmp;
  FakeClock clock{static_cast<int64_t>(std::time(nullptr))};
  server::ServerOptions options;
};

// Waits at most 30 s for a Run to return. A Run that does not return
// cannot be joined or stopped from here: the test process ends at once,
// failed, instead of hanging until ctest's timeout.
Status Finished(std::future<Status>& run, int round) {
  if (run.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "Server::Run did not return after Stop (round %d): the stop was lost\n",
                 round);
    std::fflush(stderr);
    std::_Exit(1);
  }
  return run.get();
}

TEST_CASE("a stop before the server runs ends its run") {
  Stoppable ca;
  auto server = ca.Bound();
  server->Stop();
  auto run = std::async(std::launch::async, [&server] { return server->Run(); });
  REQUIRE(Finished(run, 0).ok());
}

TEST_CASE("a stop while the server starts to run ends its run, every time") {
  Stoppable ca;
  for (int i = 0; i < 20; ++i) {
    auto server = ca.Bound();
    auto run = std::async(std::launch::async, [&server] { return server->Run(); });
    server->Stop();  // at once: mostly before the accept loops run
    REQUIRE(Finished(run, i).ok());
  }
}

}  // namespace
}  // namespace hostca::testing
