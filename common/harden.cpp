#include "common/harden.h"

#include <sys/prctl.h>
#include <sys/resource.h>

namespace hostca {

bool DisableCoreDumps() {
  const rlimit none{0, 0};
  const bool limit_ok = setrlimit(RLIMIT_CORE, &none) == 0;
  const bool dumpable_ok = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
  return limit_ok && dumpable_ok;
}

}  // namespace hostca
