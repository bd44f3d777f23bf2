#include "crl/publisher.h"

#include <spdlog/spdlog.h>

#include "common/file.h"
#include "common/pem.h"

namespace hostca::crl {
namespace {

constexpr char kMetaCrlNumber[] = "crl_number";

CrlEntry EntryOf(const storage::CertRecord& r) {
  return CrlEntry{r.serial, r.revoked_at, r.revocation_reason < 0 ? 0 : r.revocation_reason,
                  r.not_after};
}

}  // namespace

const std::string& PublishedCrl::pem() const {
  std::call_once(pem_once_, [this] { pem_ = DerToPem(der, "X509 CRL"); });
  return pem_;
}

Result<std::unique_ptr<Publisher>> Publisher::Create(const ca::Issuer& issuer,
                                                     storage::Storage& store, const Clock& clock,
                                                     CrlOptions options) {
  std::unique_ptr<Publisher> p(new Publisher(store, clock, std::move(options)));
  HOSTCA_ASSIGN_OR_RETURN(p->signer_, CrlSigner::Create(issuer, p->options_.distribution_point));
  HOSTCA_RETURN_IF_ERROR(p->LoadEntries());
  HOSTCA_RETURN_IF_ERROR(p->PublishNow().status());
  return p;
}

Publisher::~Publisher() { Stop(); }

Status Publisher::LoadEntries() {
  const int64_t now = clock_.NowSeconds();
  std::lock_guard<std::mutex> lock(publish_mu_);
  return entries_.Load([&](const CrlEntrySet::AddEntry& add) {
    return store_.View([&](storage::ReadTxn& txn) {
      return txn.ForEachCertWithStatus(storage::CertStatus::kRevoked,
                                       storage::CertRead::kRevocation,
                                       [&](const storage::CertRecord& r) {
                                         if (r.not_after >= now) {
                                           add(EntryOf(r));
                                         }
                                         return true;
                                       });
    });
  });
}

void Publisher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!thread_.joinable() && !stopping_) {
    thread_ = std::thread([this] { Loop(); });
  }
}

void Publisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Publisher::OnRevoked(const std::vector<storage::CertRecord>& records) {
  {
    std::lock_guard<std::mutex> lock(publish_mu_);
    for (const auto& r : records) {
      entries_.Put(EntryOf(r));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

std::shared_ptr<const PublishedCrl> Publisher::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Result<std::shared_ptr<const PublishedCrl>> Publisher::PublishNow() { return Publish(false); }

Result<std::shared_ptr<const PublishedCrl>> Publisher::Publish(bool only_if_dirty) {
  std::lock_guard<std::mutex> publish(publish_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (only_if_dirty && !dirty_) {
      return std::shared_ptr<const PublishedCrl>();
    }
    dirty_ = false;  // everything revoked so far is in entries_
  }
  const int64_t now = clock_.NowSeconds();
  uint64_t number = 0;
  // The number is durable before the CRL exists: never reused after a crash.
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    number = 1;
    if (auto last = txn.GetMeta(kMetaCrlNumber); last.ok()) {
      number = std::stoull(*last) + 1;
    }
    return txn.PutMeta(kMetaCrlNumber, std::to_string(number));
  }));
  const auto start = std::chrono::steady_clock::now();
  entries_.DropExpired(now);
  auto crl = std::make_shared<PublishedCrl>();
  HOSTCA_ASSIGN_OR_RETURN(crl->der,
                          signer_->Sign(entries_, number, now, now + options_.validity_seconds));
  crl->build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  crl->number = number;
  crl->this_update = now;
  crl->next_update = now + options_.validity_seconds;
  crl->entries = entries_.size();
  crl->etag = std::string(1, '"').append(std::to_string(number)).append(1, '"');
  if (!options_.output_path.empty()) {
    if (Status st = WriteFileAtomic(options_.output_path, crl->der, 0644); !st.ok()) {
      spdlog::warn("cannot write {}: {}", options_.output_path, st.ToString());
    }
  }
  spdlog::info("published CRL number={} entries={} bytes={} build={:.3f}s", number, crl->entries,
               crl->der.size(), crl->build_seconds);
  std::shared_ptr<const PublishedCrl> out = crl;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = out;
  }
  return out;
}

void Publisher::Loop() {
  auto next_periodic =
      std::chrono::steady_clock::now() + std::chrono::seconds(options_.republish_seconds);
  while (true) {
    bool periodic = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, next_periodic, [this] { return dirty_ || stopping_; });
      if (stopping_) {
        return;
      }
      periodic = std::chrono::steady_clock::now() >= next_periodic;
      if (dirty_) {
        // Coalesce a burst: wait a moment for more revocations.
        cv_.wait_for(lock, options_.coalesce, [this] { return stopping_; });
        if (stopping_) {
          return;
        }
      } else if (std::chrono::steady_clock::now() < next_periodic) {
        continue;
      }
    }
    // A burst that an explicit PublishNow already covered needs no CRL of
    // its own: each CRL number stands for a change (or the periodic refresh).
    auto published = Publish(/*only_if_dirty=*/!periodic);
    if (!published.ok()) {
      spdlog::error("CRL publish failed: {}", published.status().ToString());
      // Retry soon rather than waiting a whole period.
      next_periodic = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      continue;
    }
    if (*published != nullptr) {
      next_periodic =
          std::chrono::steady_clock::now() + std::chrono::seconds(options_.republish_seconds);
    }
  }
}

}  // namespace hostca::crl
