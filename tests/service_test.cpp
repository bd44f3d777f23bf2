// Running under systemd (README.md, "Running as a systemd service"): the
// real `hostca-server serve` tells a notification socket (NOTIFY_SOCKET, as
// systemd passes it to a Type=notify service) that it is ready once it
// serves and that it stops on SIGTERM, or why it could not start; it
// serves a host's whole life under the unit's sandbox made by hand (its
// read-only file system and system call filter among it); the units
// of conf/ pass `systemd-analyze verify` and `security`, and so do the
// copies `cmake --install` writes for another prefix; and the server unit's
// ExecStart serves with the shipped conf/hostca.toml.
// (The agent unit's ExecStart runs in e2e_cli_test.cpp, beside the client's
// other tests.)
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/cli_world.h"
#include "tests/server_process.h"
#include "tests/systemd_unit.h"
#include "tests/testutil.h"

namespace hostca::testing {
namespace {

// What systemd does with NOTIFY_SOCKET: a datagram socket that receives the
// service's notifications, with the sender's credentials (systemd's
// NotifyAccess=main accepts only those of the main process).
class NotifySocket {
 public:
  // `address`: a path, or "@name" for an abstract socket.
  explicit NotifySocket(std::string address) : address_(std::move(address)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(address_.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    const bool abstract = address_.front() == '@';
    if (abstract) {
      addr.sun_path[0] = '\0';
    }
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                            (abstract ? 0 : 1));
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0);
    const int one = 1;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
  }
  ~NotifySocket() {
    ::close(fd_);
    if (address_.front() == '/') {
      ::unlink(address_.c_str());
    }
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string env() const { return "NOTIFY_SOCKET=" + address_; }

  struct Message {
    std::string text;  // "" when none came in time
    pid_t sender = 0;
  };
  // The next notification, waiting for it at most `limit`.
  Message Next(std::chrono::seconds limit = std::chrono::seconds(30)) {
    Message m;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count() * 1000)) != 1) {
      return m;
    }
    char buf[4096];
    iovec iov{buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd_, &msg, 0);
    if (n <= 0) {
      return m;
    }
    m.text.assign(buf, static_cast<size_t>(n));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        m.sender = cred.pid;
      }
    }
    return m;
  }

 private:
  std::string address_;
  int fd_ = -1;
};

// The seccomp program SandboxLikeTheUnit installs last (built before the
// fork: the child only hands it to the kernel).
sock_fprog unit_filter{};

// conf/hostca-server.service's SystemCallArchitectures=native and
// SystemCallFilter= (@system-service), as this machine's systemd expands
// the set, into `unit_filter`. A refused call ends the process with SIGSYS
// instead of the unit's EPERM (SystemCallErrorNumber=): a call outside the
// set then shows here even where the server would go on after an EPERM.
void UseTheUnitsSyscallFilter() {
#if !defined(__x86_64__)
  WARN("the system call filter is built for x86-64 only: not applied");
  return;
#endif
  static const std::vector<sock_filter> code = [] {
    const auto keys = ServiceKeys(ReadUnit("hostca-server.service"));
    REQUIRE(keys.at("SystemCallArchitectures") == "native");
    REQUIRE(keys.at("SystemCallErrorNumber") == "EPERM");
    std::set<std::string> allowed = SyscallSet(keys.at("SystemCallFilter"));
#if defined(__SANITIZE_ADDRESS__)
    // Not the server's: LeakSanitizer's check at exit stops the threads
    // with ptrace from a helper it clones (and without it waits forever).
    allowed.insert("ptrace");
#endif
    return SyscallFilterProgram(allowed, SECCOMP_RET_KILL_PROCESS);
  }();
  unit_filter.len = static_cast<unsigned short>(code.size());
  unit_filter.filter = const_cast<sock_filter*>(code.data());
}

// Whether SandboxLikeTheUnit makes the file system read-only (it needs
// CAP_SYS_ADMIN, as systemd has: UseTheUnitsReadOnlySystem says), and the
// directories it leaves writable besides the data directory (the unit's
// ReadWritePaths=, e.g. for backups).
bool unit_read_only_system = false;
std::vector<std::string> unit_writable_paths;

// Gives this process a mount namespace of its own, whose changes reach no
// other (systemd's first step for ProtectSystem= and the like).
bool OwnMountNamespace() {
  return ::unshare(CLONE_NEWNS) == 0 &&
         ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

// Whether a child of this process may make a mount namespace of its own
// and change its mounts (root with CAP_SYS_ADMIN, as systemd is): tried in
// a child that ends at once.
bool CanMakeMountNamespace() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(OwnMountNamespace() ? 0 : 1);
  }
  int status = 0;
  return pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

// Turns the read-only file system on where the tests may make it, with
// `writable` (existing directories) left writable; else says why not.
void UseTheUnitsReadOnlySystem(std::vector<std::string> writable) {
  const auto keys = ServiceKeys(ReadUnit("hostca-server.service"));
  REQUIRE(keys.at("ProtectSystem") == "strict");
  REQUIRE(keys.count("StateDirectory") == 1);
  unit_writable_paths = std::move(writable);
  unit_read_only_system = CanMakeMountNamespace();
  if (!unit_read_only_system) {
    WARN(
        "no mount namespace (needs root with CAP_SYS_ADMIN): the server's file system "
        "stays writable (ProtectSystem=strict not applied)");
  }
}

// ProtectSystem=strict with StateDirectory= and ReadWritePaths=, made as
// systemd makes them: a mount namespace of the process's own where every
// mount is read-only, but for the data directory (`--data DIR` in `argv`)
// and unit_writable_paths, each bound onto itself and made writable again.
// (systemd also gives the unit a private /tmp and /dev and hides /home;
// here /tmp is read-only too, which is stricter.)
bool ReadOnlyButData(char* const argv[]) {
  if (!OwnMountNamespace()) {
    return false;
  }
  mount_attr read_only{};
  read_only.attr_set = MOUNT_ATTR_RDONLY;
  if (::mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &read_only, sizeof(read_only)) != 0) {
    return false;
  }
  // Clears only the read-only flag: nosuid and the like stay as they were.
  mount_attr read_write{};
  read_write.attr_clr = MOUNT_ATTR_RDONLY;
  const auto writable = [&](const char* dir) {
    return ::mount(dir, dir, nullptr, MS_BIND, nullptr) == 0 &&
           ::mount_setattr(AT_FDCWD, dir, 0, &read_write, sizeof(read_write)) == 0;
  };
  for (int i = 0; argv[i] != nullptr; ++i) {
    if (std::strcmp(argv[i], "--data") == 0 && argv[i + 1] != nullptr && !writable(argv[i + 1])) {
      return false;
    }
  }
  for (const std::string& dir : unit_writable_paths) {
    if (!writable(dir.c_str())) {
      return false;
    }
  }
  return true;
}

// What conf/hostca-server.service's NoNewPrivileges=yes, CapabilityBoundingSet=
// (empty) and MemoryDenyWriteExecute=yes leave the server, applied by hand
// (the tests run without systemd): no_new_privs, an empty capability
// bounding set (so root holds no capability after the exec), and the
// kernel's memory-deny-write-execute (PR_SET_MDWE, Linux 6.3; systemd 252
// refuses the same mappings with a seccomp filter on mmap and mprotect).
// First the read-only file system, if UseTheUnitsReadOnlySystem turned it
// on; last the system call filter, if UseTheUnitsSyscallFilter made one.
// Runs in the child before its exec; a step that fails ends it with 126.
void SandboxLikeTheUnit(char* const argv[]) {
  constexpr int kPrSetMdwe = 65;                // PR_SET_MDWE: newer than Debian 12's headers
  constexpr unsigned long kRefuseExecGain = 1;  // PR_MDWE_REFUSE_EXEC_GAIN
  if (unit_read_only_system && !ReadOnlyButData(argv)) {
    ::_exit(126);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    ::_exit(126);
  }
  if (::geteuid() == 0) {  // anyone else holds no capability to begin with
    for (int cap = 0; cap < 64; ++cap) {
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
        ::_exit(126);
      }
    }
  }
  if (::prctl(kPrSetMdwe, kRefuseExecGain, 0, 0, 0) != 0) {
    ::_exit(126);
  }
  if (unit_filter.filter != nullptr &&
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &unit_filter, 0, 0) != 0) {
    ::_exit(126);
  }
}

std::string InitCa(const TempDir& tmp) {
  const std::string data = tmp.Sub("data");
  const auto init =
      Run(ShellQuote(BinaryPath("hostca-server")) + " init --data " + ShellQuote(data));
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
  return data;
}

// The port a READY=1 notification's STATUS line names for the API.
int ApiPortOf(const std::string& status) {
  std::smatch m;
  static const std::regex re("STATUS=serving the API on port ([0-9]+) \\(HTTPS\\)");
  return std::regex_search(status, m, re) ? std::stoi(m[1]) : 0;
}

// GET /healthz over TLS, pinned to the CA, with no retry: the status, or 0.
int Health(int port, const std::string& ca_path) {
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_path(ca_path);
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(std::chrono::seconds(10));
  cli.set_read_timeout(std::chrono::seconds(10));
  auto res = cli.Get("/healthz");
  return res ? res->status : 0;
}

// Ready means serving: the first health check after READY=1 answers, with
// no wait in between; SIGTERM then brings STOPPING=1 and a clean exit.
void ReadyThenStopping(const std::string& notify_address) {
  TempDir tmp;
  const std::string data = InitCa(tmp);
  NotifySocket notify(notify_address);
  ServerProcess server(data, tmp.Sub("server.log"), {}, {notify.env()});
  const NotifySocket::Message ready = notify.Next();
  INFO("notification: " << ready.text << "\nlog:\n" << server.Log());
  REQUIRE_THAT(ready.text, Catch::StartsWith("READY=1\n"));
  CHECK(ready.sender == server.pid());  // NotifyAccess=main
  const int port = ApiPortOf(ready.text);
  REQUIRE(port > 0);
  CHECK(Health(port, data + "/ca.crt") == 200);
  REQUIRE(server.WaitReady(data + "/ca.crt"));
  CHECK(server.https_port() == port);
  REQUIRE(server.Terminate() == 0);
  const NotifySocket::Message stopping = notify.Next();
  CHECK_THAT(stopping.text, Catch::StartsWith("STOPPING=1\n"));
  CHECK(stopping.sender == server.pid());
  CHECK(notify.Next(std::chrono::seconds(0)).text.empty());  // nothing else
}

TEST_CASE("serve notifies READY=1 once it serves and STOPPING=1 on SIGTERM (socket path)") {
  TempDir sockets;
  ReadyThenStopping(sockets.Sub("notify"));
}

TEST_CASE("serve notifies READY=1 and STOPPING=1 to an abstract NOTIFY_SOCKET") {
  ReadyThenStopping("@hostca-test-notify-" + HexEncode(RandomBytes(8)));
}

// Runs `args` under SandboxLikeTheUnit, its output in TMP/log, and returns
// its wait status.
int StatusUnderTheSandbox(std::vector<std::string> args, const TempDir& tmp) {
  const pid_t pid = SpawnLogged(std::move(args), {}, tmp.Sub("log"), SandboxLikeTheUnit);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

// The unit's system call filter can fail: a program that calls chroot(2),
// which is not in @system-service, is ended by it.
TEST_CASE("the unit's system call filter ends a process that calls outside @system-service") {
  UseTheUnitsSyscallFilter();
  if (unit_filter.filter == nullptr) {
    return;  // not x86-64: said above
  }
  const std::set<std::string> system_service = SyscallSet("@system-service");
  CHECK(system_service.count("chroot") == 0);
  CHECK(system_service.count("fdatasync") == 1);
  TempDir tmp;
  const int status = StatusUnderTheSandbox({"/usr/sbin/chroot", "/", "/bin/true"}, tmp);
  INFO("log: " << *ReadFile(tmp.Sub("log")));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSYS);
}

// The read-only file system can fail: under it a process writes into the
// data directory, and nowhere else.
TEST_CASE("the unit's read-only file system leaves only the data directory writable") {
  TempDir tmp;
  const std::string data = tmp.Sub("data"), other = tmp.Sub("other");
  std::filesystem::create_directories(data);
  std::filesystem::create_directories(other);
  UseTheUnitsReadOnlySystem({});
  if (!unit_read_only_system) {
    return;
  }
  // sh -c SCRIPT --data DATA OTHER: $1 is DATA, $2 OTHER.
  const int status = StatusUnderTheSandbox(
      {"/bin/sh", "-c", "touch \"$1/in\" && ! touch \"$2/out\"", "--data", data, other}, tmp);
  INFO("log: " << *ReadFile(tmp.Sub("log")));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(*ReadFile(tmp.Sub("log")), Catch::Contains("Read-only file system"));
  CHECK(std::filesystem::exists(data + "/in"));
  CHECK_FALSE(std::filesystem::exists(other + "/out"));
}

// The unit's sandbox but for the private /tmp and /dev and the hidden
// /home: a host's life (enrollment, renewal, CRL, revocation), a scheduled
// backup, and a start after a crash that replays the redo log.
TEST_CASE(
    "serve works in the unit's sandbox: read-only system, syscall filter, no privileges, W^X") {
  UseTheUnitsSyscallFilter();
  TempDir conf;
  // Created as the server would (mode 0700), so that it can be left writable.
  std::filesystem::create_directory(conf.Sub("backups"));
  std::filesystem::permissions(conf.Sub("backups"), std::filesystem::perms::owner_all);
  UseTheUnitsReadOnlySystem({conf.Sub("backups")});
  const std::string config = conf.Sub("hostca.toml");
  REQUIRE(WriteFileAtomic(conf.Sub("backup.pass"), "backup passphrase\n", 0600).ok());
  REQUIRE(WriteFileAtomic(config,
                          "[backup]\ndirectory = \"" + conf.Sub("backups") +
                              "\"\npassphrase_file = \"" + conf.Sub("backup.pass") + "\"\n",
                          0644)
              .ok());
  CliWorld w({"--config", config}, SandboxLikeTheUnit);
  const auto ended = [&] {
    return "log:\n" + w.server().Log() + "\nexit " + std::to_string(w.server().exit_code()) +
           ", signal " + std::to_string(w.server().exit_signal());
  };
  auto status = ReadFile("/proc/" + std::to_string(w.server().pid()) + "/status");
  REQUIRE(status.ok());
  CHECK_THAT(*status, Catch::Contains("NoNewPrivs:\t1\n"));
  CHECK_THAT(*status, Catch::Contains("Seccomp:\t2\n"));  // a filter
  CHECK_THAT(*status, Catch::Contains("CapEff:\t0000000000000000\n"));
  CHECK_THAT(*status, Catch::Contains("CapPrm:\t0000000000000000\n"));
  if (unit_read_only_system) {
    // The mount options (mountinfo's sixth field) of / and of the data
    // directory as the server sees them.
    std::map<std::string, std::string> options;
    std::istringstream mounts(
        *ReadFile("/proc/" + std::to_string(w.server().pid()) + "/mountinfo"));
    for (std::string line; std::getline(mounts, line);) {
      const std::vector<std::string> f = Words(line);
      if (f.size() > 5) {
        options[f[4]] = f[5];
      }
    }
    CHECK_THAT(options["/"], Catch::StartsWith("ro"));
    CHECK_THAT(options[w.data()], Catch::StartsWith("rw"));
    CHECK_THAT(options[conf.Sub("backups")], Catch::StartsWith("rw"));
  }
  // Through the hostca client: TLS, the CSR's check, the signature and a
  // durable write; then TLS client authentication.
  const auto ok = [&](const SplitResult& r) {
    INFO(r.out << r.err << ended());
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  const auto verify = [&] {
    const auto r = Run("openssl verify -CAfile " + ShellQuote(w.data() + "/ca.crt") + " " +
                       ShellQuote(w.tmp().Sub("host") + "/host.crt"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  };
  ok(w.Admin("ca get --fingerprint " + w.fingerprint()));
  ok(w.Host("host", "ca get --fingerprint " + w.fingerprint()));
  const auto token = nlohmann::json::parse(ok(w.Admin("token create web --json")));
  ok(w.Host("host", "enroll --hostname web.example --token " + token["token"].get<std::string>()));
  verify();
  const std::string first = SerialOfCertFile(w.tmp().Sub("host") + "/host.crt");
  ok(w.Host("host", "renew --force"));
  verify();
  const std::string renewed = SerialOfCertFile(w.tmp().Sub("host") + "/host.crt");
  CHECK(renewed != first);
  ok(w.Admin("cert revoke " + first + " --reason superseded"));
  ok(w.Admin("crl publish"));
  ok(w.Host("host", "crl fetch"));
  const auto crl = Run("openssl crl -noout -CAfile " + ShellQuote(w.data() + "/ca.crt") + " -in " +
                       ShellQuote(w.tmp().Sub("host") + "/crl.pem"));
  INFO(crl.output);
  CHECK(crl.exit_code == 0);
  // The backup due at start (Argon2id, AES-GCM, a copy of the store).
  const auto backups = [&] {
    std::error_code ec;
    const std::filesystem::directory_iterator dir(conf.Sub("backups"), ec);
    return ec ? 0 : std::distance(std::filesystem::begin(dir), std::filesystem::end(dir));
  };
  PollUntil([&] { return backups() > 0 || w.server().Exited(); }, std::chrono::seconds(60));
  {
    const bool running = !w.server().Exited();
    INFO(ended());
    CHECK(backups() == 1);
    REQUIRE(running);
  }
  // A crash, and a start under the same sandbox that replays the redo log.
  w.server().Kill();
  w.Restart();
  CHECK_THAT(ok(w.Admin("cert show " + renewed)), Catch::Contains("valid"));
  CHECK_THAT(ok(w.Admin("cert show " + first)), Catch::Contains("revoked"));
  const int stopped = w.server().Terminate();
  INFO(ended());
  CHECK(stopped == 0);
}

TEST_CASE("a serve that cannot start tells the service manager why, and exits 1") {
  TempDir tmp;
  const std::string empty = tmp.Sub("no-ca");
  std::filesystem::create_directories(empty);
  NotifySocket notify(tmp.Sub("notify"));
  ServerProcess server(empty, tmp.Sub("server.log"), {}, {notify.env()});
  const NotifySocket::Message status = notify.Next();
  INFO("log:\n" << server.Log());
  REQUIRE_THAT(status.text, Catch::StartsWith("STATUS=cannot start: "));
  CHECK(status.text.find('\n') == std::string::npos);  // one line: nothing else assigned
  CHECK(status.text.find("READY=1") == std::string::npos);
  CHECK(server.Wait() == 1);
}

TEST_CASE("a NOTIFY_SOCKET nobody listens on costs a warning, not the service") {
  TempDir tmp;
  const std::string data = InitCa(tmp);
  ServerProcess server(data, tmp.Sub("server.log"), {},
                       {"NOTIFY_SOCKET=" + tmp.Sub("nobody-listens")});
  REQUIRE(server.WaitReady(data + "/ca.crt"));
  CHECK_THAT(server.Log(), Catch::Contains("cannot notify the service manager"));
  CHECK(server.Terminate() == 0);
}

TEST_CASE("a NOTIFY_SOCKET that names no socket is refused with a warning") {
  TempDir tmp;
  const std::string data = InitCa(tmp);
  ServerProcess server(data, tmp.Sub("server.log"), {}, {"NOTIFY_SOCKET=vsock:2:1234"});
  REQUIRE(server.WaitReady(data + "/ca.crt"));
  CHECK_THAT(server.Log(), Catch::Contains("is neither a socket path nor an abstract socket"));
  CHECK(server.Terminate() == 0);
}

// Every unit of conf/ in one call, as systemd loads them together (the
// path unit starts its service by name).
TEST_CASE("the units of conf/: systemd-analyze verify has nothing to say") {
  TempDir tmp;
  std::string paths;
  for (const char* name : {"hostca-server.service", "hostca-agent.service", "hostca-renewed.path",
                           "hostca-renewed.service"}) {
    const std::string unit = WithBuiltPrograms(ReadUnit(name));
    REQUIRE(unit.find("/usr/local/bin/") == std::string::npos);
    REQUIRE(WriteFileAtomic(tmp.Sub(name), unit, 0644).ok());
    paths += " " + ShellQuote(tmp.Sub(name));
  }
  const auto verify = Run("systemd-analyze verify --man=no" + paths);
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
  CHECK(verify.output.empty());  // an unknown key or bad value is only a warning there
  // The check can fail: a key systemd does not know is reported.
  const std::string bad = tmp.Sub("hostca-server.service");
  REQUIRE(WriteFileAtomic(bad, *ReadFile(bad) + "NoSuchKey=1\n", 0644).ok());
  CHECK_THAT(Run("systemd-analyze verify --man=no " + ShellQuote(bad)).output,
             Catch::Contains("NoSuchKey"));
}

// systemd's own rating of the sandboxes (0 fully sandboxed to 10 not at
// all; 1.5 and 2.0 on Debian 12's systemd 252): a line dropped from them
// shows here. The agent runs as root, which costs it points.
TEST_CASE("the service units' sandboxes rate as systemd's OK exposure") {
  TempDir tmp;
  // systemd-analyze's exit code: 0 when the exposure is at most `tenths` / 10.
  const auto rate = [&](const std::string& name, const std::string& unit, int tenths) {
    REQUIRE(WriteFileAtomic(tmp.Sub(name), WithBuiltPrograms(unit), 0644).ok());
    return Run("systemd-analyze security --offline=true --threshold=" + std::to_string(tenths) +
               " " + ShellQuote(tmp.Sub(name)));
  };
  const auto server = rate("hostca-server.service", ReadUnit("hostca-server.service"), 20);
  INFO(server.output);
  CHECK(server.exit_code == 0);
  const auto agent = rate("hostca-agent.service", ReadUnit("hostca-agent.service"), 25);
  INFO(agent.output);
  CHECK(agent.exit_code == 0);
  // The check can fail: the same command without a sandbox rates 9.6.
  const std::string bare =
      "[Service]\nExecStart=" + ServiceKeys(ReadUnit("hostca-server.service")).at("ExecStart") +
      "\n";
  CHECK(rate("bare.service", bare, 20).exit_code != 0);
}

// The agent puts host.key in place last (cli/README.md, "Host state"), so
// the path unit that reloads the certificate's users watches that file.
TEST_CASE("hostca-renewed.path watches the file the agent writes last") {
  CHECK_THAT(ReadUnit("hostca-renewed.path"),
             Catch::Contains("\nPathChanged=/var/lib/hostca/host.key\n"));
  CHECK(Words(ServiceKeys(ReadUnit("hostca-agent.service")).at("ExecStart"))[2] ==
        "/var/lib/hostca");
}

// Installed with another prefix (and staged under DESTDIR, as a package
// build does), the units name the programs where they were put.
TEST_CASE("cmake --install writes units that name the installed programs") {
  TempDir tmp;
  const auto install = [&](const std::string& env, const std::string& prefix) {
    const auto r = Run(env + " " + ShellQuote(HOSTCA_CMAKE_COMMAND) + " --install " +
                       ShellQuote(HOSTCA_BINARY_DIR) + " --prefix " + ShellQuote(prefix));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  };
  const std::string prefix = tmp.Sub("opt/hostca");
  install("", prefix);
  std::string paths;
  for (const auto& [name, program] : std::map<std::string, std::string>{
           {"hostca-server.service", "hostca-server"}, {"hostca-agent.service", "hostca"}}) {
    const std::string path = prefix + "/share/doc/hostca/" + name;
    auto unit = ReadFile(path);
    REQUIRE(unit.ok());
    CHECK(unit->find("/usr/local/") == std::string::npos);
    CHECK_THAT(*unit,
               Catch::Contains("Documentation=file://" + prefix + "/share/doc/hostca/README.md\n"));
    CHECK(Words(ServiceKeys(*unit).at("ExecStart"))[0] == prefix + "/bin/" + program);
    // Everything else as in conf/.
    CHECK(*unit == std::regex_replace(ReadUnit(name), std::regex("/usr/local/"), prefix + "/"));
    paths += " " + ShellQuote(path);
  }
  CHECK(std::filesystem::exists(prefix + "/share/doc/hostca/README.md"));
  for (const std::string program : {"hostca-server", "hostca"}) {
    const auto version = Run(ShellQuote(prefix + "/bin/" + program) + " --version");
    CHECK(version.exit_code == 0);
    CHECK_THAT(version.output,
               Catch::Matches(program + " [0-9]+\\.[0-9]+\\.[0-9]+ \\(OpenSSL 3\\..*\\)\n"));
  }
  // systemd-analyze verify checks that ExecStart's program exists.
  const auto verify = Run("systemd-analyze verify --man=no" + paths);
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
  CHECK(verify.output.empty());
  // A staged install: the files under DESTDIR, the names without it.
  const std::string stage = tmp.Sub("stage");
  install("DESTDIR=" + ShellQuote(stage), "/usr");
  auto staged = ReadFile(stage + "/usr/share/doc/hostca/hostca-server.service");
  REQUIRE(staged.ok());
  CHECK(Words(ServiceKeys(*staged).at("ExecStart"))[0] == "/usr/bin/hostca-server");
  CHECK(std::filesystem::exists(stage + "/usr/bin/hostca-server"));
}

TEST_CASE("the unit's ExecStart serves a CA with the shipped conf/hostca.toml") {
  const auto keys = ServiceKeys(ReadUnit("hostca-server.service"));
  REQUIRE(keys.count("ExecStart") == 1);
  CHECK(keys.at("Type") == "notify");
  CHECK(keys.at("NotifyAccess") == "main");
  CHECK(keys.count("KillSignal") == 0);  // systemd's default, SIGTERM, is what drains
  const std::vector<std::string> argv = Words(keys.at("ExecStart"));
  REQUIRE(argv.size() == 6);
  CHECK(argv[0] == "/usr/local/bin/hostca-server");
  CHECK(argv[1] == "serve");
  CHECK(argv[2] == "--data");
  CHECK(argv[3] == "/var/lib/" + keys.at("StateDirectory"));  // systemd makes it
  CHECK(argv[4] == "--config");
  CHECK(argv[5] == "/etc/" + keys.at("ConfigurationDirectory") + "/hostca.toml");
  // The same command on copies of those paths (ports made ephemeral, which
  // the flags may do over the file's keys).
  TempDir tmp;
  const std::string data = InitCa(tmp);
  const std::string config = tmp.Sub("hostca.toml");
  auto shipped = ReadFile(std::string(HOSTCA_SOURCE_DIR) + "/conf/hostca.toml");
  REQUIRE(shipped.ok());
  REQUIRE(WriteFileAtomic(config, *shipped, 0644).ok());
  NotifySocket notify(tmp.Sub("notify"));
  ServerProcess server(data, tmp.Sub("server.log"), {"--config", config}, {notify.env()});
  const NotifySocket::Message ready = notify.Next();
  INFO("log:\n" << server.Log());
  REQUIRE_THAT(ready.text, Catch::StartsWith("READY=1\n"));
  CHECK(Health(ApiPortOf(ready.text), data + "/ca.crt") == 200);
  CHECK(server.Terminate() == 0);
}

}  // namespace
}  // namespace hostca::testing
