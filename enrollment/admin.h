// AdminService: what administrators do (DESIGN.md section 8 admin rows):
// tokens, hosts, mappings, reissue windows, revocation, inventory, security
// level, mode and the audit log. Every change is written to the audit log in
// the same transaction. Authentication happens before (AdminService trusts
// its caller); `actor` names who acted, for the audit log.
//
// Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crl/publisher.h"
#include "enrollment/domain_mode.h"
#include "enrollment/security_level.h"
#include "enrollment/tokens.h"
#include "storage/storage.h"

namespace hostca::enrollment {

struct CertFilter {
  std::string status;          // "", "valid", "revoked", "expired"
  std::string host;            // host ID or name; "" = any
  std::string name;            // DNS name in the certificate; "" = any
  int64_t expires_before = 0;  // 0 = any
  size_t limit = 1000;
};

struct HostView {
  storage::HostRecord host;
  std::vector<storage::CertRecord> certs;
};

class AdminService {
 public:
  AdminService(storage::Storage& store, const Clock& clock,
               crl::RevocationSink* revocations = nullptr)
      : store_(store), clock_(clock), revocations_(revocations) {}

  // The mode the server keeps in memory (SetMode updates it) and what its
  // configuration can carry. Without it, only internal mode is possible.
  void ConfigureModes(ModeState* mode, ExternalCapabilities caps) {
    mode_ = mode;
    caps_ = caps;
  }

  // Constant-time check of a bearer token against the stored hash.
  // unauthenticated "admin_unauthenticated" when it does not match.
  Status CheckAdminToken(const std::string& presented) const;

  Result<CreatedToken> CreateToken(const TokenSpec& spec, const std::string& actor);
  Result<std::vector<storage::TokenRecord>> ListTokens() const;
  Status DeleteToken(const std::string& name, const std::string& actor);
  Result<int> CleanupTokens(const std::string& actor);

  Result<std::string> AddHost(const std::string& hostname, const std::vector<std::string>& aliases,
                              const std::string& actor);
  Result<std::vector<storage::HostRecord>> ListHosts() const;
  Result<HostView> GetHost(const std::string& id_or_name) const;
  Status AllowReissue(const std::string& id_or_name, int64_t seconds, const std::string& actor);
  Result<int> RevokeHost(const std::string& id_or_name, int reason, const std::string& actor);

  Result<std::vector<storage::MappingRecord>> ListMappings() const;
  Status ApproveMapping(const std::string& id, const std::string& actor);
  Status RejectMapping(const std::string& id, const std::string& actor);

  Result<std::vector<storage::CertRecord>> ListCerts(const CertFilter& filter) const;
  Result<storage::CertRecord> GetCert(const std::string& serial_hex) const;
  Status RevokeCert(const std::string& serial_hex, int reason, const std::string& actor);

  Result<SecurityLevel> GetLevel() const;
  Status SetLevel(SecurityLevel level, const std::string& actor);
  Result<std::string> GetMode() const;
  // Errors: bad_mode (400); external_not_configured (409: no trust bundle),
  // external_server_cert_missing (409: external mode without the server's
  // external certificate), no_external_hosts (409: external mode before any
  // host enrolled an external certificate).
  Status SetMode(const std::string& mode, const std::string& actor);

  Result<std::vector<storage::AuditEntry>> ReadAudit(uint64_t from_seq, size_t limit) const;

 private:
  Result<storage::HostRecord> FindHost(storage::ReadTxn& txn, const std::string& id_or_name) const;

  void Announce(const std::vector<storage::CertRecord>& revoked) const {
    if (revocations_ != nullptr && !revoked.empty()) {
      revocations_->OnRevoked(revoked);
    }
  }

  storage::Storage& store_;
  const Clock& clock_;
  crl::RevocationSink* revocations_;  // may be null
  ModeState* mode_ = nullptr;
  ExternalCapabilities caps_;
  std::mutex mode_mu_;  // one mode switch at a time: store and memory agree
};

}  // namespace hostca::enrollment
