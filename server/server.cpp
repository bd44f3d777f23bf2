#include "server/server.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "ca/keys.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "enrollment/security_level.h"
#include "enrollment/tidy.h"
#include "server/api_util.h"
#include "server/backup.h"
#include "server/backup_archive.h"
#include "server/http_util.h"
#include "server/layout.h"
#include "server/mapped_pages.h"
#include "server/running_server.h"
#include "server/sni_table.h"
#include "server/tls_select.h"

namespace hostca::server {
namespace {

using Clock_ = std::chrono::steady_clock;

// cpp-httplib's read timeout is per read: a client trickling a byte at a
// time would hold a worker forever. Each connection, HTTPS or plain HTTP,
// therefore gets a deadline to deliver a whole request (TLS handshake,
// headers and body):
// kRequestDeadline from the handshake, or after the previous answer the
// keep-alive wait plus kRequestDeadline.
constexpr auto kRequestDeadline = std::chrono::seconds(10);
constexpr auto kKeepAliveTimeout = std::chrono::seconds(5);
// The HTTP worker pools (worker_pool.h): the most connections a listener
// serves at once unless server.threads (HTTPS) or server.http_threads
// (plain HTTP) says otherwise, the threads kept ready, and how long an idle
// thread beyond those lives.
constexpr size_t kDefaultMaxThreads = 1024;
constexpr size_t kKeptThreads = 16;
constexpr auto kWorkerIdleExit = std::chrono::seconds(60);
// How long a connection waits for its next request before it counts
// against server.max_idle_connections (RequestDeadlines).
constexpr auto kIdleGrace = std::chrono::seconds(1);
// A connection still sending request bytes this long after its deadline
// (reading was shut down, but the peer keeps the data flowing) is cut off.
constexpr auto kHardCutGrace = std::chrono::seconds(2);

// Per-request context kept by the worker thread that serves the request:
// httplib runs the pre-routing handler, the handler, the error handler and
// the logger on the same thread. tl_request_start is reset after logging,
// so the epoch means "not routed": httplib answered before routing (a
// malformed or timed-out request).
thread_local Clock_::time_point tl_request_start;
// Set by the error handler when httplib refused the request as malformed
// or unfinished (400, 408, 414): its connection is not kept alive.
thread_local bool tl_request_broken = false;

}  // namespace

// One connection watched by RequestDeadlines. An HTTPS connection is
// registered when its TLS handshake starts (on the worker that serves it)
// and removed when httplib frees its SSL object, which happens before the
// socket is closed. A plain-HTTP one is watched through a duplicate of its
// descriptor, closed only after its removal (PlainConnections). Either way
// the watchdog never touches a descriptor that may have been reused.
struct WatchedConn {
  RequestDeadlines* owner = nullptr;
  int fd = -1;
  uint64_t inode = 0;  // plain HTTP: the socket's, while `fd` (a duplicate) holds it
  // Guarded by owner->mu_.
  Clock_::time_point deadline;
  Clock_::time_point cut_at;
  Clock_::time_point idle_since;  // when `reading` last turned true
  bool cut = false;               // reading was shut down
  bool timed_out = false;         // ... because the deadline passed
  bool hard_cut = false;          // the socket was shut down both ways
  bool reading = true;            // between answers and the next request's routing; false
                                  // while a plain-HTTP connection waits for a worker
};

// The watchdog: a thread that shuts down reading on connections past their
// deadline, so the worker's blocked read returns at once and httplib ends
// the connection (answering 408 request_timeout when it can). Only
// shutdown(2) is used, never close(2): httplib owns the descriptor.
//
// It also bounds the connections idle at once (handshake done, or answered,
// and no request routed since): each holds a worker thread, and cpp-httplib
// 0.11 polls it every 10 ms while it waits (its keep_alive: poll 10 ms,
// sleep 1 ms), about 2 ms of CPU a second each on the Xeon machine (100
// idle TLS connections took 20% of a core). Beyond `max_idle` connections
// idle for more than kIdleGrace, the ones idle longest are cut, so a
// proxy's large pool of kept-alive connections costs at most max_idle of
// them; a connection between two requests of a busy client is never idle
// that long.
class RequestDeadlines {
 public:
  explicit RequestDeadlines(size_t max_idle) : max_idle_(max_idle), thread_([this] { Loop(); }) {}
  ~RequestDeadlines() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  RequestDeadlines(const RequestDeadlines&) = delete;
  RequestDeadlines& operator=(const RequestDeadlines&) = delete;

  // A connection a worker serves from now on (`started`), or one still
  // waiting for a worker in the listener's queue (plain HTTP), which no
  // deadline binds until Start: the wait is the server's, not the client's.
  WatchedConn* Register(int fd, bool started = true) {
    auto* c = new WatchedConn;
    c->owner = this;
    c->fd = fd;
    c->deadline = started ? Clock_::now() + kRequestDeadline : Clock_::time_point::max();
    c->idle_since = Clock_::now();
    c->reading = started;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns_.insert(c);
      first = conns_.size() == 1;
    }
    if (first) {
      cv_.notify_all();  // the watchdog sleeps while it has nothing to watch
    }
    return c;
  }
  // A worker begins to serve a connection registered before it started.
  // Its idle time still counts from its registration (its accept), so the
  // longest-idle order is the order the listener accepted them in, not the
  // order in which workers happened to pick them up.
  void Start(WatchedConn* c) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock_::now();
    c->deadline = now + kRequestDeadline;
    c->reading = true;
    if (draining_) {
      Cut(*c, now);
    }
  }
  void Remove(WatchedConn* c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns_.erase(c);
    }
    delete c;
  }
  // The request line and headers arrived (the body, if any, is still
  // bounded by the deadline).
  void Routed(WatchedConn* c) {
    std::lock_guard<std::mutex> lock(mu_);
    c->reading = false;
  }
  // An answer went out. After a good request the connection may wait for
  // the next one; after a malformed or unfinished one it is cut at once
  // instead of holding its worker for the keep-alive wait.
  void Answered(WatchedConn* c, bool keep) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = Clock_::now();
    c->reading = true;
    c->idle_since = now;
    c->deadline = now + kKeepAliveTimeout + kRequestDeadline;
    if (c->cut) {
      c->cut_at = now;  // the grace for the hard cut starts now
    } else if (!keep) {
      Cut(*c, now);
    }
  }
  bool TimedOut(WatchedConn* c) {
    std::lock_guard<std::mutex> lock(mu_);
    return c->timed_out;
  }
  uint64_t idle_cut() const { return idle_cut_.load(std::memory_order_relaxed); }
  // The server stops: connections waiting for a request (idle, or one still
  // arriving, not yet routed) are cut now and from now on, so the stop
  // waits only for the requests being handled, not for idle connections'
  // keep-alive wait (up to 5 s: httplib checks for a stop only between
  // requests).
  void Drain() {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    CutReadingLocked(Clock_::now());
  }

 private:
  void Cut(WatchedConn& c, Clock_::time_point now) {
    ::shutdown(c.fd, SHUT_RD);
    c.cut = true;
    c.cut_at = now;
  }
  void CutReadingLocked(Clock_::time_point now) {
    for (WatchedConn* c : conns_) {
      if (!c->cut && c->reading) {
        Cut(*c, now);
      }
    }
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<WatchedConn*> idle;
    while (true) {
      // With no connection open it sleeps until one comes: an idle server
      // has one watchdog per listener and wakes for neither
      // (e2e "an idle server stops looking at its mapped store pages").
      cv_.wait(lock, [this] { return stop_ || !conns_.empty(); });
      if (stop_ || cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; })) {
        return;
      }
      const auto now = Clock_::now();
      idle.clear();
      for (WatchedConn* c : conns_) {
        if (!c->cut && now >= c->deadline) {
          Cut(*c, now);
          c->timed_out = true;
        } else if (c->cut && !c->hard_cut && c->reading && now >= c->cut_at + kHardCutGrace) {
          ::shutdown(c->fd, SHUT_RDWR);
          c->hard_cut = true;
        } else if (!c->cut && c->reading && now - c->idle_since >= kIdleGrace) {
          idle.push_back(c);
        }
      }
      if (draining_) {
        CutReadingLocked(now);  // connections that were handshaking at Drain
      } else if (idle.size() > max_idle_) {
        // Cut reading only: httplib sees the end of the stream where it
        // waits for the next request, and closes the connection without
        // an answer, as after the idle timeout.
        const auto cut_end = idle.begin() + static_cast<ptrdiff_t>(idle.size() - max_idle_);
        std::nth_element(idle.begin(), cut_end, idle.end(),
                         [](const WatchedConn* a, const WatchedConn* b) {
                           return a->idle_since < b->idle_since;
                         });
        for (auto it = idle.begin(); it != cut_end; ++it) {
          Cut(**it, now);
        }
        idle_cut_.fetch_add(static_cast<uint64_t>(cut_end - idle.begin()),
                            std::memory_order_relaxed);
      }
    }
  }

  const size_t max_idle_;
  std::atomic<uint64_t> idle_cut_{0};
  bool draining_ = false;  // guarded by mu_

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::set<WatchedConn*> conns_;
  std::thread thread_;
};

namespace {

// The HTTPS connection the current worker thread serves, if any.
thread_local WatchedConn* tl_conn = nullptr;

void FreeWatchedConn(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                     long /*argl*/, void* /*argp*/) {
  auto* c = static_cast<WatchedConn*>(ptr);
  if (c == nullptr) {
    return;
  }
  if (tl_conn == c) {
    tl_conn = nullptr;
  }
  c->owner->Remove(c);
}

// ex_data slots: the SSL's WatchedConn (freed with the SSL) and the
// SSL_CTX's RequestDeadlines.
int ConnExIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeWatchedConn);
  return index;
}
int DeadlinesExIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Registers each server-side connection when its handshake starts: httplib
// runs SSL_accept on the worker that then serves the connection.
void WatchConnection(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_START) == 0 || SSL_get_ex_data(ssl, ConnExIndex()) != nullptr) {
    return;
  }
  auto* deadlines =
      static_cast<RequestDeadlines*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), DeadlinesExIndex()));
  const int fd = SSL_get_fd(ssl);
  if (deadlines == nullptr || fd < 0) {
    return;
  }
  WatchedConn* c = deadlines->Register(fd);
  if (SSL_set_ex_data(const_cast<SSL*>(ssl), ConnExIndex(), c) != 1) {
    deadlines->Remove(c);
    return;
  }
  tl_conn = c;
}

}  // namespace

// The plain-HTTP listener's connections (CA certificate and CRL downloads)
// get the same watch as the HTTPS ones: the request deadline against
// clients trickling bytes (without it, as many such clients as
// server.http_threads stopped every CRL download: 64 did, measured
// 2026-12-07), server.max_idle_connections, and the cut of idle
// connections when the server stops. cpp-httplib 0.11 shows a plain
// connection's socket to no hook (Server::process_and_close_socket is
// private and compiled into the library), but it accepts on the listener's
// thread and hands the socket to the task queue (WatchingQueue) before it
// accepts again. Adopt runs there, when no other thread knows the new
// socket yet, and finds it among the process's descriptors: the one socket
// on the listener's local address, with a peer, that is not already
// watched (by inode: a watched socket's duplicate has the same one). It
// watches a duplicate of it, which keeps the socket, and so its inode, from
// being freed until Release, after httplib closed its own descriptor. When
// it cannot tell the socket for sure (none or several new candidates), the
// connection goes unwatched, as before: never the wrong socket. Sockets
// left unwatched are remembered until they close, so that one does not
// make every later connection ambiguous. The look costs a fstat per open
// descriptor of the process per plain-HTTP connection, on the listener's
// thread: 13 us with few open, 0.12 to 0.15 ms with 900 other connections
// open (measured on the Xeon machine).
class PlainConnections {
 public:
  PlainConnections(RequestDeadlines* deadlines, const int* listen_fd)
      : deadlines_(deadlines), listen_fd_(listen_fd) {}

  // The listener's thread, between its accept and the hand-off.
  WatchedConn* Adopt() {
    WatchedConn* c = AdoptNew();
    if (c == nullptr) {
      unwatched_count_.fetch_add(1, std::memory_order_relaxed);
    }
    return c;
  }

  // Connections served unwatched since the start (/metrics).
  uint64_t unwatched_count() const { return unwatched_count_.load(std::memory_order_relaxed); }

  // The worker, once httplib is done with the connection (and closed its
  // descriptor).
  void Release(WatchedConn* c) {
    std::lock_guard<std::mutex> lock(mu_);
    const int fd = c->fd;
    const uint64_t inode = c->inode;
    deadlines_->Remove(c);
    ::close(fd);
    watched_.erase(inode);
  }

 private:
  WatchedConn* AdoptNew() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!LocalAddressLocked()) {
      return nullptr;
    }
    // Sockets not watched and not seen by the last look; of those, the ones
    // on the listener with a peer are new connections.
    std::unordered_set<uint64_t> seen;
    int found = -1;
    uint64_t found_inode = 0;
    int fresh = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) {
      if (!warned_) {  // the operator should know the deadline is off
        warned_ = true;
        spdlog::warn(
            "cannot read /proc/self/fd ({}): plain-HTTP connections get no request deadline "
            "and are not closed when idle",
            std::strerror(errno));
      }
      return nullptr;
    }
    const int dir_fd = ::dirfd(dir);
    while (const dirent* e = ::readdir(dir)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || fd == dir_fd || fd == *listen_fd_) {
        continue;
      }
      struct stat st {};
      if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) {
        continue;
      }
      const auto inode = static_cast<uint64_t>(st.st_ino);
      if (watched_.count(inode) != 0) {
        continue;
      }
      seen.insert(inode);
      if (seen_.count(inode) == 0 && OnListenerLocked(static_cast<int>(fd))) {
        ++fresh;
        found = static_cast<int>(fd);
        found_inode = inode;
      }
    }
    ::closedir(dir);
    seen_ = std::move(seen);
    if (fresh != 1) {
      return nullptr;  // seen_ holds them all: none is watched
    }
    const int watch_fd = ::fcntl(found, F_DUPFD_CLOEXEC, 0);
    struct stat st {};
    if (watch_fd < 0 || ::fstat(watch_fd, &st) != 0 ||
        static_cast<uint64_t>(st.st_ino) != found_inode) {
      if (watch_fd >= 0) {
        ::close(watch_fd);
      }
      return nullptr;
    }
    seen_.erase(found_inode);
    WatchedConn* c = deadlines_->Register(watch_fd, /*started=*/false);
    c->inode = found_inode;
    watched_.insert(found_inode);
    return c;
  }

  // The listener's address, once it is bound; a wildcard address matches
  // any local address on its port.
  bool LocalAddressLocked() {
    if (addr_len_ == 0 && *listen_fd_ >= 0) {
      socklen_t len = sizeof(addr_);
      if (::getsockname(*listen_fd_, reinterpret_cast<sockaddr*>(&addr_), &len) == 0) {
        addr_len_ = len;
      }
    }
    return addr_len_ != 0;
  }
  bool OnListenerLocked(int fd) const {
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        local.ss_family != addr_.ss_family) {
      return false;
    }
    bool match = false;
    if (addr_.ss_family == AF_INET) {
      const auto& a = reinterpret_cast<const sockaddr_in&>(addr_);
      const auto& b = reinterpret_cast<const sockaddr_in&>(local);
      match = a.sin_port == b.sin_port &&
              (a.sin_addr.s_addr == htonl(INADDR_ANY) || a.sin_addr.s_addr == b.sin_addr.s_addr);
    } else if (addr_.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(addr_);
      const auto& b = reinterpret_cast<const sockaddr_in6&>(local);
      match = a.sin6_port == b.sin6_port &&
              (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr) ||
               std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof(a.sin6_addr)) == 0);
    }
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    return match && ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0;
  }

  RequestDeadlines* const deadlines_;
  const int* const listen_fd_;  // Server::http_listen_fd_, set when it binds
  std::mutex mu_;
  sockaddr_storage addr_{};               // GUARDED_BY(mu_)
  socklen_t addr_len_ = 0;                // GUARDED_BY(mu_)
  std::unordered_set<uint64_t> watched_;  // GUARDED_BY(mu_): inodes
  // GUARDED_BY(mu_): the unwatched sockets the last look found, on the
  // listener or not (gone from /proc/self/fd, they leave at the next). None
  // of them can be the next new connection: no socket is accepted onto the
  // listener's address after its birth, a socket's inode is not reused
  // while it lives, and sockfs counts inodes up (one seen before that a new
  // connection reused would leave that connection unwatched).
  std::unordered_set<uint64_t> seen_;
  bool warned_ = false;  // GUARDED_BY(mu_): /proc/self/fd could not be read
  std::atomic<uint64_t> unwatched_count_{0};
};

namespace {

// The plain listener's task queue: a WorkerPool whose jobs (one connection
// each) run with their WatchedConn as tl_conn.
class WatchingQueue : public httplib::TaskQueue {
 public:
  WatchingQueue(std::unique_ptr<httplib::TaskQueue> inner, PlainConnections* conns)
      : inner_(std::move(inner)), conns_(conns) {}
  void enqueue(std::function<void()> fn) override {
    WatchedConn* c = conns_->Adopt();
    inner_->enqueue([c, conns = conns_, fn = std::move(fn)] {
      struct Served {  // released however fn ends
        WatchedConn* c;
        PlainConnections* conns;
        ~Served() {
          tl_conn = nullptr;
          if (c != nullptr) {
            conns->Release(c);
          }
        }
      } served{c, conns};
      if (c != nullptr) {
        c->owner->Start(c);
      }
      tl_conn = c;
      fn();
    });
  }
  // WorkerPool runs every queued job before it ends, so every WatchedConn
  // is released.
  void shutdown() override { inner_->shutdown(); }

 private:
  const std::unique_ptr<httplib::TaskQueue> inner_;
  PlainConnections* const conns_;
};

std::string NewRequestId() { return HexEncode(RandomBytes(8)); }

// httplib writes an answer's head and body with two writes, so two TCP
// segments; each costs the sender a transmit and the client a wake-up (on
// loopback the sender pays the receive path too), more than the TLS
// records. The HTTPS socket is corked from routing (the request is read,
// any 100 Continue already went out) to the logger, which httplib calls
// once the answer is written: one segment per answer. Uncorking sends at
// once; a connection that dies corked loses nothing that was not lost.
void CorkAnswer(const httplib::Request& req, bool on) {
  if (req.ssl == nullptr) {
    return;
  }
  const int fd = SSL_get_fd(req.ssl);
  const int value = on ? 1 : 0;
  if (fd >= 0) {
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof(value));
  }
}

// RFC 9110 IMF-fixdate.
std::string HttpDate(int64_t unix_seconds) {
  return FormatUtc(unix_seconds, "%a, %d %b %Y %H:%M:%S GMT");
}

// LMDB maps the store and trusts its pages: a truncated data.mdb, or one
// whose pages were overwritten, faults (SIGBUS, SIGSEGV) when LMDB reads
// them, inside the storage calls, before any error can be returned.
// While the store is opened and first read at start-up (Load, and the CRL
// publisher's start in StartServices), such a fault ends the process with
// exit code 1 and a message naming the store instead of a bare crash.
// Corruption in pages that start-up does not read is met later, by the
// request that reads them. Guards are serialized.
constexpr size_t kCorruptMsgMax = 1024;
char g_corrupt_msg[kCorruptMsgMax];
size_t g_corrupt_msg_len = 0;
const char* g_corrupt_prefix = "";  // a string literal

void WriteAll(const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) {
      return;
    }
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void OnStoreFault(int sig) {  // async-signal-safe: write(2) and _exit(2) only
  WriteAll(g_corrupt_prefix, std::strlen(g_corrupt_prefix));
  WriteAll(g_corrupt_msg, g_corrupt_msg_len);
  const char* name = sig == SIGBUS ? " raised SIGBUS" : " raised SIGSEGV";
  WriteAll(name, std::strlen(name));
  static constexpr char kSuffix[] =
      ": data.mdb is truncated or its pages are corrupt; restore the store from a backup\n";
  WriteAll(kSuffix, sizeof(kSuffix) - 1);
  ::_exit(1);
}

class CorruptStoreGuard {
 public:
  // `prefix` (a string literal) starts the message.
  explicit CorruptStoreGuard(
      const std::string& db_dir,
      const char* prefix = "hostca-server: cannot start: corrupt_store: reading ")
      : lock_(Mutex()) {
    g_corrupt_prefix = prefix;
    const std::string what = "the store in " + db_dir;
    g_corrupt_msg_len = std::min(what.size(), kCorruptMsgMax);
    std::memcpy(g_corrupt_msg, what.data(), g_corrupt_msg_len);
    struct sigaction sa {};
    sa.sa_handler = OnStoreFault;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &old_bus_);
    ::sigaction(SIGSEGV, &sa, &old_segv_);
  }
  ~CorruptStoreGuard() {
    ::sigaction(SIGBUS, &old_bus_, nullptr);
    ::sigaction(SIGSEGV, &old_segv_, nullptr);
  }
  CorruptStoreGuard(const CorruptStoreGuard&) = delete;
  CorruptStoreGuard& operator=(const CorruptStoreGuard&) = delete;

 private:
  static std::mutex& Mutex() {
    static std::mutex mu;
    return mu;
  }
  std::lock_guard<std::mutex> lock_;
  struct sigaction old_bus_ {};
  struct sigaction old_segv_ {};
};

// ca::LoadEncryptedKey reports every failure to read the key as a wrong
// passphrase. A damaged key file (cut short, edited) is told apart here:
// its encrypted PKCS#8 structure parses without the passphrase.
Status CheckKeyFileReadable(const std::string& path) {
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(path));
  ClearOpenSslErrors();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509_SIG* p8 = PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr);
  ClearOpenSslErrors();
  if (p8 == nullptr) {
    return InvalidArgument(path +
                               " is damaged: it holds no readable encrypted PKCS#8 key (the "
                               "passphrase was not tried); restore it from a backup",
                           "bad_key");
  }
  X509_SIG_free(p8);
  return Status::Ok();
}

Result<std::vector<X509Ptr>> LoadChain(const DataLayout& layout) {
  if (!FileExists(layout.ca_chain())) {
    return std::vector<X509Ptr>{};
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(layout.ca_chain()));
  if (pem.empty()) {
    return std::vector<X509Ptr>{};
  }
  return CertsFromPemBundle(pem);
}

// Accept any client certificate at the handshake, without building or
// checking its chain there: hosts without one must still reach /v1/enroll,
// an expired one must get a clear certificate_expired answer rather than a
// TLS alert, and every handler that acts on a client certificate verifies
// it itself, against the CA and its stored record or the external bundle
// (ClientIdentity in api_util.cpp). Checking the chain at the handshake too
// was a second signature verification per connection for nothing. The
// handshake still proves the client holds the certificate's key
// (CertificateVerify).
int AcceptClientCertUnchecked(X509_STORE_CTX* /*ctx*/, void* /*arg*/) { return 1; }

// The listener's own identity (DATA/tls: tls.crt, the leaf then its chain,
// and tls.key) and the chain it sends: every certificate after the leaf but
// a self-signed one (LoadTlsIdentity leaves roots out). A root is a trust
// anchor the client must already hold (RFC 8446 section 4.4.2 lets the
// server omit it), and each certificate sent costs every client a parse:
// with OpenSSL 3.0 that is about 1.6 million instructions, most of them
// setting up the public key's decoder (measured with callgrind on the load
// generator: d2i_X509 was a third of a new connection's client CPU, two
// certificates per handshake).
// SSL_MODE_NO_AUTO_CHAIN: nothing is added back from a certificate store.
bool UseInternalIdentity(SSL_CTX& ctx, const DataLayout& layout) {
  auto id = LoadTlsIdentity(layout.tls_crt(), layout.tls_key(), "", "");
  if (!id.ok() || SSL_CTX_use_certificate(&ctx, id->leaf.get()) != 1 ||
      SSL_CTX_use_PrivateKey(&ctx, id->key.get()) != 1 || SSL_CTX_clear_chain_certs(&ctx) != 1) {
    return false;
  }
  for (const X509Ptr& c : id->chain) {
    if (SSL_CTX_add1_chain_cert(&ctx, c.get()) != 1) {
      return false;
    }
  }
  SSL_CTX_set_mode(&ctx, SSL_MODE_NO_AUTO_CHAIN);
  return true;
}

// TLS settings of the API listener: the server's certificate chain and key
// from DATA/tls, TLS 1.2 or newer, forward-secret AEAD suites only, and an
// optional client certificate (the CA is announced as acceptable issuer).
bool SetupTls(SSL_CTX& ctx, const DataLayout& layout, RequestDeadlines* deadlines,
              CertSelector* certs, const crl::ExternalVerifier* external) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    return false;
  }
  if (!UseInternalIdentity(ctx, layout)) {
    return false;
  }
  STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(layout.ca_crt().c_str());
  if (ca_names == nullptr) {
    return false;
  }
  if (external != nullptr) {
    // Clients holding both kinds see both as acceptable issuers.
    for (X509_NAME* name : external->BundleSubjectNames()) {
      if (sk_X509_NAME_push(ca_names, name) == 0) {
        X509_NAME_free(name);
      }
    }
  }
  SSL_CTX_set_client_CA_list(&ctx, ca_names);
  if (!certs->Install(&ctx)) {
    return false;
  }
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(&ctx, AcceptClientCertUnchecked, nullptr);
  // No TLS 1.3 session tickets: hostca's clients open a connection per
  // command and never resume, and each ticket costs the server an encoding
  // and an encryption after every handshake.
  SSL_CTX_set_num_tickets(&ctx, 0);
  static const unsigned char kSessionContext[] = "hostca";
  SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof(kSessionContext) - 1);
  if (SSL_CTX_set_ex_data(&ctx, DeadlinesExIndex(), deadlines) != 1) {
    return false;
  }
  SSL_CTX_set_info_callback(&ctx, WatchConnection);
  return true;
}

// The log line's duration: "-" when httplib answered before routing.
std::string Elapsed() {
  if (tl_request_start == Clock_::time_point{}) {
    return "-";
  }
  return std::to_string(
             std::chrono::duration_cast<std::chrono::microseconds>(Clock_::now() - tl_request_start)
                 .count()) +
         "us";
}

}  // namespace

Result<storage::StoreCheck> CheckStore(const std::string& db_dir) {
  const CorruptStoreGuard guard(db_dir, "hostca-server check: corrupt_store: reading ");
  return storage::CheckLmdbStore(db_dir);
}

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& options, const Clock& clock,
                                               enrollment::Resolver* resolver,
                                               StoreWrapper wrap_store) {
  std::unique_ptr<Server> server(new Server(options, clock));
  server->resolver_ = resolver != nullptr ? resolver : &server->system_resolver_;
  server->wrap_store_ = std::move(wrap_store);
  HOSTCA_RETURN_IF_ERROR(server->Load());
  server->RegisterRoutes();
  return server;
}

Server::Server(const ServerOptions& options, const Clock& clock)
    : options_(options), clock_(clock) {}

Server::~Server() { Stop(); }

Status Server::Load() {
  const DataLayout layout(options_.data_dir);
  if (!FileExists(layout.ca_crt())) {
    if (FileExists(layout.ca_csr())) {
      return InvalidArgument(options_.data_dir +
                             " holds an intermediate CA key awaiting its certificate: run "
                             "hostca-server init --data DIR --install-ca-cert FILE");
    }
    return InvalidArgument(options_.data_dir +
                           " holds no CA (no ca.crt): run hostca-server init --data DIR first");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pass,
                          ResolvePassphrase(layout, options_.passphrase_file));
  auto loaded_key = ca::LoadEncryptedKey(layout.ca_key(), pass);
  if (!loaded_key.ok()) {
    if (loaded_key.status().reason() == "bad_passphrase") {
      HOSTCA_RETURN_IF_ERROR(CheckKeyFileReadable(layout.ca_key()));
    }
    return loaded_key.status();
  }
  EvpPkeyPtr key = std::move(*loaded_key);
  HOSTCA_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(layout.ca_crt()));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr ca_cert, CertFromPem(ca_pem));
  HOSTCA_ASSIGN_OR_RETURN(ca_der_, CertToDer(ca_cert.get()));
  HOSTCA_ASSIGN_OR_RETURN(ca_pem_, CertToPem(ca_cert.get()));
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, LoadChain(layout));

  const storage::LmdbOptions lmdb = StoreOptions(options_);
  if (!FileExists(layout.db() + "/data.mdb")) {
    return InvalidArgument(layout.db() + " holds no store: the data directory is incomplete");
  }
  std::string organization;
  std::string fingerprint;
  {
    const CorruptStoreGuard guard(layout.db());
    const auto open_start = std::chrono::steady_clock::now();
    auto opened = storage::OpenLmdbStorage(lmdb);
    if (!opened.ok()) {
      const std::string why = opened.status().reason();
      // LMDB's MDB_CORRUPTED and MDB_PAGE_NOTFOUND arrive as internal.
      return why == "foreign_store" || why == "corrupt_store" ||
                     opened.status().code() == Code::kInternal
                 ? opened.status().WithContext(
                       "the store in " + layout.db() +
                       " is corrupt or was not written by hostca (restore it from a backup)")
                 : opened.status();
    }
    store_ = std::move(*opened);
    // The open replays what the redo log holds after a crash (at most
    // storage.checkpoint_ms of commits and one checkpoint's time): say so,
    // since the previous run did not stop cleanly.
    if (const uint64_t replayed = store_->Stats().replayed; replayed > 0) {
      spdlog::warn(
          "the store was not closed cleanly: replayed {} transaction{} from its redo log, opened "
          "in {:.3f}s",
          replayed, replayed == 1 ? "" : "s",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - open_start).count());
    }
    HOSTCA_RETURN_IF_ERROR(store_->View([&](storage::ReadTxn& txn) -> Status {
      auto org = txn.GetMeta(kMetaOrganization);
      if (!org.ok()) {
        return org.status().code() == Code::kNotFound
                   ? InvalidArgument("the store in " + layout.db() +
                                         " does not belong to a hostca CA (its meta table names "
                                         "no organization)",
                                     "foreign_store")
                   : org.status();
      }
      organization = std::move(*org);
      if (auto fp = txn.GetMeta(kMetaCaFingerprint); fp.ok()) {
        fingerprint = std::move(*fp);
      }
      return Status::Ok();
    }));
  }
  HOSTCA_ASSIGN_OR_RETURN(issuer_, ca::Issuer::Create(std::move(key), std::move(ca_cert),
                                                      std::move(chain), organization));
  // init records the CA's fingerprint in the store: a store copied from
  // another CA's data directory would otherwise be served under this CA.
  if (!fingerprint.empty() && fingerprint != issuer_->fingerprint_sha256()) {
    return InvalidArgument("the store in " + layout.db() + " belongs to another CA (SHA-256 " +
                               fingerprint + "), not to " + layout.ca_crt() + " (SHA-256 " +
                               issuer_->fingerprint_sha256() + ")",
                           "foreign_store");
  }
  if (wrap_store_) {
    store_ = wrap_store_(std::move(store_));
    if (!store_) {
      return Internal("the store wrapper returned no store");
    }
  }
  // The maintenance thread sleeps while nothing uses the store (TidyLoop);
  // the lock orders the wake-up after its check of asleep().
  auto waking = std::make_unique<WakingStorage>(std::move(store_), [this] {
    { std::lock_guard<std::mutex> lock(tidy_mu_); }
    tidy_cv_.notify_all();
  });
  waking_ = waking.get();
  store_ = std::move(waking);
  HOSTCA_RETURN_IF_ERROR(LoadBackupSchedule());
  limiter_ =
      std::make_unique<enrollment::FailureRateLimiter>(clock_, enrollment::RateLimitOptions{});

  HOSTCA_RETURN_IF_ERROR(LoadExternal(layout.dir));

  deadlines_ =
      std::make_unique<RequestDeadlines>(static_cast<size_t>(options_.max_idle_connections));
  plain_deadlines_ =
      std::make_unique<RequestDeadlines>(static_cast<size_t>(options_.max_idle_connections));
  plain_conns_ = std::make_unique<PlainConnections>(plain_deadlines_.get(), &http_listen_fd_);
  https_ = std::make_unique<httplib::SSLServer>(
      [layout, deadlines = deadlines_.get(), certs = certs_.get(),
       external = external_verifier_.get()](SSL_CTX& ctx) {
        return SetupTls(ctx, layout, deadlines, certs, external);
      });
  if (!https_->is_valid()) {
    return InvalidArgument("cannot load the server's TLS identity from " + layout.tls_dir());
  }
  http_ = std::make_unique<httplib::Server>();
  return Status::Ok();
}

Status Server::LoadExternal(const std::string& data_dir) {
  std::string mode_name = "internal";
  HOSTCA_RETURN_IF_ERROR(store_->View([&](storage::ReadTxn& txn) -> Status {
    if (auto m = txn.GetMeta(kMetaMode); m.ok()) {
      mode_name = *m;
    }
    return Status::Ok();
  }));
  auto mode = enrollment::ParseDomainMode(mode_name);
  if (!mode.ok()) {
    return InvalidArgument("the store records an unknown domain mode '" + mode_name + "'",
                           "corrupt_store");
  }
  mode_ = std::make_unique<enrollment::ModeState>(*mode);
  std::unique_ptr<TlsIdentity> external_identity;
  if (!options_.external_trust_bundle.empty()) {
    auto bundle = ReadFile(options_.external_trust_bundle);
    if (!bundle.ok()) {
      return bundle.status().WithContext("[external] trust_bundle");
    }
    crl::ExternalTrustOptions to;
    to.trust_bundle_pem = std::move(*bundle);
    HOSTCA_ASSIGN_OR_RETURN(to.crl_check, crl::ParseExternalCrlCheck(options_.external_crl_check));
    to.crl_dir = options_.external_crl_dir;
    to.cdp_download = options_.external_cdp_download;
    to.cdp_refresh_seconds = options_.external_cdp_refresh_seconds;
    to.cache_dir = options_.external_cdp_cache_dir.empty() ? data_dir + "/external/crl-cache"
                                                           : options_.external_cdp_cache_dir;
    auto verifier = crl::ExternalVerifier::Create(to, clock_, crl::NewHttpCrlFetcher());
    if (!verifier.ok()) {
      return verifier.status().WithContext("[external] trust_bundle " +
                                           options_.external_trust_bundle);
    }
    external_verifier_ = std::move(*verifier);
    HOSTCA_ASSIGN_OR_RETURN(const auto identity,
                            enrollment::ParseExternalIdentity(options_.external_identity));
    external_ = std::make_unique<enrollment::ExternalEnrollment>(*external_verifier_, *store_,
                                                                 clock_, identity);
    spdlog::info("external certificates: trust bundle {}, CRL check {}",
                 options_.external_trust_bundle, options_.external_crl_check);
  }
  if (!options_.external_server_cert.empty()) {
    std::string pass;
    if (!options_.external_server_key_passphrase_file.empty()) {
      auto content = ReadSecretFile(options_.external_server_key_passphrase_file);
      if (!content.ok()) {
        return content.status().WithContext("[external] server_key_passphrase_file");
      }
      pass = std::move(*content);
    }
    auto id = LoadTlsIdentity(options_.external_server_cert, options_.external_server_key,
                              options_.external_server_chain, pass);
    if (!id.ok()) {
      return id.status().WithContext("[external] server certificate");
    }
    // In mixed and external mode it is the listener's default certificate,
    // which may not be self-signed (issue 8, as for [tls] default_certificate).
    if (IsSelfSigned(id->leaf.get())) {
      return InvalidArgument("[external] server_cert " + options_.external_server_cert +
                                 " is self-signed: clients could not verify it; use a "
                                 "certificate issued by the external CA",
                             "self_signed_default");
    }
    external_identity = std::make_unique<TlsIdentity>(std::move(*id));
    spdlog::info("external server certificate: {}", external_identity->description);
  }
  if (*mode != enrollment::DomainMode::kInternal && !external_) {
    spdlog::error(
        "the domain is in {} mode but no [external] trust_bundle is configured: external "
        "client certificates are refused until it is (or the mode is set back to internal)",
        mode_name);
  }
  if (*mode == enrollment::DomainMode::kExternal && !external_identity) {
    spdlog::error(
        "the domain is in external mode but no [external] server_cert is configured: the "
        "listener serves its internal certificate");
  }
  // [tls]: the default certificate and those chosen by SNI.
  std::unique_ptr<TlsIdentity> default_identity;
  if (!options_.tls_default_certificate.empty()) {
    HOSTCA_ASSIGN_OR_RETURN(default_identity, LoadDefaultIdentity(options_.tls_default_certificate,
                                                                  options_.tls_default_key));
    spdlog::info("default server certificate: {}", default_identity->description);
  }
  const DataLayout layout(data_dir);
  HOSTCA_ASSIGN_OR_RETURN(SniTable sni,
                          LoadSniTable(layout.tls_sni_dir(), options_.tls_sni_certificates));
  if (!sni.empty()) {
    spdlog::info("{} SNI certificates from {} and [tls] sni_certificates", sni.size(),
                 layout.tls_sni_dir());
  }
  certs_ = std::make_unique<CertSelector>(
      *mode_, std::move(external_identity), std::move(default_identity),
      sni.empty() ? nullptr : std::make_unique<SniTable>(std::move(sni)));
  return Status::Ok();
}

void Server::ConfigureCommon(httplib::Server& srv, const char* listener, int* listen_fd,
                             size_t threads, const RequestDeadlines* deadlines,
                             PlainConnections* plain) {
  // httplib 0.11.4 listens with a backlog of 5: a burst of new connections
  // overflows it and the dropped SYNs wait a second to be retried (the
  // issuance bench's p99 at 64 clients). Bind reopens the queue at
  // SOMAXCONN; this records the socket (and sets only SO_REUSEADDR:
  // httplib's default also sets SO_REUSEPORT, which would let another
  // process bind the same port).
  srv.set_socket_options([listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *listen_fd = static_cast<int>(sock);
  });
  // cpp-httplib serves a connection on one worker until it closes, so the
  // pool's cap bounds the connections served at once: sized for a fleet's
  // concurrent clients and the proxies' kept-alive pools in front of it,
  // not for the cores. Threads start as connections need them and end
  // after a minute idle (worker_pool.h); a thread costs its stack's
  // touched pages and its TLS buffers, ~100 KiB while it serves (500 idle
  // TLS connections raised VmRSS by 50 MB).
  std::shared_ptr<WorkerPoolStats> stats = std::make_shared<WorkerPoolStats>();
  listeners_.push_back({listener, stats, deadlines, plain});
  srv.new_task_queue = [threads, stats, plain]() -> httplib::TaskQueue* {
    auto pool = std::make_unique<WorkerPool>(threads, std::min(threads, kKeptThreads),
                                             kWorkerIdleExit, stats);
    if (plain == nullptr) {
      return pool.release();
    }
    return new WatchingQueue(std::move(pool), plain);
  };
  srv.set_payload_max_length(options_.max_body_bytes);
  srv.set_read_timeout(std::chrono::seconds(10));
  // Answers go out at once (no Nagle delay against the client's delayed
  // ACK: 40 ms per request otherwise), and a kept-alive connection serves
  // many requests: a TLS handshake costs more than an issuance.
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(1000);
  srv.set_keep_alive_timeout(kKeepAliveTimeout.count());
  srv.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    tl_request_start = Clock_::now();
    CorkAnswer(req, true);
    if (tl_conn != nullptr) {
      tl_conn->owner->Routed(tl_conn);
    }
    res.set_header("X-Request-Id", NewRequestId());
    // Clients measure their clock skew against it (`hostca status`).
    res.set_header("Date", HttpDate(clock_.NowSeconds()));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib answers itself (no handler wrote a body) keep their
  // status and get a JSON error with a stable code; a request cut off by its
  // deadline is a 408.
  srv.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) {
      return;
    }
    if (!res.has_header("X-Request-Id")) {
      res.set_header("X-Request-Id", NewRequestId());
    }
    if (res.status == 400 && tl_conn != nullptr && tl_conn->owner->TimedOut(tl_conn)) {
      res.status = 408;
    }
    tl_request_broken = res.status == 400 || res.status == 408 || res.status == 414;
    WriteHttpError(res);
  });
  // A handler that throws (a bug): 500 internal, without the exception's
  // text, which httplib would otherwise send in an EXCEPTION_WHAT header.
  srv.set_exception_handler(
      [listener](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const nlohmann::json::parse_error& e) {
          // Its message quotes the input, which may hold a token.
          what = "JSON parse error " + std::to_string(e.id) + " at byte " + std::to_string(e.byte);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        // Only the request line and the exception: bodies and headers may
        // carry secrets.
        spdlog::error("{} req={} {} {}: handler failed: {}", listener,
                      res.get_header_value("X-Request-Id"), req.method, req.path, what);
        res.headers.erase("EXCEPTION_WHAT");
        res.body.clear();
        res.status = 500;
        WriteHttpError(res);
      });
  srv.set_logger([this, listener](const httplib::Request& req, const httplib::Response& res) {
    const bool routed = tl_request_start != Clock_::time_point{};
    if (routed) {
      CorkAnswer(req, false);  // the answer is written: send it
    }
    const std::string id = res.get_header_value("X-Request-Id");
    // Paths never carry secrets (tokens travel in bodies and headers).
    spdlog::info("{} req={} {} {} {} {} {}", listener, id.empty() ? "-" : id,
                 req.remote_addr.empty() ? "-" : req.remote_addr,
                 req.method.empty() ? "-" : req.method, req.path.empty() ? "-" : req.path,
                 res.status, Elapsed());
    if (tl_conn != nullptr) {
      tl_conn->owner->Answered(tl_conn, routed && !tl_request_broken);
    }
    tl_request_start = Clock_::time_point{};
    tl_request_broken = false;
  });
}

void Server::RegisterRoutes() {
  ConfigureCommon(*https_, "https", &https_listen_fd_,
                  options_.threads > 0 ? static_cast<size_t>(options_.threads) : kDefaultMaxThreads,
                  deadlines_.get(), nullptr);
  ConfigureCommon(
      *http_, "http", &http_listen_fd_,
      options_.http_threads > 0 ? static_cast<size_t>(options_.http_threads) : kDefaultMaxThreads,
      plain_deadlines_.get(), plain_conns_.get());
  https_->Get("/healthz", [this](const auto& req, auto& res) { HandleHealth(req, res); });
  https_->Get("/v1/ca", [this](const auto& req, auto& res) { HandleGetCa(req, res); });
  https_->Get("/metrics", [this](const auto& req, auto& res) { HandleMetrics(req, res); });
  http_->Get("/ca.crt", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ca_der_, "application/pkix-cert");
  });
  http_->Get("/crl", [this](const auto& req, auto& res) { HandleCrl(req, res); });
  https_->Get("/v1/crl", [this](const auto& req, auto& res) { HandleCrl(req, res); });
}

Status Server::StartServices() {
  enrollment::EnrollmentOptions eo;
  eo.validity_seconds = options_.validity_days * 86400;
  eo.csr_policy.min_rsa_bits = options_.min_rsa_bits;
  eo.public_url = options_.public_url;
  if (eo.public_url.empty()) {
    std::string host;
    int port = 0;
    SplitHostPort(options_.http_listen, &host, &port).IgnoreError();
    if (host.find(':') != std::string::npos) {
      host = "[" + host + "]";
    }
    eo.public_url = "http://" + host + ":" + std::to_string(http_port_);
  }
  while (!eo.public_url.empty() && eo.public_url.back() == '/') {
    eo.public_url.pop_back();
  }
  // The CRL names its distribution point, which depends on the bound port.
  crl::CrlOptions crl_options;
  crl_options.validity_seconds = options_.crl_validity_days * 86400;
  crl_options.republish_seconds = options_.crl_republish_seconds;
  crl_options.output_path = options_.data_dir + "/crl.der";
  crl_options.distribution_point = eo.public_url + "/crl";
  {
    // The publisher's first reads (the revoked certificates) and write (the
    // CRL number) are the last start-up touches of the store's pages.
    const std::string db = DataLayout(options_.data_dir).db();
    const CorruptStoreGuard guard(db);
    auto publisher = crl::Publisher::Create(*issuer_, *store_, clock_, crl_options);
    if (!publisher.ok()) {
      // LMDB's MDB_CORRUPTED and MDB_PAGE_NOTFOUND arrive as internal.
      return publisher.status().code() == Code::kInternal
                 ? publisher.status().WithContext("the CRL publisher cannot read the store in " +
                                                  db + " (is it corrupt?)")
                 : publisher.status();
    }
    publisher_ = std::move(*publisher);
  }
  admin_ = std::make_unique<enrollment::AdminService>(*store_, clock_, publisher_.get());
  admin_->ConfigureModes(
      mode_.get(), {.trust_bundle = external_ != nullptr, .server_cert = certs_->has_external()});
  enroll_ = std::make_unique<enrollment::EnrollmentService>(
      *issuer_, *store_, clock_, *resolver_, *limiter_, eo, publisher_.get(), mode_.get());
  api_ = std::make_unique<ApiContext>(
      ApiContext{*enroll_, *admin_, metrics_, *store_, clock_, *publisher_, *mode_, external_.get(),
                 JsonStringArray(issuer_->chain_pem()), *issuer_, options_.tidy_retention_days});
  RegisterApi(*https_, *api_);
  return Status::Ok();
}

// CRL distribution (DESIGN.md section 6): DER or PEM, an ETag from the CRL
// number so pollers get 304s, and a max-age no longer than the level's
// refresh interval (nor past nextUpdate).
void Server::HandleCrl(const httplib::Request& req, httplib::Response& res) {
  const auto crl = publisher_->Current();
  const int64_t refresh = enrollment::CrlRefreshSeconds(enroll_->CurrentLevel());
  const int64_t max_age =
      std::max<int64_t>(0, std::min(refresh, crl->next_update - clock_.NowSeconds()));
  res.set_header("ETag", crl->etag);
  res.set_header("Cache-Control", "public, max-age=" + std::to_string(max_age));
  res.set_header("Last-Modified", HttpDate(crl->this_update));
  const std::string inm = req.get_header_value("If-None-Match");
  if (!inm.empty() &&
      (inm == crl->etag || inm == "*" || inm.find(crl->etag) != std::string::npos)) {
    res.status = 304;
    return;
  }
  // Sent from the published CRL itself, not a copy per download.
  if (req.get_param_value("format") == "pem") {
    WriteKeptBody(res, crl, crl->pem(), "application/x-pem-file");
  } else {
    WriteKeptBody(res, crl, crl->der, "application/pkix-crl");
  }
}

void Server::HandleMetrics(const httplib::Request&, httplib::Response& res) {
  Metrics::Gauges g;
  g.store = store_->Stats();
  const int64_t now = clock_.NowSeconds();
  store_
      ->View([&](storage::ReadTxn& txn) -> Status {
        if (auto tokens = txn.ListTokens(); tokens.ok()) {
          for (const auto& t : *tokens) {
            g.tokens_active += (now < t.expires_at && t.uses < t.max_uses) ? 1 : 0;
          }
        }
        // Counted, not listed: a scrape must not read every host of a
        // large fleet (0.7 s and 250 MiB per scrape at a million).
        if (auto hosts = txn.CountHosts(); hosts.ok()) {
          g.hosts = *hosts;
        }
        if (auto external = enrollment::ExternalCertCount(txn); external.ok()) {
          g.external_certs = static_cast<uint64_t>(*external);
        }
        return Status::Ok();
      })
      .IgnoreError();
  g.mode = enrollment::DomainModeName(mode_->Get());
  for (const auto& [listener, pool, deadlines, plain] : listeners_) {
    Metrics::Gauges::Workers w;
    w.listener = listener;
    w.idle_closed = deadlines->idle_cut();
    w.unwatched = plain != nullptr ? plain->unwatched_count() : 0;
    w.max_threads = pool->max_threads.load(std::memory_order_relaxed);
    w.threads = pool->threads.load(std::memory_order_relaxed);
    w.busy = pool->busy.load(std::memory_order_relaxed);
    w.queued = pool->queued.load(std::memory_order_relaxed);
    w.peak_threads = pool->peak_threads.load(std::memory_order_relaxed);
    w.thread_starts = pool->thread_starts.load(std::memory_order_relaxed);
    w.start_failures = pool->start_failures.load(std::memory_order_relaxed);
    g.workers.push_back(std::move(w));
  }
  if (external_verifier_) {
    const auto stats = external_verifier_->GetStats();
    g.external = true;
    g.external_crl_downloads = stats.crl_downloads;
    g.external_crl_download_failures = stats.crl_download_failures;
    g.external_crl_cache_hits = stats.crl_cache_hits;
  }
  res.set_content(metrics_.Render(g), "text/plain; version=0.0.4");
}

void Server::HandleHealth(const httplib::Request&, httplib::Response& res) {
  const Status st = store_->View([](storage::ReadTxn& txn) { return txn.CountCerts().status(); });
  if (!st.ok()) {
    WriteError(res, Unavailable("store: " + st.message()));
    return;
  }
  // A store that stopped writing still reads: every write would fail.
  if (const Status writes = store_->WriteHealth(); !writes.ok()) {
    WriteError(res, writes);
    return;
  }
  WriteJson(res, 200, {{"status", "ok"}});
}

void Server::HandleGetCa(const httplib::Request&, httplib::Response& res) {
  std::string level_name = std::string(SecurityLevelName(enrollment::kDefaultSecurityLevel));
  const std::string mode = enrollment::DomainModeName(mode_->Get());
  const Status st = store_->View([&](storage::ReadTxn& txn) -> Status {
    if (auto level = txn.GetMeta(kMetaSecurityLevel); level.ok()) {
      level_name = *level;
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    WriteError(res, st);
    return;
  }
  const auto level = enrollment::ParseSecurityLevel(level_name);
  const auto level_value = level.ok() ? *level : enrollment::kDefaultSecurityLevel;
  WriteJson(res, 200,
            {{"certificate", ca_pem_},
             {"chain", issuer_->chain_pem()},
             {"fingerprint_sha256", issuer_->fingerprint_sha256()},
             {"security_level", enrollment::SecurityLevelName(level_value)},
             {"crl_refresh_seconds", enrollment::CrlRefreshSeconds(level_value)},
             {"mode", mode}});
}

Status Server::Bind() {
  std::string host;
  int port = 0;
  HOSTCA_RETURN_IF_ERROR(SplitHostPort(options_.listen, &host, &port));
  https_port_ =
      port == 0 ? https_->bind_to_any_port(host) : (https_->bind_to_port(host, port) ? port : -1);
  if (https_port_ <= 0) {
    return Unavailable("cannot listen on " + options_.listen + " (HTTPS)");
  }
  HOSTCA_RETURN_IF_ERROR(SplitHostPort(options_.http_listen, &host, &port));
  http_port_ =
      port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  if (http_port_ <= 0) {
    return Unavailable("cannot listen on " + options_.http_listen + " (HTTP)");
  }
  for (const int fd : {https_listen_fd_, http_listen_fd_}) {
    if (fd >= 0 && ::listen(fd, SOMAXCONN) != 0) {
      spdlog::warn("cannot raise the listen backlog: {}", std::strerror(errno));
    }
  }
  std::string https_host;
  SplitHostPort(options_.listen, &https_host, &port).IgnoreError();
  spdlog::info("listening https://{}:{} (API)", https_host, https_port_);
  spdlog::info("listening http://{}:{} (CA certificate and CRL)", host, http_port_);
  // For admin-cert and tidy, which reach this server while it holds the
  // store (running_server.h), with every leaf the listener may present.
  std::vector<X509*> leaves = certs_->Leaves();
  leaves.insert(leaves.begin(), SSL_CTX_get0_certificate(https_->ssl_context()));
  std::vector<std::string> pins;
  for (X509* leaf : leaves) {
    if (leaf == nullptr) {
      continue;
    }
    if (auto fp = CertFingerprintSha256(leaf);
        fp.ok() && std::find(pins.begin(), pins.end(), *fp) == pins.end()) {
      pins.push_back(*fp);
    }
  }
  if (const Status st =
          WriteServeFile(options_.data_dir, https_host, https_port_, host, http_port_, pins);
      !st.ok()) {
    spdlog::warn("{}: admin-cert and tidy cannot find this server", st.ToString());
  }
  // The certificate URLs depend on the bound plain-HTTP port.
  return StartServices();
}

// The maintenance thread: drops mapped store pages every ten seconds, and
// sooner when they exceed storage.mapped_mib (mapped_pages.h); once they
// stop growing it drops them and sleeps until the store is used again. The
// tidy job runs a minute after start, then every tidy.interval_seconds.
void Server::TidyLoop() {
  // Start-up read the CRL's entries (and the revoked records of a store
  // written before they held their revocation): no need to keep them mapped.
  store_->ReleaseMappedPages();
  auto released = std::chrono::steady_clock::now();
  const uint64_t budget = options_.mapped_mib << 20;
  QuietLooks quiet;
  auto next = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(tidy_mu_);
      const bool idle = waking_->asleep();
      const auto wake =
          idle ? next : std::min(next, std::chrono::steady_clock::now() + kMappedPagesCheckEvery);
      // True when stopped, or woken from idle by a use of the store.
      const bool woken = tidy_cv_.wait_until(
          lock, wake, [&] { return stopped_.load() || (idle && !waking_->asleep()); });
      if (stopped_) {
        return;
      }
      if (woken) {
        released = std::chrono::steady_clock::now();  // nothing was mapped while asleep
      }
    }
    // Keeps the resident set independent of the store's size (storage.h).
    const auto now = std::chrono::steady_clock::now();
    uint64_t mapped = MappedFileBytes();
    bool dropped = false;
    if (ShouldReleaseMappedPages(mapped, budget, now - released)) {
      store_->ReleaseMappedPages();
      released = now;
      dropped = true;
      mapped = MappedFileBytes();
    }
    if (!waking_->asleep() && quiet.Look(mapped)) {
      if (!dropped) {  // a second madvise would walk the whole map for nothing
        store_->ReleaseMappedPages();
      }
      released = now;
      quiet.Reset();
      waking_->Sleep();
    }
    if (std::chrono::steady_clock::now() < next) {
      continue;
    }
    enrollment::TidyOptions to;
    to.retention_seconds = options_.tidy_retention_days * 86400;
    auto removed = enrollment::TidyExpired(*store_, clock_.NowSeconds(), to, "tidy");
    if (removed.ok()) {
      spdlog::info("tidy: removed {} expired certificate records", *removed);
    } else {
      spdlog::error("tidy failed: {}", removed.status().ToString());
    }
    next = std::chrono::steady_clock::now() + std::chrono::seconds(options_.tidy_interval_seconds);
  }
}

// [backup]: the passphrase is read now, so a missing or empty file stops
// the start with a clear message instead of failing every backup later.
Status Server::LoadBackupSchedule() {
  if (options_.backup_directory.empty()) {
    return Status::Ok();
  }
  if (options_.backup_passphrase_file.empty()) {
    return InvalidArgument(
        "backup.directory is set but backup.passphrase_file is not: scheduled backups are "
        "encrypted and need a passphrase");
  }
  auto pass = ReadPassphraseFile(options_.backup_passphrase_file);
  if (!pass.ok()) {
    return pass.status().WithContext("backup.passphrase_file");
  }
  backup_passphrase_ = std::move(*pass);
  BackupScheduleOptions so;
  so.directory = options_.backup_directory;
  so.interval_seconds = options_.backup_interval_seconds;
  so.keep = options_.backup_keep;
  backup_scheduler_ = std::make_unique<BackupScheduler>(
      so, clock_,
      [this](const std::string& path, int64_t now) { return WriteScheduledBackup(path, now); });
  return backup_scheduler_->Init().WithContext("backup.directory " + so.directory);
}

// One scheduled backup: the store is copied through the server's own
// environment (LMDB forbids opening it twice in one process), and a Stop
// cancels the backup at its next segment.
Status Server::WriteScheduledBackup(const std::string& path, int64_t now) {
  BackupSource src;
  src.data_dir = options_.data_dir;
  src.config_path = options_.config_path;
  src.exclude_dir = options_.backup_directory;
  src.copy_store = [this](int fd) { return store_->CopyCompactTo(fd); };
  src.cancel = &stopped_;
  return CreateBackup(src, path, backup_passphrase_, now).status();
}

// The scheduled backups: due as BackupScheduler decides, checked at least
// every minute (so a clock step is noticed), stopped at once by Stop.
void Server::BackupLoop() {
  while (true) {
    const BackupScheduler::Outcome outcome = backup_scheduler_->RunIfDue();
    if (outcome.ran && outcome.path.empty()) {
      metrics_.CountBackupFailed();
      spdlog::error("backup failed: {}", outcome.status.ToString());
    } else if (outcome.ran) {
      metrics_.CountBackupWritten(clock_.NowSeconds());
      std::error_code ec;
      spdlog::info("backup: wrote {} ({} bytes)", outcome.path,
                   std::filesystem::file_size(outcome.path, ec));
      for (const std::string& name : outcome.pruned) {
        spdlog::info("backup: removed the old backup {}", name);
      }
      if (!outcome.status.ok()) {
        spdlog::error("backup: {}", outcome.status.ToString());
      }
    }
    const int64_t wait = std::clamp<int64_t>(backup_scheduler_->SecondsUntilDue(), 1, 60);
    std::unique_lock<std::mutex> lock(tidy_mu_);
    if (tidy_cv_.wait_for(lock, std::chrono::seconds(wait), [this] { return stopped_.load(); })) {
      return;
    }
  }
}

Status Server::Run() {
  publisher_->Start();
  tidy_thread_ = std::thread([this] { TidyLoop(); });
  if (backup_scheduler_) {
    backup_thread_ = std::thread([this] { BackupLoop(); });
  }
  std::atomic<bool> https_ended{false}, http_ended{false};
  std::thread http_thread([this, &http_ended] {
    http_->listen_after_bind();
    http_ended = true;
  });
  // A Stop() before both accept loops started (a SIGTERM right after
  // "ready") reached no loop and the server ran on: once both run, a stop
  // asked for by then is sent to them. cpp-httplib has no wait for a loop
  // to start (0.11): this thread looks every millisecond until it has.
  std::thread relay([this, &https_ended, &http_ended] {
    while (!https_ended && !http_ended && !(https_->is_running() && http_->is_running())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (stopped_) {
      StopListener(*https_, &https_stop_sent_);
      StopListener(*http_, &http_stop_sent_);
    }
  });
  const bool ok = https_->listen_after_bind();
  const bool stop_asked = stopped_.load();
  https_ended = true;
  relay.join();
  while (!http_ended) {  // its loop too may not have started yet
    StopListener(*http_, &http_stop_sent_);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  http_thread.join();
  {
    std::lock_guard<std::mutex> lock(tidy_mu_);
    stopped_ = true;
  }
  tidy_cv_.notify_all();
  tidy_thread_.join();
  if (backup_thread_.joinable()) {
    backup_thread_.join();
  }
  publisher_->Stop();
  store_->Close();
  RemoveServeFile(options_.data_dir);
  if (!ok && !stop_asked) {
    return Unavailable("the HTTPS listener stopped unexpectedly");
  }
  return Status::Ok();
}

void Server::StopListener(httplib::Server& srv, bool* sent) {
  std::lock_guard<std::mutex> lock(listeners_mu_);
  if (!*sent && srv.is_running()) {
    srv.stop();
    *sent = true;
  }
}

// A listener whose loop has not started yet is stopped by Run once it runs.
void Server::Stop() {
  if (stopped_.exchange(true)) {
    return;
  }
  for (RequestDeadlines* d : {deadlines_.get(), plain_deadlines_.get()}) {
    if (d != nullptr) {
      d->Drain();
    }
  }
  if (https_) {
    StopListener(*https_, &https_stop_sent_);
  }
  if (http_) {
    StopListener(*http_, &http_stop_sent_);
  }
}

}  // namespace hostca::server
