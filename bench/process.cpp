#include "bench/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

extern char** environ;

namespace hostca::bench {
namespace {

// Starts `argv` with stdout and stderr on `out_fd`; returns its pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, int out_fd) {
  if (argv.empty()) {
    return InvalidArgument("no command");
  }
  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Unavailable("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  return pid;
}

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// The ChildProcesses still running, so that a benchmark stopped by a
// signal (SIGTERM, SIGINT, SIGHUP) stops its servers too, which otherwise
// ran on with their stores: their destructors do not run then. A fixed
// table of lock-free atomics, which a signal handler may read.
constexpr int kMaxChildren = 64;
std::atomic<pid_t> g_children[kMaxChildren];

extern "C" void StopChildrenAndDie(int sig) {
  for (std::atomic<pid_t>& child : g_children) {
    const pid_t pid = child.load();
    if (pid > 0) {
      kill(pid, SIGTERM);  // a server drains and exits 0
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);  // the benchmark's exit status still says which signal
}

void Track(pid_t pid) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction sa {};
    sa.sa_handler = StopChildrenAndDie;
    sigemptyset(&sa.sa_mask);
    for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
      sigaction(sig, &sa, nullptr);
    }
  });
  for (std::atomic<pid_t>& child : g_children) {
    pid_t free_slot = 0;
    if (child.compare_exchange_strong(free_slot, pid)) {
      return;
    }
  }  // more than kMaxChildren at once: this one is not stopped on a signal
}

void Untrack(pid_t pid) {
  for (std::atomic<pid_t>& child : g_children) {
    pid_t expected = pid;
    if (child.compare_exchange_strong(expected, 0)) {
      return;
    }
  }
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& argv,
                                                          const std::string& log_path) {
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Internal("cannot open " + log_path + ": " + std::strerror(errno));
  }
  auto pid = Spawn(argv, fd);
  close(fd);
  if (!pid.ok()) {
    return pid.status();
  }
  Track(*pid);
  return std::unique_ptr<ChildProcess>(new ChildProcess(*pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (!Exited()) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  Reaped();
}

void ChildProcess::Reaped() {
  if (tracked_) {  // once: its pid may be a new child's by the destructor
    Untrack(pid_);
    tracked_ = false;
  }
}

bool ChildProcess::Exited() {
  if (exited_) {
    return true;
  }
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    exit_code_ = ExitCode(status);
    Reaped();
  }
  return exited_;
}

int ChildProcess::Stop(std::chrono::seconds grace) {
  if (Exited()) {
    return exit_code_;
  }
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Exited()) {
      return exit_code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Reaped();
  exited_ = true;
  exit_code_ = -1;
  return exit_code_;
}

std::string ChildProcess::LogTail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string log = ss.str();
  return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

Result<CommandRun> RunCommand(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  const auto start = std::chrono::steady_clock::now();
  auto pid = Spawn(argv, fds[1]);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  CommandRun run;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) {
      run.output.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  int status = 0;
  rusage ru{};
  while (wait4(*pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      return Internal(std::string("wait4: ") + std::strerror(errno));
    }
  }
  run.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu_seconds = Seconds(ru.ru_utime) + Seconds(ru.ru_stime);
  run.exit_code = ExitCode(status);
  return run;
}

Result<uint64_t> ProcessWriteBytes(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/io";
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("write_bytes:", 0) == 0) {
      return static_cast<uint64_t>(std::stoull(line.substr(12)));
    }
  }
  return NotFound("no write_bytes in " + path);
}

Result<ProcessStat> ReadProcessStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) {
    return NotFound("no /proc/" + std::to_string(pid) + "/stat");
  }
  // The command name (field 2) may hold spaces: count fields after its ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) {
    return Internal("cannot parse /proc/" + std::to_string(pid) + "/stat");
  }
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  unsigned long long minflt = 0, utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 10, 14, 15: minflt, utime, stime
    if (i == 10) {
      minflt = std::stoull(field);
    } else if (i == 14) {
      utime = std::stoull(field);
    } else if (i == 15) {
      stime = std::stoull(field);
    }
  }
  ProcessStat out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.cpu_seconds = static_cast<double>(utime + stime) / tick;
  out.system_seconds = static_cast<double>(stime) / tick;
  out.minor_faults = minflt;
  return out;
}

Result<ProcessMemory> ReadProcessMemory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) {
    return NotFound("no /proc/" + std::to_string(pid) + "/status");
  }
  ProcessMemory m;
  const std::pair<const char*, uint64_t*> fields[] = {{"VmRSS:", &m.vm_rss},
                                                      {"VmHWM:", &m.vm_hwm},
                                                      {"RssAnon:", &m.rss_anon},
                                                      {"RssFile:", &m.rss_file}};
  for (std::string line; std::getline(in, line);) {
    for (const auto& [name, value] : fields) {
      if (line.rfind(name, 0) == 0) {
        *value = std::stoull(line.substr(std::strlen(name))) * 1024;  // "  1234 kB"
      }
    }
  }
  return m;
}

Result<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Internal(std::string("socket: ") + std::strerror(errno));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = std::strerror(errno);
    close(fd);
    return Internal("cannot find a free port: " + err);
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace hostca::bench
