// Security levels (DESIGN.md section 4): the domain-wide setting that decides
// when a new host needs a token and how often hosts refresh the CRL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::enrollment {

enum class SecurityLevel { kVeryHigh, kHigh, kMedium };

inline constexpr SecurityLevel kDefaultSecurityLevel = SecurityLevel::kHigh;

// "very-high" | "high" | "medium"; invalid_argument (reason "bad_level") otherwise.
Result<SecurityLevel> ParseSecurityLevel(std::string_view name);
std::string_view SecurityLevelName(SecurityLevel level);
// How often hosts refresh the CRL at this level: 1 h, 4 h, 8 h.
int64_t CrlRefreshSeconds(SecurityLevel level);

}  // namespace hostca::enrollment
