#include "crl/internal/external_parse.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include "ca/issuer.h"
#include "common/encoding.h"
#include "common/pem.h"

namespace hostca::crl::internal {
namespace {

using CrlDistPointsPtr = std::unique_ptr<CRL_DIST_POINTS, OsslDeleter<CRL_DIST_POINTS_free>>;

constexpr std::string_view kCacheMagic = "hostca-crl-cache 1\n";

Status BadCrl(std::string what) {
  ClearOpenSslErrors();
  return InvalidArgument(std::move(what), "bad_crl");
}

// One DER CRL at the front of `*data`; advances `*data` past it.
Result<X509CrlPtr> ReadDerCrl(std::string_view* data) {
  const auto* begin = reinterpret_cast<const unsigned char*>(data->data());
  const unsigned char* p = begin;
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(data->size())));
  if (!crl) {
    return BadCrl("not a DER CRL");
  }
  data->remove_prefix(static_cast<size_t>(p - begin));
  return crl;
}

Result<std::vector<X509CrlPtr>> ParsePemCrls(std::string_view data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  std::vector<X509CrlPtr> out;
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* der = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &der, &len) != 1) {
      const unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        break;  // no further PEM block
      }
      return BadCrl("malformed PEM armour");
    }
    const std::string label = name;
    const std::string_view body(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
    Result<X509CrlPtr> crl = BadCrl("");
    std::string_view rest = body;
    if (label == "X509 CRL") {
      crl = ReadDerCrl(&rest);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    if (label != "X509 CRL") {
      continue;
    }
    if (!crl.ok() || !rest.empty()) {
      return BadCrl("malformed PEM X509 CRL block #" + std::to_string(out.size() + 1));
    }
    out.push_back(std::move(*crl));
  }
  ClearOpenSslErrors();
  if (out.empty()) {
    return InvalidArgument("no PEM X509 CRL block found", "bad_crl");
  }
  return out;
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

Status BadUrl(std::string_view url, std::string_view why) {
  std::string shown(url.substr(0, 200));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      c = '?';
    }
  }
  return InvalidArgument("CRL URL '" + shown + "': " + std::string(why), "bad_crl_url");
}

std::string Asn1StringToUtf8(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) {
    ClearOpenSslErrors();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

Result<std::vector<X509CrlPtr>> ParseCrls(std::string_view data) {
  ClearOpenSslErrors();
  if (data.find("-----BEGIN") != std::string_view::npos) {
    return ParsePemCrls(data);
  }
  std::vector<X509CrlPtr> out;
  while (!data.empty()) {
    auto crl = ReadDerCrl(&data);
    if (!crl.ok()) {
      return out.empty()
                 ? crl.status()
                 : BadCrl("bytes after DER CRL #" + std::to_string(out.size()) + " are not a CRL");
    }
    out.push_back(std::move(*crl));
  }
  if (out.empty()) {
    return InvalidArgument("empty CRL data", "bad_crl");
  }
  return out;
}

Result<HttpUrl> SplitHttpUrl(std::string_view url) {
  if (url.size() > kMaxUrlLength) {
    return BadUrl(url, "longer than " + std::to_string(kMaxUrlLength) + " characters");
  }
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return BadUrl(url, "contains a space, a control or a non-ASCII character");
    }
  }
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size() || AsciiLower(url.substr(0, kScheme.size())) != kScheme) {
    return BadUrl(url, "not an http:// URL");
  }
  std::string_view rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('#'));
  const size_t path_at = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_at);
  HttpUrl out;
  out.path = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (out.path[0] == '?') {
    out.path.insert(out.path.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos) {
    return BadUrl(url, "user info is not allowed");
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 2) {
      return BadUrl(url, "malformed IPv6 address");
    }
    host = authority.substr(1, close - 1);
    if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      return BadUrl(url, "malformed IPv6 address");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') {
      return BadUrl(url, "malformed IPv6 address");
    }
    port = after.empty() ? after : after.substr(1);
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    port = colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
    if (!std::all_of(host.begin(), host.end(), IsHostChar)) {
      return BadUrl(url, "malformed host name");
    }
  }
  if (host.empty()) {
    return BadUrl(url, "no host");
  }
  out.host = std::string(host);
  if (!port.empty()) {
    int value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      return BadUrl(url, "bad port");
    }
    out.port = value;
  }
  return out;
}

std::vector<std::string> HttpCdpUrls(X509* cert) {
  std::vector<std::string> urls;
  CrlDistPointsPtr points(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr)));
  ClearOpenSslErrors();
  if (!points) {
    return urls;
  }
  for (int i = 0; i < sk_DIST_POINT_num(points.get()); ++i) {
    const DIST_POINT* point = sk_DIST_POINT_value(points.get(), i);
    if (point->distpoint == nullptr || point->distpoint->type != 0) {
      continue;  // no name, or a name relative to the issuer
    }
    const GENERAL_NAMES* names = point->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, j);
      if (name->type != GEN_URI) {
        continue;
      }
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      const std::string url(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                            static_cast<size_t>(ASN1_STRING_length(uri)));
      if (SplitHttpUrl(url).ok() && std::find(urls.begin(), urls.end(), url) == urls.end() &&
          urls.size() < kMaxCdpUrls) {
        urls.push_back(url);
      }
    }
  }
  return urls;
}

std::string NameToString(const X509_NAME* name) {
  if (name == nullptr) {
    return {};
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ClearOpenSslErrors();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

bool AsnTimeToUnix(const ASN1_TIME* time, int64_t* out) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ClearOpenSslErrors();
    return false;
  }
  *out = static_cast<int64_t>(timegm(&tm));
  return true;
}

Result<ExternalCertInfo> CertInfoOf(X509* cert) {
  ExternalCertInfo info;
  auto der = CertToDer(cert);
  if (!der.ok()) {
    return InvalidArgument(der.status().message(), "bad_certificate");
  }
  info.der = std::move(*der);
  info.fingerprint_sha256 = HexEncode(Sha256(info.der));
  info.serial_hex = ca::SerialToHex(ca::SerialOf(cert));
  const X509_NAME* subject = X509_get_subject_name(cert);
  info.subject_dn = NameToString(subject);
  info.issuer_dn = NameToString(X509_get_issuer_name(cert));
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    info.subject_cn = Asn1StringToUtf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
  }
  info.dns_names = SanDnsNames(cert);
  if (!AsnTimeToUnix(X509_get0_notBefore(cert), &info.not_before) ||
      !AsnTimeToUnix(X509_get0_notAfter(cert), &info.not_after)) {
    return InvalidArgument("the certificate's validity dates do not parse", "bad_certificate");
  }
  ClearOpenSslErrors();
  return info;
}

std::string EncodeCacheEntry(std::string_view url, int64_t fetched_at, std::string_view body) {
  std::string out(kCacheMagic);
  out += "fetched_at " + std::to_string(fetched_at) + "\n";
  out += "url " + std::string(url) + "\n\n";
  out += body;
  return out;
}

Result<CacheEntry> DecodeCacheEntry(std::string_view data) {
  const auto bad = [](std::string_view why) {
    return InvalidArgument("CRL cache entry: " + std::string(why), "bad_crl_cache");
  };
  if (data.substr(0, kCacheMagic.size()) != kCacheMagic) {
    return bad("unknown format");
  }
  data.remove_prefix(kCacheMagic.size());
  const size_t end = data.find("\n\n");
  if (end == std::string_view::npos) {
    return bad("no end of header");
  }
  std::string_view header = data.substr(0, end + 1);
  CacheEntry entry;
  bool have_time = false, have_url = false;
  while (!header.empty()) {
    const size_t nl = header.find('\n');
    const std::string_view line = header.substr(0, nl);
    header.remove_prefix(nl + 1);
    const size_t sp = line.find(' ');
    const std::string_view key = line.substr(0, sp);
    const std::string_view value =
        sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    if (key == "fetched_at") {
      const auto [p, ec] =
          std::from_chars(value.data(), value.data() + value.size(), entry.fetched_at);
      if (ec != std::errc() || p != value.data() + value.size() || value.empty()) {
        return bad("bad fetched_at");
      }
      have_time = true;
    } else if (key == "url") {
      entry.url = std::string(value);
      have_url = true;
    }
  }
  if (!have_time || !have_url) {
    return bad("fetched_at or url missing");
  }
  entry.body = std::string(data.substr(end + 2));
  return entry;
}

}  // namespace hostca::crl::internal
