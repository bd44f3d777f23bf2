// Where ExternalVerifier's CRLs come from (crl/external_verifier.h):
// CrlDirectory reads a directory of CRL files and re-reads a file only when
// it changed; CdpCache downloads CRLs from distribution points through a
// CrlFetcher and keeps them in memory and, optionally, on disk. Internal to
// crl/.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"
#include "crl/external_verifier.h"

namespace hostca::crl::internal {

inline constexpr char kReasonCrlUnavailable[] = "external_crl_unavailable";

struct X509CrlStackDeleter {
  void operator()(STACK_OF(X509_CRL) * s) const { sk_X509_CRL_pop_free(s, X509_CRL_free); }
};
using X509CrlStackPtr = std::unique_ptr<STACK_OF(X509_CRL), X509CrlStackDeleter>;

// A new reference to `crl` (X509_CRL_up_ref).
X509CrlPtr CopyCrlRef(X509_CRL* crl);

// A CRL and where it came from, for messages ("file /etc/crls/a.pem",
// "http://crl.example.com/int.crl").
struct SourcedCrl {
  X509CrlPtr crl;
  std::string source;
};

// Whether `crl` can be used to check certificates issued by `issuer` at
// `now`: issued under the issuer's name, signed by its key, and
// thisUpdate <= now < nextUpdate (no nextUpdate: never stale).
enum class CrlFit { kGood, kWrongIssuer, kBadSignature, kNotYetValid, kStale };
CrlFit CheckCrl(X509_CRL* crl, X509* issuer, int64_t now);
// "is not signed by the key of 'CN=...'", "is past its nextUpdate (...)", ...
std::string DescribeFit(CrlFit fit, X509_CRL* crl, X509* issuer);
// nextUpdate in unix seconds; INT64_MAX when absent or unparsable.
int64_t NextUpdateOf(X509_CRL* crl);

// The CRLs of every regular file (symbolic links followed) in a directory,
// PEM or DER, any name. Snapshot lists the directory each time and re-reads
// a file only when its inode, size or mtime changed. Files that do not parse
// are skipped with a warning (once per change). Thread-safe.
class CrlDirectory {
 public:
  explicit CrlDirectory(std::string dir) : dir_(std::move(dir)) {}

  struct Snapshot {
    std::vector<SourcedCrl> crls;  // new references
    std::string problem;           // "" or why the directory could not be listed
  };
  Snapshot Take();

  const std::string& dir() const { return dir_; }

 private:
  struct FileState {
    uint64_t inode = 0, size = 0;
    int64_t mtime_ns = 0;
    std::vector<X509CrlPtr> crls;
  };
  const std::string dir_;
  std::mutex mu_;
  std::map<std::string, FileState> files_;  // guarded by mu_; by path
};

// CRLs downloaded from distribution point URLs, cached by URL with the
// clock time of the download. A cached CRL is used until
// fetched_at + refresh_seconds or its nextUpdate, whichever comes first;
// then it is downloaded again, by one thread (others wait for it or use the
// still valid copy). When a download fails, a cached CRL that is not past
// its nextUpdate is still used (a failure is counted); a URL is not tried
// again within kRetrySeconds (capped at refresh_seconds) of a failure.
// Downloads run without the lock held. With a cache_dir, each download is
// written there atomically (0600) as <hex SHA-256 of the URL>.crl and read
// back on the URL's first use after a restart. Thread-safe.
class CdpCache {
 public:
  static constexpr int64_t kRetrySeconds = 60;

  CdpCache(CrlFetcher& fetcher, std::string cache_dir, int64_t refresh_seconds)
      : fetcher_(fetcher), cache_dir_(std::move(cache_dir)), refresh_seconds_(refresh_seconds) {}

  // A CRL from `url` that CheckCrl accepts for `issuer` at `now`, or
  // unavailable "external_crl_unavailable" saying what went wrong.
  Result<X509CrlPtr> Get(const std::string& url, X509* issuer, int64_t now);

  uint64_t downloads() const { return downloads_.load(); }
  uint64_t failures() const { return failures_.load(); }
  uint64_t hits() const { return hits_.load(); }

 private:
  struct Entry {
    X509CrlPtr crl;  // null: nothing cached
    int64_t fetched_at = 0;
    int64_t next_update = 0;
    bool disk_checked = false;
    bool fetching = false;
    bool attempted = false;
    int64_t last_attempt = 0;
    std::string last_error;  // of the last failed attempt
  };

  void LoadFromDisk(const std::string& url, Entry* entry);  // mu_ held
  void SaveToDisk(const std::string& url, int64_t fetched_at, X509_CRL* crl);
  // Downloads, parses and checks; no lock held.
  Result<X509CrlPtr> Download(const std::string& url, X509* issuer, int64_t now);
  std::string CachePath(const std::string& url) const;

  CrlFetcher& fetcher_;
  const std::string cache_dir_;
  const int64_t refresh_seconds_;
  std::mutex mu_;
  std::condition_variable fetched_;       // a download finished
  std::map<std::string, Entry> entries_;  // guarded by mu_; by URL
  std::atomic<uint64_t> downloads_{0}, failures_{0}, hits_{0};
};

}  // namespace hostca::crl::internal
