// The load generator of issuance_bench (bench/README.md): HTTP/1.1 written
// by hand over plain TCP or over TLS with OpenSSL, one blocking connection
// per worker thread. Keep-alive mode reuses a worker's connection (and opens
// a new one when the server closes it); new-connection mode connects, does a
// full TLS handshake, sends one request with `Connection: close` and closes.
// Failed requests are counted, never fatal. Thread safety: RunLoad starts and
// joins its own threads; an Endpoint is read-only while in use.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"

namespace hostca::bench {

// Where requests go. `tls` null: plain HTTP.
struct Endpoint {
  std::string address = "127.0.0.1";
  int port = 0;
  SSL_CTX* tls = nullptr;
  std::string host = "localhost";    // Host header, SNI and the name the certificate must hold
  std::chrono::seconds timeout{30};  // per send or receive; expired: the request failed
};

// A TLS client context that trusts only the CA certificate in `ca_path`
// (PEM), verifies the server's name, and offers only the P-256 group (the
// key exchange the signature limit counts). No session resumption. The
// first server certificate that passes verification is pinned: later
// handshakes accept that certificate, byte for byte, without building and
// checking its chain again, and refuse any other.
Result<SslCtxPtr> NewTlsClientContext(const std::string& ca_path);

struct HttpRequest {
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  bool close = false;  // the server ends the connection after this response
};

// One request on a fresh connection. unavailable when the connection, the
// handshake or the exchange fails; any HTTP status is a response.
Result<HttpResponse> Fetch(const Endpoint& endpoint, const HttpRequest& request);

enum class ConnectionMode { kKeepAlive, kNewConnection };
std::string_view ConnectionModeName(ConnectionMode mode);  // "keep-alive", "new-connection"

struct LoadOptions {
  int connections = 1;  // worker threads, one connection each
  ConnectionMode mode = ConnectionMode::kKeepAlive;
  std::string method = "POST";  // POST bodies go as Content-Type: application/json
  std::string path;             // of every request
  std::vector<std::pair<std::string, std::string>> headers;  // added to every request
  int expect_status = 200;                                   // anything else is a failed request
  std::string body_must_contain;  // and so is a body without it ("" = no check)
  // false: a request's latency leaves out opening its connection (TCP connect
  // and TLS handshake), to time what the server does on a kept-alive one.
  bool include_connect = true;
  // Keep-alive only: every worker opens its connection (TCP and TLS
  // handshake) before the clock starts, and `at_start` runs then, once, in
  // the calling thread (e.g. to read the server's CPU). The run's seconds and
  // client CPU cover the requests over those connections, and the
  // reconnections when the server ends one. false: the first handshakes are
  // in the run, as a fixed cost spread over its requests (at 64 connections
  // and 1000 requests, a fifth of the machine's CPU during the run).
  bool open_before_start = true;
  std::function<void()> at_start;
};

struct LoadResult {
  size_t requests = 0;  // sent or attempted
  size_t ok = 0;
  size_t failed = 0;
  std::map<std::string, size_t> failures;  // "status 403", "connect", "tls handshake", ...
  std::string first_failure;               // its detail (status line and body), for the log
  double seconds = 0;              // wall time from the start (see open_before_start) to the last
  std::vector<double> latencies;   // seconds per successful request, sorted
  size_t connections_opened = 0;   // TCP connections (TLS handshakes with TLS), timed or not
  size_t opened_before_start = 0;  // of which before the clock (open_before_start)
  size_t server_closes = 0;        // keep-alive connections the server ended
  std::string sample_body;         // the body of one successful response
  double client_cpu_seconds = 0;   // user + system CPU of this process during the run
};

// Sends one request (`options.method`, a POST by default) per element of
// `bodies` (empty for a GET), spread over `options.connections`
// workers that take the next body as soon as they are free. Errors only when
// the load cannot run at all (bad options); failed requests are in the result.
Result<LoadResult> RunLoad(const Endpoint& endpoint, const std::vector<std::string>& bodies,
                           const LoadOptions& options);

// Makes a write to a connection the server closed fail with EPIPE (a failed
// request) instead of ending the benchmark with SIGPIPE: a no-op handler,
// not SIG_IGN, so the programs the benchmark starts get the default back at
// exec. For a benchmark's main, before any load.
void ReportBrokenPipesAsErrors();

// The `q`-quantile (0..1) of sorted `values` (nearest rank); 0 when empty.
double Quantile(const std::vector<double>& sorted, double q);

}  // namespace hostca::bench
