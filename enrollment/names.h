// Host names and host IDs: validation and normalisation of what hosts and
// admins send (untrusted input).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::enrollment {

// A DNS host name as it may appear in a certificate: LDH labels of 1..63
// characters (no leading/trailing hyphen), 253 characters at most, at least
// one character, no wildcard, no trailing dot. Returns it in lower case;
// invalid_argument with reason "bad_hostname" otherwise.
Result<std::string> NormalizeHostname(std::string_view name);

// A random (version 4) UUID in its lower-case text form.
std::string NewHostId();
// True for the lower-case 8-4-4-4-12 text form.
bool IsHostId(std::string_view text);

}  // namespace hostca::enrollment
