#include "enrollment/service.h"

#include <algorithm>

#include "common/pem.h"
#include "enrollment/mappings.h"
#include "enrollment/names.h"
#include "enrollment/tokens.h"

namespace hostca::enrollment {
namespace {

constexpr int kReasonSuperseded = 4;

constexpr const char* kReasonNames[] = {
    "unspecified",   "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",    "cessationOfOperation", "certificateHold", "",
    "removeFromCRL", "privilegeWithdrawn",   "aACompromise"};

bool IsValidAt(const storage::CertRecord& rec, int64_t now) {
  return rec.status == storage::CertStatus::kValid && rec.not_after > now;
}

// External records (enrollment/external.h) sit beside the host's own
// certificates; issuance decisions only look at what this CA issued.
void DropExternal(std::vector<storage::CertRecord>* certs) {
  std::erase_if(*certs, [](const storage::CertRecord& c) { return c.source == "external"; });
}

Status RefuseInExternalMode(const ModeState* mode, const char* what) {
  if (mode != nullptr && mode->Get() == DomainMode::kExternal) {
    return Conflict(std::string("the domain is in external mode: hostca ") + what +
                        " no certificates; hosts enroll their external certificate "
                        "(hostca external enroll)",
                    "external_mode");
  }
  return Status::Ok();
}

Status RefuseExternalCert(const ClientIdentity& who, const char* what) {
  if (who.record.source == "external") {
    return Conflict(std::string("the presented certificate was signed by an external CA: ") + what +
                        " it at that CA",
                    "external_cert");
  }
  return Status::Ok();
}

std::vector<std::string> HostNames(const storage::HostRecord& host) {
  std::vector<std::string> names = {host.primary_name};
  for (const std::string& a : host.aliases) {
    if (std::find(names.begin(), names.end(), a) == names.end()) {
      names.push_back(a);
    }
  }
  return names;
}

}  // namespace

struct EnrollmentService::Decision {
  enum class Kind { kNewHost, kFirst, kReissue, kRenew };
  Kind kind = Kind::kNewHost;
  storage::HostRecord host;
  std::string token_hash;      // empty: no token
  std::string renewed_serial;  // kRenew: the presented certificate
};

Result<int> ParseRevocationReason(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(kReasonNames)); ++i) {
    if (name == kReasonNames[i] && kReasonNames[i][0] != '\0') {
      return i;
    }
  }
  return InvalidArgument("unknown revocation reason '" + std::string(name) +
                             "' (RFC 5280 names: keyCompromise, superseded, ...)",
                         "bad_reason");
}

std::string RevocationReasonName(int code) {
  if (code < 0 || code >= static_cast<int>(std::size(kReasonNames))) {
    return "unspecified";
  }
  return kReasonNames[code];
}

std::string CertStatusAt(const storage::CertRecord& rec, int64_t now) {
  if (rec.status == storage::CertStatus::kRevoked) {
    return "revoked";
  }
  return rec.not_after <= now ? "expired" : "valid";
}

EnrollmentService::EnrollmentService(const ca::Issuer& issuer, storage::Storage& store,
                                     const Clock& clock, Resolver& resolver,
                                     FailureRateLimiter& limiter, EnrollmentOptions options,
                                     crl::RevocationSink* revocations, const ModeState* mode)
    : issuer_(issuer),
      store_(store),
      clock_(clock),
      resolver_(resolver),
      limiter_(limiter),
      options_(std::move(options)),
      revocations_(revocations),
      mode_(mode),
      trust_(X509_STORE_new()) {
  X509_STORE_add_cert(trust_.get(), issuer_.ca_cert());
  for (const std::string& pem : issuer_.chain_pem()) {
    if (auto c = CertFromPem(pem); c.ok()) {
      X509_STORE_add_cert(trust_.get(), c->get());
      chain_.push_back(std::move(*c));
    }
  }
}

SecurityLevel EnrollmentService::CurrentLevel() const {
  SecurityLevel level = kDefaultSecurityLevel;
  store_
      .View([&](storage::ReadTxn& txn) -> Status {
        if (auto name = txn.GetMeta("security_level"); name.ok()) {
          if (auto parsed = ParseSecurityLevel(*name); parsed.ok()) {
            level = *parsed;
          }
        }
        return Status::Ok();
      })
      .IgnoreError();
  return level;
}

Result<IssuedResponse> EnrollmentService::Enroll(const EnrollRequest& req) {
  HOSTCA_RETURN_IF_ERROR(RefuseInExternalMode(mode_, "issues"));
  HOSTCA_ASSIGN_OR_RETURN(const std::string hostname, NormalizeHostname(req.hostname));
  HOSTCA_ASSIGN_OR_RETURN(ca::CheckedCsr csr, ca::ParseAndCheckCsr(req.csr, options_.csr_policy));
  std::string token_hash;
  if (!req.token.empty()) {
    int64_t retry_after = 0;
    HOSTCA_RETURN_IF_ERROR(limiter_.Check(req.source_address, &retry_after));
    auto hash = TokenHashOf(req.token);
    if (!hash.ok()) {
      limiter_.RecordFailure(req.source_address);
      return hash.status();
    }
    token_hash = std::move(*hash);
  }
  auto decision = Decide(req, hostname, token_hash);
  if (!decision.ok()) {
    if (!token_hash.empty() && decision.status().reason().rfind("token_", 0) == 0) {
      limiter_.RecordFailure(req.source_address);
    }
    return decision.status();
  }
  auto issued = SignAndStore(*decision, csr, csr.requested_dns_names);
  if (!issued.ok() && !token_hash.empty() && issued.status().reason().rfind("token_", 0) == 0) {
    limiter_.RecordFailure(req.source_address);
  }
  return issued;
}

Result<EnrollmentService::Decision> EnrollmentService::Decide(const EnrollRequest& req,
                                                              const std::string& hostname,
                                                              const std::string& token_hash) {
  const int64_t now = clock_.NowSeconds();
  const SecurityLevel level = CurrentLevel();
  Decision d;
  d.token_hash = token_hash;
  Status st = store_.View([&](storage::ReadTxn& txn) -> Status {
    std::optional<storage::TokenRecord> token;
    if (!token_hash.empty()) {
      auto t = txn.GetToken(token_hash);
      if (!t.ok()) {
        return t.status().code() == Code::kNotFound
                   ? PermissionDenied("the token is not valid", "token_invalid")
                   : t.status();
      }
      token = std::move(*t);
    }
    auto host = txn.GetHostByName(hostname);
    if (!host.ok() && host.status().code() != Code::kNotFound) {
      return host.status();
    }
    if (!host.ok()) {
      // A new host: its name is claimed by this request.
      if (token) {
        HOSTCA_RETURN_IF_ERROR(CheckToken(*token, "", now));
      } else if (level != SecurityLevel::kMedium) {
        return PermissionDenied(
            "an authorization token is required to enroll a new host at "
            "security level " +
                std::string(SecurityLevelName(level)),
            "token_required");
      } else {
        const auto addrs = resolver_.Resolve(hostname);
        if (std::find(addrs.begin(), addrs.end(), req.source_address) == addrs.end()) {
          return PermissionDenied("an authorization token is required: " + hostname +
                                      " does not resolve to the request's address " +
                                      req.source_address,
                                  "token_required");
        }
      }
      d.kind = Decision::Kind::kNewHost;
      d.host.host_id = NewHostId();
      d.host.primary_name = hostname;
      d.host.created_at = now;
      return Status::Ok();
    }
    d.host = std::move(*host);
    if (token) {
      HOSTCA_RETURN_IF_ERROR(CheckToken(*token, d.host.host_id, now));
    }
    HOSTCA_ASSIGN_OR_RETURN(auto certs, txn.CertsByHost(d.host.host_id));
    DropExternal(&certs);
    const bool has_valid =
        std::any_of(certs.begin(), certs.end(), [&](const auto& c) { return IsValidAt(c, now); });
    const bool reissue_ok =
        (token && token->host_id == d.host.host_id) || d.host.reissue_until > now;
    if (has_valid || !certs.empty()) {
      if (!reissue_ok) {
        return has_valid ? Conflict(hostname +
                                        " is already enrolled: renew with its certificate, "
                                        "or reissue with a reissue token or window",
                                    "already_enrolled")
                         : PermissionDenied(hostname +
                                                " had certificates before: a new one needs a "
                                                "reissue token or an open reissue window",
                                            "reissue_required");
      }
      d.kind = Decision::Kind::kReissue;
      return Status::Ok();
    }
    // Pre-registered by an admin and never enrolled.
    if (!token && level == SecurityLevel::kVeryHigh) {
      return PermissionDenied("an authorization token is required at security level very-high",
                              "token_required");
    }
    d.kind = Decision::Kind::kFirst;
    return Status::Ok();
  });
  if (!st.ok()) {
    return st;
  }
  return d;
}

Result<IssuedResponse> EnrollmentService::SignAndStore(
    const Decision& d, const ca::CheckedCsr& csr, const std::vector<std::string>& requested_names) {
  const int64_t now = clock_.NowSeconds();
  ca::IssuanceRequest req;
  req.common_name = d.host.host_id;
  req.dns_names = HostNames(d.host);
  req.uris = {"urn:uuid:" + d.host.host_id};
  req.public_key = csr.public_key.get();
  req.public_key_spki = csr.spki_der;
  req.serial = ca::NewSerial();
  req.not_before = now - options_.backdate_seconds;
  req.not_after = now + options_.validity_seconds;
  if (!options_.public_url.empty()) {
    req.crl_url = options_.public_url + "/crl";
    req.ca_issuers_url = options_.public_url + "/ca.crt";
  }
  HOSTCA_ASSIGN_OR_RETURN(ca::IssuedCertificate issued, issuer_.Issue(req));
  storage::CertRecord rec;
  rec.serial = issued.serial;
  rec.host_id = d.host.host_id;
  rec.names = req.dns_names;
  rec.not_before = issued.not_before;
  rec.not_after = issued.not_after;
  rec.issued_at = now;
  rec.der = std::move(issued.der);
  // The commit looks up the new serial and the host id: random keys, whose
  // B-tree leaves a large store has most likely not mapped into this
  // process yet (Decide already looked up the name). Looking them up here
  // first takes those page faults in this request's thread, beside the
  // other requests', instead of in the one writer thread, which is busy
  // more than 90% of the time at 8 connections and which every commit
  // waits on. At 1M stored certificates the writer's time running a write
  // fell from 91 to 51 us and the rate rose 11% in the median, 7 run pairs
  // of 10 ahead (bench/results/scale-2026-12-02-prefetch-ab-1m); the
  // commits' own time varies more from run to run than that.
  // The answers do not matter: the writer checks again, and reports errors.
  (void)store_.View([&](storage::ReadTxn& txn) -> Status {
    (void)txn.GetCert(rec.serial);
    (void)txn.GetHost(rec.host_id);
    return Status::Ok();
  });
  std::vector<storage::CertRecord> revoked;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) {
    revoked.clear();  // the write may run again after the store grew
    return CommitIssue(txn, d, rec, requested_names, now, &revoked);
  }));
  Announce(revoked);
  return Respond(d, rec, issued.pem);
}

Status EnrollmentService::CommitIssue(storage::WriteTxn& txn, const Decision& d,
                                      const storage::CertRecord& rec,
                                      const std::vector<std::string>& requested_names, int64_t now,
                                      std::vector<storage::CertRecord>* revoked) {
  const bool new_host = d.kind == Decision::Kind::kNewHost;
  std::string token_note;
  if (!d.token_hash.empty()) {
    HOSTCA_ASSIGN_OR_RETURN(const storage::TokenRecord token,
                            SpendToken(txn, d.token_hash, new_host ? "" : d.host.host_id, now));
    token_note = " token=" + token.name;  // the name, never the value
  }
  storage::HostRecord host = d.host;
  if (new_host) {
    if (txn.GetHostByName(host.primary_name).ok()) {
      return Conflict(host.primary_name + " was just taken by another host", "name_conflict");
    }
  } else {
    HOSTCA_ASSIGN_OR_RETURN(host, txn.GetHost(d.host.host_id));
  }
  if (d.kind == Decision::Kind::kRenew) {
    HOSTCA_ASSIGN_OR_RETURN(auto presented, txn.GetCert(d.renewed_serial));
    if (presented.status != storage::CertStatus::kValid) {
      return PermissionDenied("the presented certificate was revoked", "certificate_revoked");
    }
  } else if (!new_host) {
    HOSTCA_ASSIGN_OR_RETURN(auto certs, txn.CertsByHost(host.host_id));
    DropExternal(&certs);
    for (storage::CertRecord& c : certs) {
      if (d.kind == Decision::Kind::kFirst && IsValidAt(c, now)) {
        return Conflict(host.primary_name + " was just enrolled", "already_enrolled");
      }
      if (d.kind == Decision::Kind::kReissue && c.status == storage::CertStatus::kValid) {
        c.status = storage::CertStatus::kRevoked;
        c.revocation_reason = kReasonSuperseded;
        c.revoked_at = now;
        HOSTCA_RETURN_IF_ERROR(txn.UpdateCert(c));
        revoked->push_back(c);
      }
    }
    host.reissue_until = 0;  // a window pays for one reissue
  }
  HOSTCA_RETURN_IF_ERROR(txn.PutHost(host));
  HOSTCA_RETURN_IF_ERROR(txn.InsertCert(rec));
  for (const std::string& name : requested_names) {
    const auto names = HostNames(host);
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      HOSTCA_RETURN_IF_ERROR(QueueMapping(txn, host.host_id, name, now));
    }
  }
  static constexpr const char* kActions[] = {"cert.enroll", "cert.enroll", "cert.reissue",
                                             "cert.renew"};
  return txn
      .AppendAudit(
          now, "host:" + host.host_id, kActions[static_cast<int>(d.kind)],
          "serial=" + ca::SerialToHex(rec.serial) + " names=" + host.primary_name + token_note)
      .status();
}

IssuedResponse EnrollmentService::Respond(const Decision& d, const storage::CertRecord& rec,
                                          const std::string& pem) const {
  IssuedResponse out;
  out.host_id = d.host.host_id;
  out.serial_hex = ca::SerialToHex(rec.serial);
  out.certificate_pem = pem;
  out.not_after = rec.not_after;
  out.reissue = d.kind == Decision::Kind::kReissue;
  return out;
}

bool EnrollmentService::StoredAndCurrent(X509* cert, const storage::CertRecord& rec,
                                         const std::string& der, time_t now) const {
  if (der != rec.der || X509_check_issued(issuer_.ca_cert(), cert) != X509_V_OK ||
      X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
    return false;
  }
  // As X509_verify_cert's time checks: expired when notAfter <= now, not
  // yet valid when notBefore > now; the CA and its chain too.
  const auto current = [now](X509* c) {
    time_t t = now;
    return X509_cmp_time(X509_get0_notBefore(c), &t) <= 0 &&
           X509_cmp_time(X509_get0_notAfter(c), &t) > 0;
  };
  if (!current(cert) || !current(issuer_.ca_cert())) {
    return false;
  }
  for (const X509Ptr& c : chain_) {
    if (!current(c.get())) {
      return false;
    }
  }
  return true;
}

Result<ClientIdentity> EnrollmentService::Authenticate(X509* cert, STACK_OF(X509) * chain) const {
  if (cert == nullptr) {
    return Unauthenticated("this call needs TLS client authentication with a host certificate",
                           "client_cert_required");
  }
  const ASN1_INTEGER* serial_asn1 = X509_get0_serialNumber(cert);
  const std::string serial(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial_asn1)),
                           static_cast<size_t>(ASN1_STRING_length(serial_asn1)));
  ClientIdentity who;
  bool stored = false;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    auto rec = txn.GetCert(serial);
    if (!rec.ok()) {
      return rec.status().code() == Code::kNotFound ? Status::Ok() : rec.status();
    }
    who.record = std::move(*rec);
    stored = true;
    return Status::Ok();
  }));
  HOSTCA_ASSIGN_OR_RETURN(const std::string der, CertToDer(cert));
  const time_t now = static_cast<time_t>(clock_.NowSeconds());
  // A certificate byte-equal to one this CA stored carries this CA's
  // signature: checking it again (X509_verify_cert: chain building and an
  // ECDSA verification, a large part of a renewal's CPU with OpenSSL 3.0)
  // would prove nothing more. What the full check would still say of it,
  // time, issuer and purpose, is checked here; anything else goes the full
  // way, which also gives every refusal its reason.
  if (!stored || !StoredAndCurrent(cert, who.record, der, now)) {
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), trust_.get(), cert, chain) != 1) {
      return OpenSslError("cannot set up certificate verification");
    }
    X509_STORE_CTX_set_time(ctx.get(), 0, now);
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
    ClearOpenSslErrors();
    if (X509_verify_cert(ctx.get()) != 1) {
      const int err = X509_STORE_CTX_get_error(ctx.get());
      ClearOpenSslErrors();
      if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
        return PermissionDenied("the client certificate has expired: ask for a reissue",
                                "certificate_expired");
      }
      return Unauthenticated(
          std::string("the client certificate is not valid: ") + X509_verify_cert_error_string(err),
          "client_cert_invalid");
    }
    if (!stored) {
      return Unauthenticated("the client certificate was not issued by this CA",
                             "client_cert_invalid");
    }
    if (der != who.record.der) {
      return Unauthenticated("the client certificate does not match the stored one",
                             "client_cert_invalid");
    }
  }
  if (who.record.status == storage::CertStatus::kRevoked) {
    return PermissionDenied("the client certificate was revoked", "certificate_revoked");
  }
  return who;
}

Result<IssuedResponse> EnrollmentService::Renew(const ClientIdentity& who,
                                                const std::string& csr_text) {
  HOSTCA_RETURN_IF_ERROR(RefuseInExternalMode(mode_, "renews"));
  HOSTCA_RETURN_IF_ERROR(RefuseExternalCert(who, "renew"));
  HOSTCA_ASSIGN_OR_RETURN(ca::CheckedCsr csr, ca::ParseAndCheckCsr(csr_text, options_.csr_policy));
  Decision d;
  d.kind = Decision::Kind::kRenew;
  d.renewed_serial = who.record.serial;
  HOSTCA_RETURN_IF_ERROR(store_.View([&](storage::ReadTxn& txn) -> Status {
    auto host = txn.GetHost(who.record.host_id);
    if (!host.ok()) {
      return host.status().code() == Code::kNotFound
                 ? Unauthenticated("the client certificate belongs to no host",
                                   "client_cert_invalid")
                 : host.status();
    }
    d.host = std::move(*host);
    return Status::Ok();
  }));
  return SignAndStore(d, csr, csr.requested_dns_names);
}

void EnrollmentService::Announce(const std::vector<storage::CertRecord>& revoked) const {
  if (revocations_ != nullptr && !revoked.empty()) {
    revocations_->OnRevoked(revoked);
  }
}

Status EnrollmentService::RevokeOwn(const ClientIdentity& who, int reason) {
  HOSTCA_RETURN_IF_ERROR(RefuseExternalCert(who, "revoke"));
  const int64_t now = clock_.NowSeconds();
  storage::CertRecord done;
  HOSTCA_RETURN_IF_ERROR(store_.Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(auto rec, txn.GetCert(who.record.serial));
    if (rec.status == storage::CertStatus::kRevoked) {
      return Conflict("the certificate is already revoked", "already_revoked");
    }
    rec.status = storage::CertStatus::kRevoked;
    rec.revocation_reason = reason;
    rec.revoked_at = now;
    HOSTCA_RETURN_IF_ERROR(txn.UpdateCert(rec));
    done = rec;
    return txn
        .AppendAudit(
            now, "host:" + rec.host_id, "cert.revoke",
            "serial=" + ca::SerialToHex(rec.serial) + " reason=" + RevocationReasonName(reason))
        .status();
  }));
  Announce({done});
  return Status::Ok();
}

}  // namespace hostca::enrollment
