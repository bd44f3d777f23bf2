#include "enrollment/names.h"

#include "common/encoding.h"

namespace hostca::enrollment {

Result<std::string> NormalizeHostname(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("invalid hostname: " + why, "bad_hostname");
  };
  if (name.empty()) {
    return bad("empty");
  }
  if (name.size() > 253) {
    return bad("longer than 253 characters");
  }
  std::string out;
  out.reserve(name.size());
  size_t label_len = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c == '.') {
      if (label_len == 0) {
        return bad("empty label (leading, trailing or double dot)");
      }
      if (out.back() == '-') {
        return bad("a label ends with '-'");
      }
      label_len = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      if (c == '-' && label_len == 0) {
        return bad("a label starts with '-'");
      }
      if (++label_len > 63) {
        return bad("a label is longer than 63 characters");
      }
    } else {
      return bad("only letters, digits, '-' and '.' are allowed");
    }
    out.push_back(c);
  }
  if (label_len == 0) {
    return bad("empty label (leading, trailing or double dot)");
  }
  if (out.back() == '-') {
    return bad("a label ends with '-'");
  }
  return out;
}

std::string NewHostId() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  const std::string h = HexEncode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

bool IsHostId(std::string_view text) {
  if (text.size() != 36) {
    return false;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return false;
      }
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace hostca::enrollment
