#include "bench/loadgen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>

#include "common/pem.h"

namespace hostca::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;
constexpr size_t kReadChunk = 16 * 1024;

// The kind of a failure travels as the Status reason, so that the result can
// count failures by kind: "connect", "tls handshake", "send", "receive",
// "timeout", "closed", "bad response".
Status Fail(const std::string& kind, const std::string& detail) {
  return Unavailable(detail, kind);
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::string SslErrorText() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return errno != 0 ? std::strerror(errno) : "no detail";
  }
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// One client connection, plain or TLS, with blocking I/O bounded by the
// endpoint's timeout. Not thread-safe: one per worker.
class Connection {
 public:
  Connection() = default;
  ~Connection() { Close(false); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool is_open() const { return fd_ >= 0; }

  Status Open(const Endpoint& ep) {
    Close(false);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      return Fail("connect", Errno("socket"));
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ep.timeout.count());
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(ep.port));
    if (inet_pton(AF_INET, ep.address.c_str(), &addr.sin_addr) != 1) {
      Close(false);
      return Fail("connect", "not an IPv4 address: " + ep.address);
    }
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      const std::string detail = Errno("connect");
      Close(false);
      return Fail(errno == EAGAIN || errno == EINPROGRESS ? "timeout" : "connect", detail);
    }
    if (ep.tls == nullptr) {
      return Status::Ok();
    }
    ERR_clear_error();
    ssl_.reset(SSL_new(ep.tls));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1 ||
        SSL_set_tlsext_host_name(ssl_.get(), ep.host.c_str()) != 1 ||
        SSL_set1_host(ssl_.get(), ep.host.c_str()) != 1) {
      const std::string detail = SslErrorText();
      Close(false);
      return Fail("tls handshake", "cannot set up the TLS connection: " + detail);
    }
    errno = 0;
    if (SSL_connect(ssl_.get()) != 1) {
      const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
      const long verify = SSL_get_verify_result(ssl_.get());
      std::string detail = SslErrorText();
      if (verify != X509_V_OK) {
        detail += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
      }
      Close(false);
      return Fail(timed_out ? "timeout" : "tls handshake", "TLS handshake failed: " + detail);
    }
    return Status::Ok();
  }

  // `abort`: end with a TCP reset instead of FIN, so that thousands of
  // short connections leave no TIME_WAIT sockets behind (the response was
  // read in full before).
  void Close(bool abort) {
    if (ssl_) {
      ERR_clear_error();
      SSL_shutdown(ssl_.get());  // sends close_notify; the peer's is not awaited
      ssl_.reset();
      ERR_clear_error();
    }
    if (fd_ >= 0) {
      if (abort) {
        const linger l{1, 0};
        setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      }
      close(fd_);
      fd_ = -1;
    }
    buffer_.clear();
  }

  Status Send(std::string_view data) {
    while (!data.empty()) {
      errno = 0;
      ssize_t n = 0;
      if (ssl_) {
        ERR_clear_error();
        const int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 30));
        const int rc = SSL_write(ssl_.get(), data.data(), chunk);
        n = rc > 0 ? rc : -1;
      } else {
        n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      }
      if (n < 0) {
        if (!ssl_ && errno == EINTR) {
          continue;
        }
        const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
        return Fail(timed_out ? "timeout" : "send",
                    ssl_ ? "send: " + SslErrorText() : Errno("send"));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Result<HttpResponse> ReadResponse() {
    size_t header_end = 0;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > kMaxHeaderBytes) {
        return Fail("bad response", "the response header is longer than 64 KiB");
      }
      HOSTCA_RETURN_IF_ERROR(Fill(buffer_.empty() ? "closed" : "receive"));
    }
    HttpResponse res;
    const std::string_view head(buffer_.data(), header_end);
    const size_t line_end = std::min(head.find("\r\n"), head.size());
    const std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") {
      return Fail("bad response",
                  "not an HTTP response: " + std::string(status_line.substr(0, 80)));
    }
    const size_t space = status_line.find(' ');
    if (space == std::string_view::npos || space + 4 > status_line.size()) {
      return Fail("bad response", "bad status line: " + std::string(status_line));
    }
    res.status = std::atoi(std::string(status_line.substr(space + 1, 3)).c_str());
    res.close = status_line.substr(0, 8) == "HTTP/1.0";
    long long content_length = -1;
    bool chunked = false;
    size_t pos = line_end + 2;
    while (pos < head.size()) {
      const size_t end = std::min(head.find("\r\n", pos), head.size());
      const std::string_view line = head.substr(pos, end - pos);
      pos = end + 2;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      const std::string_view name = Trim(line.substr(0, colon));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (IEquals(name, "Content-Length")) {
        content_length = std::atoll(std::string(value).c_str());
      } else if (IEquals(name, "Transfer-Encoding")) {
        chunked = IEquals(value, "chunked");
      } else if (IEquals(name, "Connection")) {
        res.close = res.close || IEquals(value, "close");
      }
    }
    buffer_.erase(0, header_end + 4);
    if (chunked) {
      HOSTCA_RETURN_IF_ERROR(ReadChunked(&res.body));
    } else if (content_length >= 0) {
      if (static_cast<size_t>(content_length) > kMaxBodyBytes) {
        return Fail("bad response", "the body is larger than 16 MiB");
      }
      const size_t want = static_cast<size_t>(content_length);
      while (buffer_.size() < want) {
        HOSTCA_RETURN_IF_ERROR(Fill("receive"));
      }
      res.body = buffer_.substr(0, want);
      buffer_.erase(0, want);
    } else if (res.status >= 200 && res.status != 204 && res.status != 304) {
      // No length: the body ends with the connection.
      while (true) {
        Status st = Fill("eof");
        if (!st.ok()) {
          if (st.reason() != "eof") {
            return st;
          }
          break;
        }
        if (buffer_.size() > kMaxBodyBytes) {
          return Fail("bad response", "the body is larger than 16 MiB");
        }
      }
      res.body = std::move(buffer_);
      buffer_.clear();
      res.close = true;
    }
    return res;
  }

 private:
  // Appends what the peer sent next. At the end of the stream: a failure
  // with reason `eof_kind`, or "eof" when that is what the caller waits for.
  Status Fill(const std::string& eof_kind) {
    char chunk[kReadChunk];
    while (true) {
      errno = 0;
      ssize_t n = 0;
      if (ssl_) {
        ERR_clear_error();
        const int rc = SSL_read(ssl_.get(), chunk, sizeof(chunk));
        if (rc > 0) {
          n = rc;
        } else {
          const int err = SSL_get_error(ssl_.get(), rc);
          if (err == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            return Fail(eof_kind, "the server closed the connection");
          }
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            continue;  // a post-handshake message (session ticket) and no data yet
          }
          const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
          if (err == SSL_ERROR_SYSCALL && errno == 0) {
            ERR_clear_error();
            return Fail(eof_kind, "the server closed the connection");
          }
          return Fail(timed_out ? "timeout" : "receive", "receive: " + SslErrorText());
        }
      } else {
        n = recv(fd_, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n == 0) {
          return Fail(eof_kind, "the server closed the connection");
        }
        if (n < 0) {
          const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
          return Fail(timed_out ? "timeout" : "receive", Errno("receive"));
        }
      }
      buffer_.append(chunk, static_cast<size_t>(n));
      return Status::Ok();
    }
  }

  Status ReadChunked(std::string* body) {
    while (true) {
      size_t eol = 0;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        HOSTCA_RETURN_IF_ERROR(Fill("receive"));
      }
      char* end = nullptr;
      const unsigned long long size = std::strtoull(buffer_.c_str(), &end, 16);
      if (end == buffer_.c_str() || size > kMaxBodyBytes || body->size() + size > kMaxBodyBytes) {
        return Fail("bad response", "bad chunk size");
      }
      buffer_.erase(0, eol + 2);
      if (size == 0) {
        // Trailers, then an empty line.
        while (true) {
          while ((eol = buffer_.find("\r\n")) == std::string::npos) {
            HOSTCA_RETURN_IF_ERROR(Fill("receive"));
          }
          buffer_.erase(0, eol + 2);
          if (eol == 0) {
            return Status::Ok();
          }
        }
      }
      while (buffer_.size() < size + 2) {
        HOSTCA_RETURN_IF_ERROR(Fill("receive"));
      }
      body->append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
  }

  int fd_ = -1;
  SslPtr ssl_;
  std::string buffer_;  // received and not consumed yet
};

std::string RequestBytes(const Endpoint& ep, const HttpRequest& req, bool close) {
  std::string out = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + ep.host + "\r\n";
  for (const auto& [name, value] : req.headers) {
    out += name + ": " + value + "\r\n";
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  }
  if (close) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  out += req.body;
  return out;
}

double CpuSecondsOfThisProcess() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// What one worker saw; merged after the join.
struct WorkerResult {
  size_t requests = 0, ok = 0, failed = 0, connections = 0, server_closes = 0;
  size_t opened_before_start = 0;
  std::map<std::string, size_t> failures;
  std::string first_failure;
  std::vector<double> latencies;
  std::string sample_body;
};

struct Shared {
  const Endpoint* endpoint = nullptr;
  const LoadOptions* options = nullptr;
  const std::vector<std::string>* requests = nullptr;  // full HTTP requests
  std::atomic<size_t> next{0};
  // With open_before_start: each worker counts `opened` down once its
  // connection is open (or failed to open), then waits for `go`.
  std::latch* opened = nullptr;
  std::latch* go = nullptr;
};

// One request on the worker's connection: opens it when needed, and sends
// again once on a new connection when a kept-alive one turns out closed
// before any response byte (the server ended it while idle).
Result<HttpResponse> Exchange(const Shared& sh, Connection& conn, const std::string& request,
                              size_t* used, WorkerResult* out, double* connect_seconds) {
  const bool keep_alive = sh.options->mode == ConnectionMode::kKeepAlive;
  for (int attempt = 0;; ++attempt) {
    if (!conn.is_open()) {
      ++out->connections;
      *used = 0;
      const auto open_start = SteadyClock::now();
      const Status opened = conn.Open(*sh.endpoint);
      *connect_seconds += std::chrono::duration<double>(SteadyClock::now() - open_start).count();
      HOSTCA_RETURN_IF_ERROR(opened);
    }
    Status sent = conn.Send(request);
    Result<HttpResponse> res = sent.ok() ? conn.ReadResponse() : Result<HttpResponse>(sent);
    if (!res.ok()) {
      const bool reused = *used > 0;
      conn.Close(!keep_alive);
      if (keep_alive && reused && attempt == 0 &&
          (res.status().reason() == "closed" || res.status().reason() == "send")) {
        continue;
      }
      return res;
    }
    ++*used;
    if (!keep_alive || res->close) {
      out->server_closes += keep_alive ? 1 : 0;
      conn.Close(!keep_alive);
    }
    return res;
  }
}

void Worker(Shared& sh, WorkerResult* out) {
  Connection conn;
  size_t used = 0;
  if (sh.opened != nullptr) {
    // A connection that fails to open here is opened again, timed, by the
    // first request's Exchange, which counts the failure if it fails again.
    if (conn.Open(*sh.endpoint).ok()) {
      ++out->connections;
      ++out->opened_before_start;
      // As if kept alive from an earlier request: should the server have
      // ended it while the others opened theirs, the first request is sent
      // again once on a new connection.
      used = 1;
    }
    sh.opened->count_down();
    sh.go->wait();
  }
  while (true) {
    const size_t i = sh.next.fetch_add(1);
    if (i >= sh.requests->size()) {
      break;
    }
    ++out->requests;
    const auto start = SteadyClock::now();
    double connect_seconds = 0;
    Result<HttpResponse> res = Exchange(sh, conn, (*sh.requests)[i], &used, out, &connect_seconds);
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count() -
                           (sh.options->include_connect ? 0 : connect_seconds);
    std::string kind, detail;
    if (!res.ok()) {
      kind = res.status().reason().empty() ? "error" : res.status().reason();
      detail = res.status().message();
    } else if (res->status != sh.options->expect_status) {
      kind = "status " + std::to_string(res->status);
      detail = kind + ": " + res->body.substr(0, 300);
    } else if (!sh.options->body_must_contain.empty() &&
               res->body.find(sh.options->body_must_contain) == std::string::npos) {
      kind = "unexpected body";
      detail = "no '" + sh.options->body_must_contain + "' in: " + res->body.substr(0, 300);
    }
    if (!kind.empty()) {
      ++out->failed;
      ++out->failures[kind];
      if (out->first_failure.empty()) {
        out->first_failure = detail;
      }
      continue;
    }
    ++out->ok;
    out->latencies.push_back(seconds);
    if (out->sample_body.empty()) {
      out->sample_body = std::move(res->body);
    }
  }
}

// The server certificate a context's first handshake verified in full.
// Later handshakes that present the same certificate (byte for byte) skip
// X509_verify_cert: the load generator models many hosts but is one process
// on the server's own two cores, and OpenSSL 3.0's chain verification (an
// ECDSA verification and the building of the chain) was a large part of
// its CPU per new connection. The handshake still checks the server's
// CertificateVerify signature, so the server must hold the pinned key.
struct ServerPin {
  std::mutex mu;
  std::string der;  // GUARDED_BY(mu); empty until a full verification passed
};

int VerifyServerPinned(X509_STORE_CTX* store_ctx, void* arg) {
  auto* pin = static_cast<ServerPin*>(arg);
  const Result<std::string> encoded = CertToDer(X509_STORE_CTX_get0_cert(store_ctx));
  if (!encoded.ok()) {
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  const std::string& der = *encoded;
  {
    std::lock_guard<std::mutex> lock(pin->mu);
    if (!pin->der.empty()) {
      if (der == pin->der) {
        return 1;
      }
      X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REJECTED);
      return 0;
    }
  }
  if (X509_verify_cert(store_ctx) != 1) {
    return 0;
  }
  std::lock_guard<std::mutex> lock(pin->mu);
  pin->der = der;
  return 1;
}

void FreeServerPin(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<ServerPin*>(ptr);
}

int ServerPinIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeServerPin);
  return index;
}

}  // namespace

Result<SslCtxPtr> NewTlsClientContext(const std::string& ca_path) {
  ClearOpenSslErrors();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return OpenSslError("SSL_CTX_new");
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_path.c_str(), nullptr) != 1) {
    return OpenSslError("cannot load the CA certificate " + ca_path);
  }
  if (SSL_CTX_set1_groups_list(ctx.get(), "P-256") != 1) {
    return OpenSslError("cannot restrict the key exchange to P-256");
  }
  auto pin = std::make_unique<ServerPin>();
  if (SSL_CTX_set_ex_data(ctx.get(), ServerPinIndex(), pin.get()) != 1) {
    return OpenSslError("cannot attach the server pin");
  }
  SSL_CTX_set_cert_verify_callback(ctx.get(), VerifyServerPinned, pin.release());
  return ctx;
}

Result<HttpResponse> Fetch(const Endpoint& endpoint, const HttpRequest& request) {
  Connection conn;
  HOSTCA_RETURN_IF_ERROR(conn.Open(endpoint));
  HOSTCA_RETURN_IF_ERROR(conn.Send(RequestBytes(endpoint, request, true)));
  return conn.ReadResponse();
}

std::string_view ConnectionModeName(ConnectionMode mode) {
  return mode == ConnectionMode::kKeepAlive ? "keep-alive" : "new-connection";
}

Result<LoadResult> RunLoad(const Endpoint& endpoint, const std::vector<std::string>& bodies,
                           const LoadOptions& options) {
  if (options.connections < 1 || options.path.empty()) {
    return InvalidArgument("RunLoad needs at least one connection and a path");
  }
  std::vector<std::string> requests;
  requests.reserve(bodies.size());
  const bool close = options.mode == ConnectionMode::kNewConnection;
  for (const std::string& body : bodies) {
    HttpRequest req;
    req.method = options.method;
    req.path = options.path;
    if (options.method == "POST") {
      req.headers = {{"Content-Type", "application/json"}};
    }
    req.headers.insert(req.headers.end(), options.headers.begin(), options.headers.end());
    req.body = body;
    requests.push_back(RequestBytes(endpoint, req, close));
  }
  Shared shared;
  shared.endpoint = &endpoint;
  shared.options = &options;
  shared.requests = &requests;
  std::vector<WorkerResult> results(static_cast<size_t>(options.connections));
  std::vector<std::thread> threads;
  const bool open_first = options.open_before_start && options.mode == ConnectionMode::kKeepAlive;
  std::latch opened(options.connections);
  std::latch go(1);
  if (open_first) {
    shared.opened = &opened;
    shared.go = &go;
  }
  if (!open_first && options.at_start) {
    options.at_start();
  }
  double cpu_start = CpuSecondsOfThisProcess();
  auto start = SteadyClock::now();
  for (WorkerResult& r : results) {
    threads.emplace_back([&shared, &r] { Worker(shared, &r); });
  }
  if (open_first) {
    opened.wait();
    if (options.at_start) {
      options.at_start();
    }
    cpu_start = CpuSecondsOfThisProcess();
    start = SteadyClock::now();
    go.count_down();
  }
  for (std::thread& t : threads) {
    t.join();
  }
  LoadResult out;
  out.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  out.client_cpu_seconds = CpuSecondsOfThisProcess() - cpu_start;
  for (WorkerResult& r : results) {
    out.requests += r.requests;
    out.ok += r.ok;
    out.failed += r.failed;
    out.connections_opened += r.connections;
    out.opened_before_start += r.opened_before_start;
    out.server_closes += r.server_closes;
    for (const auto& [kind, n] : r.failures) {
      out.failures[kind] += n;
    }
    if (out.first_failure.empty()) {
      out.first_failure = r.first_failure;
    }
    if (out.sample_body.empty()) {
      out.sample_body = std::move(r.sample_body);
    }
    out.latencies.insert(out.latencies.end(), r.latencies.begin(), r.latencies.end());
  }
  std::sort(out.latencies.begin(), out.latencies.end());
  return out;
}

namespace {
void IgnoreSignal(int) {}
}  // namespace

void ReportBrokenPipesAsErrors() {
  struct sigaction action {};
  action.sa_handler = IgnoreSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGPIPE, &action, nullptr);
}

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  const double rank = std::ceil(q * static_cast<double>(sorted.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace hostca::bench
