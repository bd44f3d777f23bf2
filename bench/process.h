// Child processes for issuance_bench: long-running servers (hostca-server,
// cfssl serve) whose output goes to a log file and which are always stopped
// when their handle goes away, one-shot commands with their output, wall
// time and CPU time, and the CPU time a running process has used so far.
// Thread safety: a ChildProcess is used by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hostca::bench {

class ChildProcess {
 public:
  // Starts `argv` (argv[0] a path, or a name looked up in PATH) with stdout
  // and stderr appended to `log_path`. Until it is reaped, a SIGTERM, SIGINT
  // or SIGHUP of this process sends it SIGTERM first (the first Start
  // installs the handler).
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                     const std::string& log_path);
  ~ChildProcess();  // SIGKILL and reap when still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  bool Exited();  // without blocking; true once it has been reaped
  // SIGTERM, up to `grace` for it to exit, then SIGKILL. Returns the exit
  // code, -1 when a signal ended it.
  int Stop(std::chrono::seconds grace);
  std::string LogTail(size_t bytes) const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  void Reaped();  // no longer stopped by the signal handler
  pid_t pid_;
  std::string log_path_;
  bool tracked_ = true;
  bool exited_ = false;
  int exit_code_ = -1;
};

struct CommandRun {
  int exit_code = -1;  // -1: did not start or ended by a signal
  std::string output;  // stdout and stderr together
  double wall_seconds = 0;
  double cpu_seconds = 0;  // user + system of the process and its children
};

// Runs `argv` to its end. Fails only when it cannot be started; check
// exit_code.
Result<CommandRun> RunCommand(const std::vector<std::string>& argv);

// Counters of a running process (all its threads), from /proc/PID/stat.
struct ProcessStat {
  double cpu_seconds = 0;     // utime + stime
  double system_seconds = 0;  // stime: the kernel's part (syscalls, TCP, I/O submission)
  uint64_t minor_faults = 0;  // page faults served without I/O (minflt)
};
Result<ProcessStat> ReadProcessStat(pid_t pid);

// write_bytes of /proc/PID/io: the bytes of page cache the process's writes
// made dirty, counted when a clean folio turns dirty and for the whole
// folio. A 4 KB write into a 256 KB folio counts 256 KB, so per certificate
// it shows how much cache the store's commits dirty, large folios included
// (bench/README.md).
Result<uint64_t> ProcessWriteBytes(pid_t pid);

// Memory of a running process from /proc/PID/status, in bytes. VmRSS =
// RssAnon (heap, stacks) + RssFile (mapped files: LMDB's map, code) +
// RssShmem; VmHWM is the peak of VmRSS.
struct ProcessMemory {
  uint64_t vm_rss = 0, vm_hwm = 0, rss_anon = 0, rss_file = 0;
};
Result<ProcessMemory> ReadProcessMemory(pid_t pid);

// A TCP port on 127.0.0.1 that was free a moment ago, for servers that
// cannot pick their own (cfssl serve).
Result<int> FreeLoopbackPort();

}  // namespace hostca::bench
