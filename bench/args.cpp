#include "bench/args.h"

#include <algorithm>
#include <exception>

namespace hostca::bench {

Result<size_t> ParseCount(const std::string& text, const std::string& what) {
  size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || n == 0) {
    return InvalidArgument("bad " + what + " '" + text + "'");
  }
  return static_cast<size_t>(n);
}

Result<std::vector<size_t>> ParseCounts(const std::string& list, const std::string& what,
                                        size_t max) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    HOSTCA_ASSIGN_OR_RETURN(const size_t n, ParseCount(list.substr(pos, comma - pos), what));
    if (n > max) {
      return InvalidArgument(what + " items must be at most " + std::to_string(max));
    }
    out.push_back(n);
    pos = comma + 1;
  }
  return out;
}

}  // namespace hostca::bench
