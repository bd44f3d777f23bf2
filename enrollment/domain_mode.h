// The domain's mode (DESIGN.md section 7): internal (default), mixed or
// external. Kept in the store's meta table; ModeState holds the current value
// in memory so every request and every TLS handshake reads it without a
// transaction. AdminService::SetMode writes the store first, then ModeState.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/storage.h"

namespace hostca::enrollment {

enum class DomainMode { kInternal = 0, kMixed = 1, kExternal = 2 };

// "internal" | "mixed" | "external"; invalid_argument "bad_mode" otherwise.
Result<DomainMode> ParseDomainMode(std::string_view name);
const char* DomainModeName(DomainMode mode);

class ModeState {
 public:
  explicit ModeState(DomainMode initial = DomainMode::kInternal) : mode_(initial) {}
  DomainMode Get() const { return mode_.load(std::memory_order_acquire); }
  void Set(DomainMode mode) { mode_.store(mode, std::memory_order_release); }

 private:
  std::atomic<DomainMode> mode_;
};

// What the server has configured for external certificates; AdminService
// refuses mode switches the configuration cannot carry.
struct ExternalCapabilities {
  bool trust_bundle = false;  // [external] trust_bundle: external client certificates
  bool server_cert = false;   // [external] server_cert: the listener's external identity
};

// The meta key counting stored external certificate records: a switch to
// external mode needs at least one, and counting keeps the check O(1) at ten
// million records. Every insert or delete of an external record adjusts it
// in the same transaction.
inline constexpr char kMetaExternalCerts[] = "external_certs";
Status AdjustExternalCount(storage::WriteTxn& txn, int delta);
Result<int64_t> ExternalCertCount(storage::ReadTxn& txn);

}  // namespace hostca::enrollment
