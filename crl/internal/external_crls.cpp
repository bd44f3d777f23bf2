#include "crl/internal/external_crls.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "crl/internal/external_parse.h"

namespace hostca::crl::internal {
namespace {

// Files in a CRL directory larger than this are skipped (as downloads over
// NewHttpCrlFetcher's default max_bytes are refused).
constexpr uint64_t kMaxCrlFileBytes = 64u << 20;

Status CrlUnavailable(std::string message) {
  return Unavailable(std::move(message), kReasonCrlUnavailable);
}

}  // namespace

X509CrlPtr CopyCrlRef(X509_CRL* crl) {
  if (crl != nullptr) {
    X509_CRL_up_ref(crl);
  }
  return X509CrlPtr(crl);
}

int64_t NextUpdateOf(X509_CRL* crl) {
  int64_t next = 0;
  const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl);
  return t != nullptr && AsnTimeToUnix(t, &next) ? next : INT64_MAX;
}

CrlFit CheckCrl(X509_CRL* crl, X509* issuer, int64_t now) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
    return CrlFit::kWrongIssuer;
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  if (key == nullptr || X509_CRL_verify(crl, key) != 1) {
    ClearOpenSslErrors();
    return CrlFit::kBadSignature;
  }
  int64_t this_update = 0;
  if (!AsnTimeToUnix(X509_CRL_get0_lastUpdate(crl), &this_update) || this_update > now) {
    return CrlFit::kNotYetValid;
  }
  return NextUpdateOf(crl) <= now ? CrlFit::kStale : CrlFit::kGood;
}

std::string DescribeFit(CrlFit fit, X509_CRL* crl, X509* issuer) {
  const std::string issuer_dn = NameToString(X509_get_subject_name(issuer));
  switch (fit) {
    case CrlFit::kGood:
      return "is usable";
    case CrlFit::kWrongIssuer:
      return "is issued by '" + NameToString(X509_CRL_get_issuer(crl)) + "', not by '" + issuer_dn +
             "'";
    case CrlFit::kBadSignature:
      return "is not signed by the key of '" + issuer_dn + "'";
    case CrlFit::kNotYetValid: {
      int64_t t = 0;
      return AsnTimeToUnix(X509_CRL_get0_lastUpdate(crl), &t)
                 ? "is not valid before its thisUpdate " + FormatRfc3339(t)
                 : "has an unreadable thisUpdate";
    }
    case CrlFit::kStale:
      return "is stale: its nextUpdate " + FormatRfc3339(NextUpdateOf(crl)) + " has passed";
  }
  return "is unusable";
}

CrlDirectory::Snapshot CrlDirectory::Take() {
  Snapshot snap;
  std::map<std::string, struct stat> present;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) {
    snap.problem = "cannot list crl_dir '" + dir_ + "': " + ec.message();
  }
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      present.emplace(path, st);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(files_, [&](const auto& kv) { return present.count(kv.first) == 0; });
  for (const auto& [path, st] : present) {
    const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    const auto size = static_cast<uint64_t>(st.st_size);
    auto [file, added] = files_.try_emplace(path);
    FileState& f = file->second;
    if (added || f.inode != st.st_ino || f.size != size || f.mtime_ns != mtime_ns) {
      f.inode = st.st_ino;
      f.size = size;
      f.mtime_ns = mtime_ns;
      f.crls.clear();
      Result<std::string> data = size > kMaxCrlFileBytes
                                     ? Result<std::string>(InvalidArgument("larger than 64 MiB"))
                                     : ReadFile(path);
      auto crls = data.ok() ? ParseCrls(*data) : Result<std::vector<X509CrlPtr>>(data.status());
      if (crls.ok()) {
        f.crls = std::move(*crls);
      } else {
        spdlog::warn("crl_dir: skipping {}: {}", path, crls.status().message());
      }
    }
    for (const X509CrlPtr& crl : f.crls) {
      snap.crls.push_back({CopyCrlRef(crl.get()), "file " + path});
    }
  }
  return snap;
}

std::string CdpCache::CachePath(const std::string& url) const {
  return cache_dir_ + "/" + HexEncode(Sha256(url)) + ".crl";
}

void CdpCache::LoadFromDisk(const std::string& url, Entry* entry) {
  const std::string path = CachePath(url);
  if (!FileExists(path)) {
    return;
  }
  auto data = ReadFile(path);
  auto decoded = data.ok() ? DecodeCacheEntry(*data) : Result<CacheEntry>(data.status());
  Status st = decoded.status();
  if (decoded.ok() && decoded->url != url) {
    st = InvalidArgument("it holds the CRL of another URL");
  }
  if (st.ok()) {
    auto crls = ParseCrls(decoded->body);
    if (crls.ok()) {
      entry->crl = std::move(crls->front());
      entry->fetched_at = decoded->fetched_at;
      entry->next_update = NextUpdateOf(entry->crl.get());
      return;
    }
    st = crls.status();
  }
  spdlog::warn("CRL cache: ignoring {} (for {}): {}", path, url, st.message());
}

void CdpCache::SaveToDisk(const std::string& url, int64_t fetched_at, X509_CRL* crl) {
  if (cache_dir_.empty()) {
    return;
  }
  auto der = CrlToDer(crl);
  Status st = der.ok()
                  ? WriteFileAtomic(CachePath(url), EncodeCacheEntry(url, fetched_at, *der), 0600)
                  : der.status();
  if (!st.ok()) {
    spdlog::warn("CRL cache: cannot save the CRL of {}: {}", url, st.message());
  }
}

Result<X509CrlPtr> CdpCache::Download(const std::string& url, X509* issuer, int64_t now) {
  auto body = fetcher_.Fetch(url);
  if (!body.ok()) {
    return CrlUnavailable(body.status().message());
  }
  auto crls = ParseCrls(*body);
  if (!crls.ok()) {
    return CrlUnavailable("what " + url + " served is not a CRL: " + crls.status().message());
  }
  std::string why;
  for (X509CrlPtr& crl : *crls) {
    const CrlFit fit = CheckCrl(crl.get(), issuer, now);
    if (fit == CrlFit::kGood) {
      return std::move(crl);
    }
    if (why.empty()) {
      why = DescribeFit(fit, crl.get(), issuer);
    }
  }
  return CrlUnavailable("the CRL downloaded from " + url + " " + why);
}

Result<X509CrlPtr> CdpCache::Get(const std::string& url, X509* issuer, int64_t now) {
  const auto checked = [&](X509CrlPtr crl) -> Result<X509CrlPtr> {
    const CrlFit fit = CheckCrl(crl.get(), issuer, now);
    if (fit != CrlFit::kGood) {
      return CrlUnavailable("the cached CRL from " + url + " " +
                            DescribeFit(fit, crl.get(), issuer));
    }
    return crl;
  };
  const int64_t retry = std::min(kRetrySeconds, refresh_seconds_);
  std::unique_lock<std::mutex> lock(mu_);
  Entry& e = entries_[url];  // never erased: the reference stays valid unlocked
  if (!e.disk_checked) {
    e.disk_checked = true;
    if (!cache_dir_.empty()) {
      LoadFromDisk(url, &e);
    }
  }
  while (true) {
    const bool usable = e.crl && now < e.next_update;
    if (usable && (now - e.fetched_at < refresh_seconds_ || e.fetching)) {
      // Fresh, or about to be refreshed by another thread: use it meanwhile.
      hits_++;
      X509CrlPtr crl = CopyCrlRef(e.crl.get());
      lock.unlock();
      return checked(std::move(crl));
    }
    if (e.fetching) {
      fetched_.wait(lock);
      continue;
    }
    if (e.attempted && !e.last_error.empty() && now >= e.last_attempt &&
        now - e.last_attempt < retry) {
      // Failed moments ago: do not hammer the distribution point.
      if (usable) {
        hits_++;
        X509CrlPtr crl = CopyCrlRef(e.crl.get());
        lock.unlock();
        return checked(std::move(crl));
      }
      return CrlUnavailable(e.last_error + " (retried from " +
                            FormatRfc3339(e.last_attempt + retry) + ")");
    }
    break;
  }
  e.fetching = true;
  e.attempted = true;
  e.last_attempt = now;
  lock.unlock();
  auto downloaded = Download(url, issuer, now);  // no lock held
  if (downloaded.ok()) {
    SaveToDisk(url, now, downloaded->get());
  }
  lock.lock();
  e.fetching = false;
  X509CrlPtr fallback;
  if (downloaded.ok()) {
    e.crl = CopyCrlRef(downloaded->get());
    e.fetched_at = now;
    e.next_update = NextUpdateOf(e.crl.get());
    e.last_error.clear();
    downloads_++;
  } else {
    failures_++;
    e.last_error = downloaded.status().message();
    if (e.crl && now < e.next_update) {
      fallback = CopyCrlRef(e.crl.get());
    }
  }
  const bool had_stale = e.crl && !fallback && !downloaded.ok();
  lock.unlock();
  fetched_.notify_all();
  if (downloaded.ok()) {
    return downloaded;
  }
  if (fallback) {
    spdlog::warn("CRL download failed, using the cached CRL until its nextUpdate: {}",
                 downloaded.status().message());
    return checked(std::move(fallback));
  }
  spdlog::warn("CRL download failed: {}", downloaded.status().message());
  return CrlUnavailable(downloaded.status().message() +
                        (had_stale ? "; the cached copy is past its nextUpdate" : ""));
}

}  // namespace hostca::crl::internal
