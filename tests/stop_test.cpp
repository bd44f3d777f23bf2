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

// Runs the server and waits at most 30 s for Run to return. A Run that
// does not return cannot be joined or stopped from here: the test process
// ends at once, failed, instead of hanging until ctest's timeout.
Status RunToEnd(server::Server& server) {
  auto run = std::async(std::launch::async, [&server] { return server.Run(); });
  if (run.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "Server::Run did not return after Stop: the stop was lost\n");
    std::fflush(stderr);
    std::_Exit(1);
  }
  return run.get();
}

TEST_CASE("a stop before the server runs ends its run") {
  Stoppable ca;
  auto server = ca.Bound();
  server->Stop();
  REQUIRE(RunToEnd(*server).ok());
}

TEST_CASE("a stop while the server starts to run ends its run, every time") {
  Stoppable ca;
  for (int i = 0; i < 20; ++i) {
    auto server = ca.Bound();
    auto run = std::async(std::launch::async, [&server] { return server->Run(); });
    server->Stop();  // at once: mostly before the accept loops run
    if (run.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      std::fprintf(stderr, "Server::Run did not return after Stop (round %d)\n", i);
      std::fflush(stderr);
      std::_Exit(1);
    }
    REQUIRE(run.get().ok());
  }
}

}  // namespace
}  // namespace hostca::testing
