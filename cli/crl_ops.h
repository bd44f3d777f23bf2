// The host's copy of the CA's CRL (DESIGN.md sections 6 and 8), kept in the
// host state directory:
//
//   crl.pem   the CRL, PEM; authoritative (its number is what rollback
//             protection compares against)
//   crl.json  {crl_number, this_update, next_update, entries, etag,
//              fetched_at, checked_at}: what the last fetch learned. The
//             ETag goes back as If-None-Match so an unchanged CRL costs a 304;
//             checked_at (the last 200 or 304) tells the agent when the next
//             refresh is due.
//
// A fetched CRL is written only after it checks out: its signature verifies
// with the pinned CA's key, its issuer is the CA, it carries a CRL number, and
// that number is not lower than the one in crl.pem (conflict "crl_rollback";
// the same number with other content is conflict "crl_number_reused"). Both
// files are written with WriteFileAtomic, crl.pem first: a crash between the
// two leaves a stale crl.json, which costs one full download, never a wrong
// CRL.
//
// Not thread-safe (writes the state directory).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/session.h"
#include "cli/state.h"
#include "common/ossl.h"
#include "common/status.h"

namespace hostca::cli {

struct CrlInfo {
  int64_t number = 0;
  int64_t this_update = 0;
  int64_t next_update = 0;  // 0 when the CRL has none
  size_t entries = 0;
};

// Checks `crl` against the CA certificate(s) in `ca_pem`: issuer, signature,
// CRL number. Errors (invalid_argument): "crl_wrong_issuer",
// "crl_bad_signature", "bad_crl".
Result<CrlInfo> CheckCrl(X509_CRL* crl, const std::string& ca_pem);

// Whether `fresh` may replace `current` (nullptr: there is none). Same DER
// counts as the same CRL.
Status CheckCrlSuccessor(const CrlInfo* current, const std::string& current_der,
                         const CrlInfo& fresh, const std::string& fresh_der);

// The local copy. std::nullopt when there is no crl.pem, or when it does not
// check out against the pinned CA (then the next fetch replaces it).
struct LocalCrl {
  CrlInfo info;
  std::string der;
  std::string etag;        // from crl.json; "" when unknown
  int64_t fetched_at = 0;  // last 200, from crl.json
  int64_t checked_at = 0;  // last 200 or 304, from crl.json
};
Result<std::optional<LocalCrl>> LoadLocalCrl(const StatePaths& paths, const std::string& ca_pem);

struct CrlFetchResult {
  bool updated = false;          // a new CRL was written (false: 304, or the same CRL)
  bool not_modified = false;     // the server answered 304
  int64_t previous_number = -1;  // -1: there was no local CRL
  CrlInfo info;                  // the CRL in force now
};

// GET /v1/crl with If-None-Match from crl.json, checks and writes as above.
// `now` becomes checked_at (and fetched_at on a 200).
Result<CrlFetchResult> FetchCrl(const Globals& g, int64_t now);

// When the agent should refresh next: checked_at + interval, but never
// later than the CRL's nextUpdate; `now` when there is no local CRL.
int64_t CrlRefreshDueAt(const std::optional<LocalCrl>& local, int64_t interval_seconds,
                        int64_t now);

}  // namespace hostca::cli
