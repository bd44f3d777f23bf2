#include "cli/crl_ops.h"

#include <openssl/x509v3.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca::cli {
namespace {

using nlohmann::json;

Result<int64_t> CrlTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    return InvalidArgument("the CRL has a bad update time", "bad_crl");
  }
  return static_cast<int64_t>(timegm(&tm));
}

bool FileExists(const std::string& path) { return FileMode(path).ok(); }

// crl.json, or an empty object when it is missing or unreadable (it is only
// a cache of what crl.pem says plus the ETag).
json LoadCrlJson(const StatePaths& paths) {
  auto text = ReadFile(paths.crl_json());
  if (!text.ok()) {
    return json::object();
  }
  json j = json::parse(*text, nullptr, false);
  return j.is_object() ? j : json::object();
}

int64_t IntField(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

Status WriteCrlJson(const StatePaths& paths, const CrlInfo& info, const std::string& etag,
                    int64_t fetched_at, int64_t checked_at) {
  const json j = {{"crl_number", info.number},
                  {"this_update", FormatRfc3339(info.this_update)},
                  {"next_update",
                   info.next_update != 0 ? json(FormatRfc3339(info.next_update)) : json(nullptr)},
                  {"entries", info.entries},
                  {"etag", etag},
                  {"fetched_at", fetched_at},
                  {"checked_at", checked_at}};
  return WriteFileAtomic(paths.crl_json(), j.dump(2) + "\n", 0644);
}

}  // namespace

Result<CrlInfo> CheckCrl(X509_CRL* crl, const std::string& ca_pem) {
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> cas, CertsFromPemBundle(ca_pem));
  X509* issuer = nullptr;
  for (const X509Ptr& c : cas) {
    if (X509_NAME_cmp(X509_get_subject_name(c.get()), X509_CRL_get_issuer(crl)) == 0) {
      issuer = c.get();
      break;
    }
  }
  if (issuer == nullptr) {
    return InvalidArgument("the CRL was not issued by the pinned CA", "crl_wrong_issuer");
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  if (key == nullptr || X509_CRL_verify(crl, key) != 1) {
    ERR_clear_error();
    return InvalidArgument("the CRL's signature does not verify with the pinned CA's key",
                           "crl_bad_signature");
  }
  CrlInfo info;
  int crit = 0;
  Asn1IntegerPtr number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, nullptr)));
  if (!number || ASN1_INTEGER_get_int64(&info.number, number.get()) != 1 || info.number < 0) {
    ERR_clear_error();
    return InvalidArgument("the CRL carries no usable CRL number", "bad_crl");
  }
  HOSTCA_ASSIGN_OR_RETURN(info.this_update, CrlTime(X509_CRL_get0_lastUpdate(crl)));
  if (const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl); next != nullptr) {
    HOSTCA_ASSIGN_OR_RETURN(info.next_update, CrlTime(next));
  }
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  info.entries = revoked == nullptr ? 0 : static_cast<size_t>(sk_X509_REVOKED_num(revoked));
  return info;
}

Status CheckCrlSuccessor(const CrlInfo* current, const std::string& current_der,
                         const CrlInfo& fresh, const std::string& fresh_der) {
  if (current == nullptr) {
    return Status::Ok();
  }
  if (fresh.number < current->number) {
    return Conflict("the server's CRL number " + std::to_string(fresh.number) +
                        " is lower than the local CRL's " + std::to_string(current->number) +
                        "; keeping the local CRL (a rolled-back or impostor server?)",
                    "crl_rollback");
  }
  if (fresh.number == current->number && fresh_der != current_der) {
    return Conflict("the server sent a different CRL under the local CRL's number " +
                        std::to_string(current->number) + "; keeping the local CRL",
                    "crl_number_reused");
  }
  return Status::Ok();
}

Result<std::optional<LocalCrl>> LoadLocalCrl(const StatePaths& paths, const std::string& ca_pem) {
  if (!FileExists(paths.crl_pem())) {
    return std::optional<LocalCrl>();
  }
  HOSTCA_ASSIGN_OR_RETURN(std::string text, ReadFile(paths.crl_pem()));
  auto crl = CrlFromPemOrDer(text);
  if (!crl.ok()) {
    return std::optional<LocalCrl>();
  }
  auto info = CheckCrl(crl->get(), ca_pem);
  auto der = CrlToDer(crl->get());
  if (!info.ok() || !der.ok()) {
    return std::optional<LocalCrl>();
  }
  LocalCrl local;
  local.info = *info;
  local.der = std::move(*der);
  const json j = LoadCrlJson(paths);
  // The cached ETag is trusted only for the CRL it was recorded with.
  if (IntField(j, "crl_number") == local.info.number && j.contains("etag") &&
      j["etag"].is_string()) {
    local.etag = j["etag"].get<std::string>();
    local.fetched_at = IntField(j, "fetched_at");
    local.checked_at = IntField(j, "checked_at");
  }
  return std::optional<LocalCrl>(std::move(local));
}

Result<CrlFetchResult> FetchCrl(const Globals& g, int64_t now) {
  const StatePaths paths(g.dir);
  HOSTCA_ASSIGN_OR_RETURN(std::string ca_pem, LoadPinnedCa(paths));
  HOSTCA_ASSIGN_OR_RETURN(std::optional<LocalCrl> local, LoadLocalCrl(paths, ca_pem));
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> client, PinnedClient(g));
  httplib::Headers headers;
  if (local && !local->etag.empty()) {
    headers.emplace("If-None-Match", local->etag);
  }
  HOSTCA_ASSIGN_OR_RETURN(ApiResponse res, client->Get("/v1/crl", headers));
  CrlFetchResult out;
  out.previous_number = local ? local->info.number : -1;
  if (res.status == 304 && local) {
    out.not_modified = true;
    out.info = local->info;
    HOSTCA_RETURN_IF_ERROR(WriteCrlJson(paths, local->info, local->etag,
                                        local->fetched_at != 0 ? local->fetched_at : now, now));
    return out;
  }
  if (res.status != 200) {
    return ErrorFromResponse(res);
  }
  auto crl = CrlFromPemOrDer(res.raw);
  if (!crl.ok()) {
    return InvalidArgument("the server's answer is not a CRL: " + crl.status().message(),
                           "bad_crl");
  }
  HOSTCA_ASSIGN_OR_RETURN(out.info, CheckCrl(crl->get(), ca_pem));
  HOSTCA_ASSIGN_OR_RETURN(std::string der, CrlToDer(crl->get()));
  HOSTCA_RETURN_IF_ERROR(CheckCrlSuccessor(local ? &local->info : nullptr,
                                           local ? local->der : std::string(), out.info, der));
  out.updated = !local || local->der != der;
  if (out.updated) {
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(paths.crl_pem(), DerToPem(der, "X509 CRL"), 0644));
  }
  HOSTCA_RETURN_IF_ERROR(WriteCrlJson(paths, out.info, res.etag, now, now));
  return out;
}

int64_t CrlRefreshDueAt(const std::optional<LocalCrl>& local, int64_t interval_seconds,
                        int64_t now) {
  if (!local || local->checked_at == 0) {
    return now;
  }
  int64_t due = local->checked_at + interval_seconds;
  if (local->info.next_update != 0) {
    due = std::min(due, local->info.next_update);
  }
  return due;
}

}  // namespace hostca::cli
