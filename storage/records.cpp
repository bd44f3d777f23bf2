#include "storage/records.h"

namespace hostca::storage {

std::string CertStatusName(CertStatus status) {
  return status == CertStatus::kRevoked ? "revoked" : "valid";
}

}  // namespace hostca::storage
