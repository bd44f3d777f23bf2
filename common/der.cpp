#include "common/der.h"

#include <chrono>
#include <cstdlib>
#include <iterator>

#include "common/encoding.h"

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

namespace der {

size_t HeaderSize(size_t content_len) {
  size_t bytes = 2;
  if (content_len >= 0x80) {
    for (size_t v = content_len; v > 0; v >>= 8) {
      ++bytes;
    }
  }
  return bytes;
}

void AppendHeader(std::string* out, uint8_t tag, size_t len) {
  out->push_back(static_cast<char>(tag));
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
}

void AppendTlv(std::string* out, uint8_t tag, std::string_view content) {
  AppendHeader(out, tag, content.size());
  out->append(content);
}

std::string Tlv(uint8_t tag, std::string_view content) {
  std::string out;
  out.reserve(content.size() + 6);
  AppendTlv(&out, tag, content);
  return out;
}

namespace {
// The INTEGER's content: the magnitude without its leading zeros, after a
// 0x00 when its top bit is set or nothing is left (zero is 02 01 00).
struct IntegerContent {
  std::string_view magnitude;
  bool pad;
  size_t size() const { return magnitude.size() + (pad ? 1 : 0); }
};

IntegerContent ContentOf(std::string_view magnitude) {
  while (!magnitude.empty() && magnitude.front() == '\0') {
    magnitude.remove_prefix(1);
  }
  return {magnitude, magnitude.empty() || (static_cast<uint8_t>(magnitude.front()) & 0x80) != 0};
}
}  // namespace

void AppendIntegerFromMagnitude(std::string* out, std::string_view magnitude) {
  const IntegerContent content = ContentOf(magnitude);
  AppendHeader(out, kInteger, content.size());
  if (content.pad) {
    out->push_back('\0');
  }
  out->append(content.magnitude);
}

size_t IntegerFromMagnitudeSize(std::string_view magnitude) {
  const size_t content = ContentOf(magnitude).size();
  return HeaderSize(content) + content;
}

std::string IntegerFromMagnitude(std::string_view magnitude) {
  std::string out;
  AppendIntegerFromMagnitude(&out, magnitude);
  return out;
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
  // The calendar of <chrono> rather than gmtime_r and strftime: every
  // certificate has two times and every revoked certificate one, and the C
  // functions' locale and time-zone handling cost more than the rest of a
  // CRL entry's encoding.
  using namespace std::chrono;
  const sys_seconds t{seconds{unix_seconds}};
  const sys_days day = floor<days>(t);
  const year_month_day date{day};
  const int year = static_cast<int>(date.year());
  if (year < 0 || year > 9999) {
    return Tlv(0x18, FormatUtc(unix_seconds, "%Y%m%d%H%M%SZ"));  // not valid DER either way
  }
  const hh_mm_ss<seconds> clock{t - day};
  const int fields[] = {year / 100,
                        year % 100,
                        static_cast<int>(static_cast<unsigned>(date.month())),
                        static_cast<int>(static_cast<unsigned>(date.day())),
                        static_cast<int>(clock.hours().count()),
                        static_cast<int>(clock.minutes().count()),
                        static_cast<int>(clock.seconds().count())};
  const bool utc = year >= 1950 && year < 2050;  // UTCTime: YY
  std::string out(1, static_cast<char>(utc ? 0x17 : 0x18));
  out.push_back(static_cast<char>(utc ? 13 : 15));
  for (size_t i = utc ? 1 : 0; i < std::size(fields); ++i) {
    out.push_back(static_cast<char>('0' + fields[i] / 10));
    out.push_back(static_cast<char>('0' + fields[i] % 10));
  }
  out.push_back('Z');
  return out;
}

}  // namespace der

}  // namespace hostca
