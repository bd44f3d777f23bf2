#include "enrollment/domain_mode.h"

#include <algorithm>
#include <cstdlib>

namespace hostca::enrollment {

Result<DomainMode> ParseDomainMode(std::string_view name) {
  if (name == "internal") {
    return DomainMode::kInternal;
  }
  if (name == "mixed") {
    return DomainMode::kMixed;
  }
  if (name == "external") {
    return DomainMode::kExternal;
  }
  return InvalidArgument("mode must be internal, mixed or external", "bad_mode");
}

const char* DomainModeName(DomainMode mode) {
  switch (mode) {
    case DomainMode::kMixed:
      return "mixed";
    case DomainMode::kExternal:
      return "external";
    case DomainMode::kInternal:
      break;
  }
  return "internal";
}

Result<int64_t> ExternalCertCount(storage::ReadTxn& txn) {
  auto v = txn.GetMeta(kMetaExternalCerts);
  if (!v.ok()) {
    return v.status().code() == Code::kNotFound ? Result<int64_t>(int64_t{0})
                                                : Result<int64_t>(v.status());
  }
  return static_cast<int64_t>(std::strtoll(v->c_str(), nullptr, 10));
}

Status AdjustExternalCount(storage::WriteTxn& txn, int delta) {
  HOSTCA_ASSIGN_OR_RETURN(const int64_t count, ExternalCertCount(txn));
  return txn.PutMeta(kMetaExternalCerts, std::to_string(std::max<int64_t>(0, count + delta)));
}

}  // namespace hostca::enrollment
