#include "common/der.h"

namespace hostca {

bool ReadDer(std::string_view* in, DerTlv* out) {
  const std::string_view start = *in;
  if (start.size() < 2) {
    return false;
  }
  const auto tag = static_cast<uint8_t>(start[0]);
  if ((tag & 0x1f) == 0x1f) {
    return false;  // high tag numbers: nothing we read uses them
  }
  size_t pos = 1;
  const auto first = static_cast<uint8_t>(start[pos++]);
  size_t len = 0;
  if (first < 0x80) {
    len = first;
  } else {
    const size_t n = first & 0x7f;
    if (n == 0 || n > 3 || start.size() < pos + n) {
      return false;  // indefinite, or longer than we ever accept
    }
    for (size_t i = 0; i < n; ++i) {
      len = (len << 8) | static_cast<uint8_t>(start[pos++]);
    }
    // DER: the shortest form only.
    if (len < 0x80 || (n > 1 && (len >> (8 * (n - 1))) == 0)) {
      return false;
    }
  }
  if (start.size() - pos < len) {
    return false;
  }
  out->tag = tag;
  out->content = start.substr(pos, len);
  out->whole = start.substr(0, pos + len);
  in->remove_prefix(pos + len);
  return true;
}

bool ReadDer(std::string_view* in, uint8_t tag, DerTlv* out) {
  std::string_view copy = *in;
  if (!ReadDer(&copy, out) || out->tag != tag) {
    return false;
  }
  *in = copy;
  return true;
}

}  // namespace hostca
