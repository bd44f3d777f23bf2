// CliWorld: a CA made with `hostca-server init`, a real server on it, and
// the `hostca` client's command lines for an admin (the CA's admin token)
// and for hosts (a state directory each), all in one temporary directory.
// For end-to-end tests that drive the server the way its users do.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/file.h"
#include "common/pem.h"
#include "tests/server_process.h"
#include "tests/testutil.h"

namespace hostca::testing {

class CliWorld {
 public:
  // `serve_args` go to `hostca-server serve` (e.g. --config FILE);
  // `before_exec` runs in the server's process before its exec (see
  // SpawnLogged).
  explicit CliWorld(std::vector<std::string> serve_args = {}, BeforeExec before_exec = nullptr)
      : serve_args_(std::move(serve_args)), before_exec_(before_exec) {
    data_ = tmp_.Sub("ca");
    const auto init =
        Run(ShellQuote(BinaryPath("hostca-server")) + " init --data " + ShellQuote(data_));
    if (init.exit_code != 0) {
      throw std::runtime_error(init.output);
    }
    Start("server.log");
    auto ca = CertFromPem(*ReadFile(data_ + "/ca.crt"));
    fingerprint_ = *CertFingerprintSha256(ca->get());
  }
  // `hostca --server URL --dir DIR ARGS`, stdout and stderr apart.
  SplitResult Host(const std::string& dir, const std::string& args) {
    return RunSplit(ShellQuote(BinaryPath("hostca")) + " --server " + server_->https_url() +
                    " --dir " + ShellQuote(tmp_.Sub(dir)) + " " + args);
  }
  SplitResult Admin(const std::string& args) {
    return RunSplit(ShellQuote(BinaryPath("hostca")) + " --server " + server_->https_url() +
                    " --dir " + ShellQuote(tmp_.Sub("admin")) + " --admin-token-file " +
                    ShellQuote(data_ + "/admin.token") + " " + args);
  }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& data() const { return data_; }
  ServerProcess& server() { return *server_; }
  // Starts a fresh server process on the same data directory; stop the one
  // before first (server().Kill() for a crash, Terminate()).
  void Restart() { Start("server2.log"); }
  const TempDir& tmp() const { return tmp_; }

 private:
  void Start(const std::string& log) {
    server_ = std::make_unique<ServerProcess>(data_, tmp_.Sub(log), serve_args_,
                                              std::vector<std::string>{}, before_exec_);
    if (!server_->WaitReady(data_ + "/ca.crt")) {
      server_->Exited();
      throw std::runtime_error("server not ready (exit " + std::to_string(server_->exit_code()) +
                               ", signal " + std::to_string(server_->exit_signal()) +
                               "): " + server_->Log());
    }
  }
  std::vector<std::string> serve_args_;
  BeforeExec before_exec_ = nullptr;
  TempDir tmp_;
  std::string data_, fingerprint_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace hostca::testing
