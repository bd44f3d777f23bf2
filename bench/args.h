// Command-line values the benchmarks share: a positive count and a
// comma-separated list of them, with errors that name the option.
// Pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace hostca::bench {

// A positive integer; `what` names it in the error ("bad --runs 'x'").
Result<size_t> ParseCount(const std::string& text, const std::string& what);

// A comma-separated list of positive integers ("1,8,64"), each at most
// `max`; `what` names the option in errors.
Result<std::vector<size_t>> ParseCounts(const std::string& list, const std::string& what,
                                        size_t max = static_cast<size_t>(-1));

}  // namespace hostca::bench
