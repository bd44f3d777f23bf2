#include "enrollment/security_level.h"

namespace hostca::enrollment {

Result<SecurityLevel> ParseSecurityLevel(std::string_view name) {
  if (name == "very-high") {
    return SecurityLevel::kVeryHigh;
  }
  if (name == "high") {
    return SecurityLevel::kHigh;
  }
  if (name == "medium") {
    return SecurityLevel::kMedium;
  }
  return InvalidArgument(
      "unknown security level '" + std::string(name) + "' (very-high, high, medium)", "bad_level");
}

std::string_view SecurityLevelName(SecurityLevel level) {
  switch (level) {
    case SecurityLevel::kVeryHigh:
      return "very-high";
    case SecurityLevel::kHigh:
      return "high";
    case SecurityLevel::kMedium:
      return "medium";
  }
  return "high";
}

int64_t CrlRefreshSeconds(SecurityLevel level) {
  switch (level) {
    case SecurityLevel::kVeryHigh:
      return 3600;
    case SecurityLevel::kHigh:
      return 4 * 3600;
    case SecurityLevel::kMedium:
      return 8 * 3600;
  }
  return 4 * 3600;
}

}  // namespace hostca::enrollment
