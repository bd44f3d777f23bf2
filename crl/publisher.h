// Publisher: keeps the CA's current CRL (DESIGN.md section 6). It publishes
// at start-up, within `coalesce` of a revocation (a burst of revocations
// becomes one CRL), at least every `republish_seconds`, and on demand. The
// CRL number is taken from the store in a durable write before the CRL is
// signed, so it rises with every publish and is never reused, even across a
// crash.
//
// Thread-safe. OnRevoked is cheap (encodes one entry, wakes the thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ca/issuer.h"
#include "common/clock.h"
#include "crl/crl_builder.h"
#include "storage/storage.h"

namespace hostca::crl {

struct CrlOptions {
  int64_t validity_seconds = 7 * 86400;     // nextUpdate = thisUpdate + this
  int64_t republish_seconds = 3600;         // publish at least this often
  std::chrono::milliseconds coalesce{250};  // wait for more revocations before publishing
  std::string output_path;                  // also write the DER here (atomically); empty: don't
  std::string distribution_point;  // URL certificates carry as CDP (issuingDistributionPoint)
};

struct PublishedCrl {
  std::string der;
  // The PEM form, made on the first call and kept with this CRL (thread-
  // safe). Made on request rather than at publishing: at a million entries
  // it is 66 MB beside the DER's 49, and distribution points serve DER
  // (RFC 5280 section 4.2.1.13), so most CRLs are never asked for in PEM.
  const std::string& pem() const;
  uint64_t number = 0;
  int64_t this_update = 0, next_update = 0;
  size_t entries = 0;
  double build_seconds = 0;  // build + sign
  std::string etag;          // "\"<number>\""

 private:
  mutable std::once_flag pem_once_;
  mutable std::string pem_;
};

// Revocations reach the publisher through this interface (enrollment/ calls
// it after the revocation is durable).
class RevocationSink {
 public:
  virtual ~RevocationSink() = default;
  virtual void OnRevoked(const std::vector<storage::CertRecord>& records) = 0;
};

class Publisher final : public RevocationSink {
 public:
  // Loads the revoked, unexpired certificates from the store and publishes
  // the first CRL. Call Start() to run the schedule.
  static Result<std::unique_ptr<Publisher>> Create(const ca::Issuer& issuer,
                                                   storage::Storage& store, const Clock& clock,
                                                   CrlOptions options);
  ~Publisher() override;

  void Start();
  void Stop();

  void OnRevoked(const std::vector<storage::CertRecord>& records) override;
  // Publishes now (on the caller's thread) and returns the new CRL.
  Result<std::shared_ptr<const PublishedCrl>> PublishNow();
  // The current CRL; never null after Create.
  std::shared_ptr<const PublishedCrl> Current() const;

 private:
  Publisher(storage::Storage& store, const Clock& clock, CrlOptions options)
      : store_(store), clock_(clock), options_(std::move(options)) {}
  Status LoadEntries();
  void Loop();
  // PublishNow, or when `only_if_dirty` and nothing was revoked since the
  // last publish (an admin's PublishNow got there first), nothing (nullptr).
  Result<std::shared_ptr<const PublishedCrl>> Publish(bool only_if_dirty);

  storage::Storage& store_;
  const Clock& clock_;
  const CrlOptions options_;
  std::unique_ptr<CrlSigner> signer_;

  std::mutex publish_mu_;  // one publish at a time; guards entries_
  CrlEntrySet entries_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const PublishedCrl> current_;  // GUARDED_BY(mu_)
  bool dirty_ = false;                           // GUARDED_BY(mu_)
  bool stopping_ = false;                        // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace hostca::crl
