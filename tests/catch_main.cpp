// Catch2's main, with one change for tests that talk to a server in another
// process: a write to a connection that process closed (it crashed, or a
// test killed it) fails with EPIPE, which the test reports with the
// server's log, instead of ending the whole test binary with SIGPIPE and no
// word. A handler, not SIG_IGN: programs the tests start get the default
// back at exec.
#define CATCH_CONFIG_RUNNER
#include <signal.h>

#include <catch2/catch.hpp>

namespace {
void IgnoreSignal(int) {}
}  // namespace

int main(int argc, char* argv[]) {
  struct sigaction action {};
  action.sa_handler = IgnoreSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGPIPE, &action, nullptr);
  return Catch::Session().run(argc, argv);
}
