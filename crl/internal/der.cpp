#include "crl/internal/der.h"

#include <ctime>

namespace hostca::crl::internal {

void AppendTlv(std::string* out, uint8_t tag, std::string_view content) {
  out->push_back(static_cast<char>(tag));
  const size_t len = content.size();
  if (len < 0x80) {
    out->push_back(static_cast<char>(len));
  } else {
    int bytes = 0;
    for (size_t v = len; v > 0; v >>= 8) {
      ++bytes;
    }
    out->push_back(static_cast<char>(0x80 | bytes));
    for (int i = bytes - 1; i >= 0; --i) {
      out->push_back(static_cast<char>((len >> (8 * i)) & 0xff));
    }
  }
  out->append(content);
}

std::string Tlv(uint8_t tag, std::string_view content) {
  std::string out;
  out.reserve(content.size() + 6);
  AppendTlv(&out, tag, content);
  return out;
}

std::string IntegerFromMagnitude(std::string_view magnitude) {
  size_t first = 0;
  while (first + 1 < magnitude.size() && magnitude[first] == 0) {
    ++first;
  }
  std::string content(magnitude.substr(first));
  if (content.empty()) {
    content.push_back('\0');
  }
  if ((static_cast<uint8_t>(content[0]) & 0x80) != 0) {
    content.insert(content.begin(), '\0');
  }
  return Tlv(kInteger, content);
}

std::string IntegerFromU64(uint64_t v) {
  std::string be(8, '\0');
  for (int i = 7; i >= 0; --i) {
    be[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return IntegerFromMagnitude(be);
}

std::string Time(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm_utc {};
  gmtime_r(&t, &tm_utc);
  char buf[32];
  if (tm_utc.tm_year + 1900 < 2050) {
    std::strftime(buf, sizeof(buf), "%y%m%d%H%M%SZ", &tm_utc);
    return Tlv(0x17, buf);  // UTCTime
  }
  std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%SZ", &tm_utc);
  return Tlv(0x18, buf);  // GeneralizedTime
}

}  // namespace hostca::crl::internal
