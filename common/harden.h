// Process hardening for the binaries that hold keys and tokens in memory
// (DESIGN.md: secrets never leave the process): no core dumps, and the
// process is not dumpable (no ptrace attach or /proc/PID/mem by other
// processes of the same user).
#pragma once

namespace hostca {

// Sets RLIMIT_CORE to 0 and PR_SET_DUMPABLE to 0. Returns false when either
// call failed (the caller logs it; running on is still safe enough).
bool DisableCoreDumps();

}  // namespace hostca
