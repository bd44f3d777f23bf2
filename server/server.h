// Server: the `hostca-server serve` process. Owns the CA (ca::Issuer), the
// store, the HTTPS API listener and the plain-HTTP listener for the CA
// certificate and the CRL.
//
// Life cycle: Create (loads and checks everything; refuses a bad data
// directory with a clear message) -> Bind (binds both listeners; port 0 picks
// a free one, the log says which) -> Run (blocks until Stop) -> Stop (from any
// thread: stops accepting, drains requests in flight, closes the store).
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ca/issuer.h"
#include "common/clock.h"
#include "common/status.h"
#include "crl/external_verifier.h"
#include "crl/publisher.h"
#include "enrollment/admin.h"
#include "enrollment/domain_mode.h"
#include "enrollment/external.h"
#include "enrollment/rate_limiter.h"
#include "enrollment/resolver.h"
#include "enrollment/service.h"
#include "server/api.h"
#include "server/backup_schedule.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/tls_select.h"
#include "server/worker_pool.h"
#include "storage/storage.h"

namespace hostca::server {

// Whole-request deadlines for the HTTPS listener (server.cpp).
class RequestDeadlines;
class PlainConnections;
class WakingStorage;

// Reads the whole store in `db_dir` (storage::CheckLmdbStore), beside a
// running server. A data.mdb cut short or with damaged pages ends the
// process with exit code 1 and a message naming the store.
Result<storage::StoreCheck> CheckStore(const std::string& db_dir);

class Server {
 public:
  // Test hook: receives the store once it is opened and checked, and
  // returns the store the server uses, typically a
  // storage::FaultInjectingStorage that owns the one it was given (tests
  // keep a raw pointer to it, valid while the Server lives). Production
  // passes none.
  using StoreWrapper =
      std::function<std::unique_ptr<storage::Storage>(std::unique_ptr<storage::Storage>)>;

  // `resolver` (for the medium level's DNS check) may be null: the system
  // resolver is used. Tests pass a FakeClock and a StaticResolver, and may
  // wrap the store (`wrap_store`, above).
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& options, const Clock& clock,
                                                enrollment::Resolver* resolver = nullptr,
                                                StoreWrapper wrap_store = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status Bind();
  int https_port() const { return https_port_; }
  int http_port() const { return http_port_; }
  // Serves until Stop. Returns an error if a listener failed.
  Status Run();
  // Thread-safe and idempotent.
  void Stop();

 private:
  Server(const ServerOptions& options, const Clock& clock);
  Status Load();
  // The [external] configuration: the verifier and the listener's external
  // identity; nothing when no trust bundle is configured.
  Status LoadExternal(const std::string& data_dir);
  void RegisterRoutes();
  // `listen_fd` receives the listening socket when the listener binds.
  // `threads`: the most connections the listener serves at once.
  // `plain`: the plain-HTTP listener's connection finder (null for HTTPS).
  void ConfigureCommon(httplib::Server& srv, const char* listener, int* listen_fd, size_t threads,
                       const RequestDeadlines* deadlines, PlainConnections* plain);
  void HandleGetCa(const httplib::Request& req, httplib::Response& res);
  void HandleHealth(const httplib::Request& req, httplib::Response& res);
  void HandleMetrics(const httplib::Request& req, httplib::Response& res);
  void HandleCrl(const httplib::Request& req, httplib::Response& res);
  Status StartServices();
  void TidyLoop();
  void BackupLoop();
  Status LoadBackupSchedule();
  Status WriteScheduledBackup(const std::string& path, int64_t now);

  ServerOptions options_;
  const Clock& clock_;
  StoreWrapper wrap_store_;  // test hook, usually empty
  std::unique_ptr<ca::Issuer> issuer_;
  std::unique_ptr<storage::Storage> store_;
  std::string ca_der_;  // kept encoded: /ca.crt and /v1/ca never re-encode
  std::string ca_pem_;
  enrollment::SystemResolver system_resolver_;
  enrollment::Resolver* resolver_ = nullptr;
  Metrics metrics_;
  std::unique_ptr<crl::Publisher> publisher_;
  std::unique_ptr<enrollment::FailureRateLimiter> limiter_;
  std::unique_ptr<enrollment::EnrollmentService> enroll_;
  std::unique_ptr<enrollment::AdminService> admin_;
  std::unique_ptr<enrollment::ModeState> mode_;
  std::unique_ptr<crl::ExternalVerifier> external_verifier_;  // null: external off
  std::unique_ptr<enrollment::ExternalEnrollment> external_;  // null: external off
  std::unique_ptr<CertSelector> certs_;                       // the listener's identities
  std::unique_ptr<ApiContext> api_;
  // Declared before the listeners: their connections refer to them. Each
  // listener has its watchdog (server.max_idle_connections is per listener).
  std::unique_ptr<RequestDeadlines> deadlines_;        // HTTPS
  std::unique_ptr<RequestDeadlines> plain_deadlines_;  // plain HTTP
  std::unique_ptr<PlainConnections> plain_conns_;      // finds its sockets
  std::unique_ptr<httplib::SSLServer> https_;
  std::unique_ptr<httplib::Server> http_;
  // Each listener's worker pool and watchdog, for /metrics (set before the
  // listeners run).
  struct ListenerStats {
    std::string name;
    std::shared_ptr<WorkerPoolStats> pool;
    const RequestDeadlines* deadlines = nullptr;
    const PlainConnections* plain = nullptr;  // plain HTTP only
  };
  std::vector<ListenerStats> listeners_;
  int https_port_ = 0;
  int http_port_ = 0;
  int https_listen_fd_ = -1;  // owned by https_; only to raise its backlog
  int http_listen_fd_ = -1;
  // Stops `srv` once, if its accept loop runs: cpp-httplib's stop() does
  // nothing to a loop that has not started, and asserts if called again
  // while the loop still runs. Stop and Run call it.
  void StopListener(httplib::Server& srv, bool* sent);
  std::mutex listeners_mu_;
  bool https_stop_sent_ = false;  // GUARDED_BY(listeners_mu_)
  bool http_stop_sent_ = false;   // GUARDED_BY(listeners_mu_)
  std::atomic<bool> stopped_{false};
  std::mutex tidy_mu_;
  std::condition_variable tidy_cv_;
  std::thread tidy_thread_;
  WakingStorage* waking_ = nullptr;  // store_ itself: wakes the idle tidy thread
  // Scheduled backups ([backup]); null when off. Their thread waits on
  // tidy_mu_/tidy_cv_ too, so Stop wakes both.
  std::string backup_passphrase_;
  std::unique_ptr<BackupScheduler> backup_scheduler_;
  std::thread backup_thread_;
};

}  // namespace hostca::server
