#include "enrollment/tokens.h"

#include "common/encoding.h"

namespace hostca::enrollment {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kTokenChars = 43;  // base64url of 32 bytes, unpadded

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

Status ValidateTokenSpec(const TokenSpec& spec) {
  if (!ValidName(spec.name)) {
    return InvalidArgument("token name must be 1..64 characters of A-Z a-z 0-9 . _ -",
                           "bad_token_name");
  }
  if (spec.max_uses < 1 || spec.max_uses > 100000) {
    return InvalidArgument("max_uses must be between 1 and 100000");
  }
  if (!spec.host_id.empty() && spec.max_uses != 1) {
    return InvalidArgument("a reissue token (host_id set) is single-use");
  }
  if (spec.ttl_seconds < 60 || spec.ttl_seconds > 365LL * 86400) {
    return InvalidArgument("ttl_seconds must be between 60 and 31536000");
  }
  if (spec.reason.size() > 256) {
    return InvalidArgument("reason is longer than 256 bytes");
  }
  return Status::Ok();
}

CreatedToken NewToken(const TokenSpec& spec, int64_t now, storage::TokenRecord* record) {
  CreatedToken out;
  out.name = spec.name;
  out.value = Base64UrlEncode(RandomBytes(kTokenBytes));
  out.expires_at = now + spec.ttl_seconds;
  record->hash = Sha256(out.value);
  record->name = spec.name;
  record->max_uses = spec.max_uses;
  record->uses = 0;
  record->created_at = now;
  record->expires_at = out.expires_at;
  record->reason = spec.reason;
  record->host_id = spec.host_id;
  return out;
}

Result<std::string> TokenHashOf(std::string_view value) {
  if (value.size() != kTokenChars || !Base64UrlDecode(value).ok()) {
    return PermissionDenied("the token is not valid", "token_invalid");
  }
  return Sha256(value);
}

Status CheckToken(const storage::TokenRecord& token, std::string_view host_id, int64_t now) {
  if (now >= token.expires_at) {
    return PermissionDenied("the token '" + token.name + "' has expired", "token_expired");
  }
  if (token.uses >= token.max_uses) {
    return PermissionDenied("the token '" + token.name + "' is used up", "token_used_up");
  }
  if (!token.host_id.empty() && token.host_id != host_id) {
    return PermissionDenied("the token '" + token.name + "' is bound to another host",
                            "token_wrong_host");
  }
  return Status::Ok();
}

Result<storage::TokenRecord> SpendToken(storage::WriteTxn& txn, const std::string& hash,
                                        std::string_view host_id, int64_t now) {
  auto token = txn.GetToken(hash);
  if (!token.ok()) {
    if (token.status().code() == Code::kNotFound) {
      return PermissionDenied("the token is not valid", "token_invalid");
    }
    return token.status();
  }
  HOSTCA_RETURN_IF_ERROR(CheckToken(*token, host_id, now));
  token->uses += 1;
  HOSTCA_RETURN_IF_ERROR(txn.PutToken(*token));
  return token;
}

bool TokenIsSpent(const storage::TokenRecord& token, int64_t now) {
  return now >= token.expires_at || token.uses >= token.max_uses;
}

}  // namespace hostca::enrollment
