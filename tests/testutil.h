// Shared helpers for hostca tests: temporary directories that clean
// themselves up, and running the real command-line tools (openssl, certtool,
// the hostca binaries) with their output captured.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/encoding.h"

namespace hostca::testing {

// A fresh directory under the system temp dir, removed with everything in it
// when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("hostca-test-" + HexEncode(RandomBytes(8)));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `shell_cmd` through /bin/sh and returns its exit code and stdout.
inline CommandResult RunShell(const std::string& shell_cmd) {
  CommandResult res;
  FILE* pipe = ::popen(shell_cmd.c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("popen failed: " + shell_cmd);
  }
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) {
    res.output.append(buf, n);
  }
  const int status = ::pclose(pipe);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return res;
}

// Runs `cmd` through /bin/sh with stderr folded into stdout.
inline CommandResult Run(const std::string& cmd) { return RunShell(cmd + " 2>&1"); }

// Runs `cmd` with stdout and stderr kept apart (for commands whose stdout is
// one JSON document while they log to stderr).
struct SplitResult {
  int exit_code = -1;
  std::string out, err;
};
inline SplitResult RunSplit(const std::string& cmd) {
  const std::string err_path =
      (std::filesystem::temp_directory_path() / ("hostca-err-" + HexEncode(RandomBytes(6))))
          .string();
  const CommandResult r = RunShell("( " + cmd + " ) 2>" + err_path);
  SplitResult out{r.exit_code, r.output, RunShell("cat " + err_path).output};
  std::remove(err_path.c_str());
  return out;
}

// Quotes `s` for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The serial of a PEM certificate file as the API writes it (lower-case
// hex, no leading zeros), read by `openssl x509` rather than hostca's own
// code. Throws when openssl cannot read the file.
inline std::string SerialOfCertFile(const std::string& path) {
  const CommandResult out = Run("openssl x509 -noout -serial -in " + ShellQuote(path));
  if (out.exit_code != 0 || out.output.rfind("serial=", 0) != 0) {
    throw std::runtime_error("openssl x509 -serial " + path + ": " + out.output);
  }
  std::string hex;
  for (const char c : out.output.substr(7, out.output.find_first_of("\r\n") - 7)) {
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return hex.substr(std::min(hex.find_first_not_of('0'), hex.size() - 1));
}

// Path of a built binary ("hostca-server", "hostca").
inline std::string BinaryPath(const std::string& name) {
  return std::string(HOSTCA_BINARY_DIR) + "/bin/" + name;
}

// Asks `done` every 20 ms until it says true (returns true) or `limit` has
// passed (returns false): how a test waits for another process (a file it
// writes, its exit) without sleeping a fixed time.
template <typename Done>
bool PollUntil(Done done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval, not a wait
  }
  return true;
}

// This process's environment with `extra` ("NAME=value") added, replacing
// entries of the same names, as execve's envp (null-terminated; it points
// into `extra` and environ, so keep both alive). Made before a fork, so that
// the child only execs.
inline std::vector<char*> EnvironmentWith(std::vector<std::string>& extra) {
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& mine) {
      return entry.substr(0, entry.find('=') + 1) == mine.substr(0, mine.find('=') + 1);
    });
    if (!replaced) {
      envp.push_back(*e);
    }
  }
  for (std::string& e : extra) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  return envp;
}

// Starts `args` (args[0] a path) with `env` ("NAME=value") added to this
// process's environment and stdout and stderr going to `log_path`;
// `before_exec`, when given, runs in the child just before the exec, with
// the argv it will exec (system calls only: the child of a threaded
// process may not allocate, so everything the exec needs is made before
// the fork). Returns the child's pid; throws when fork fails.
using BeforeExec = void (*)(char* const argv[]);
inline pid_t SpawnLogged(std::vector<std::string> args, std::vector<std::string> env,
                         const std::string& log_path, BeforeExec before_exec = nullptr) {
  std::vector<char*> envp = EnvironmentWith(env);
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (before_exec != nullptr) {
      before_exec(argv.data());
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace hostca::testing
