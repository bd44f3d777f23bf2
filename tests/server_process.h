// ServerProcess: runs a real `hostca-server serve` on loopback with
// ephemeral ports for end-to-end tests, learns its ports from its log, waits
// for /healthz, and always stops it (SIGTERM, then SIGKILL) when destroyed.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/testutil.h"

namespace hostca::testing {

class ServerProcess {
 public:
  // Starts `hostca-server serve --data DIR --listen 127.0.0.1:0
  // --http-listen 127.0.0.1:0 EXTRA...`; output goes to DIR/../<name>.log.
  // `env` and `before_exec` as SpawnLogged takes them.
  ServerProcess(const std::string& data_dir, const std::string& log_path,
                std::vector<std::string> extra = {}, std::vector<std::string> env = {},
                BeforeExec before_exec = nullptr)
      : log_path_(log_path) {
    std::vector<std::string> args = {BinaryPath("hostca-server"),
                                     "serve",
                                     "--data",
                                     data_dir,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--http-listen",
                                     "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = SpawnLogged(std::move(args), std::move(env), log_path, before_exec);
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits (bounded) until the log names both ports and /healthz answers 200
  // over TLS pinned to the CA in `ca_path`. False if the process died or timed out.
  bool WaitReady(const std::string& ca_path,
                 std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Exited()) {
        return false;
      }
      if (https_port_ == 0 || http_port_ == 0) {
        ParsePorts();
      } else {
        httplib::SSLClient cli("127.0.0.1", https_port_);
        cli.set_ca_cert_path(ca_path);
        cli.enable_server_certificate_verification(true);
        cli.set_connection_timeout(std::chrono::seconds(2));
        if (auto res = cli.Get("/healthz"); res && res->status == 200) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval, not a wait
    }
    return false;
  }

  // Sends SIGTERM and waits for the exit status (-1 if ended by a signal,
  // exit_signal() says which). A server still there after `limit` (hung in
  // its drain or its exit) is killed, which ends it with SIGKILL: the test
  // fails instead of waiting until ctest kills it and leaves the server.
  int Terminate(std::chrono::seconds limit = std::chrono::seconds(60)) {
    ::kill(pid_, SIGTERM);
    return PollUntil([&] { return Exited(); }, limit) ? exit_code_ : Kill();
  }
  // SIGKILL: a crash at this moment.
  int Kill() {
    ::kill(pid_, SIGKILL);
    return Wait();
  }
  int Wait() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    Ended(st);
    return exit_code_;
  }
  bool Exited() {
    if (exited_) {
      return true;
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      Ended(st);
    }
    return exited_;
  }
  int exit_code() const { return exit_code_; }
  // The signal that ended the process (0 if it exited or still runs).
  int exit_signal() const { return exit_signal_; }
  int https_port() const { return https_port_; }
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string https_url() const { return "https://localhost:" + std::to_string(https_port_); }

 private:
  void Ended(int status) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    exit_signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  void ParsePorts() {
    const std::string log = Log();
    std::smatch m;
    static const std::regex https_re("listening https://[^:]+:([0-9]+)");
    static const std::regex http_re("listening http://[^:]+:([0-9]+)");
    if (std::regex_search(log, m, https_re)) {
      https_port_ = std::stoi(m[1]);
    }
    if (std::regex_search(log, m, http_re)) {
      http_port_ = std::stoi(m[1]);
    }
  }

  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  int exit_signal_ = 0;
  int https_port_ = 0;
  int http_port_ = 0;
};

}  // namespace hostca::testing
