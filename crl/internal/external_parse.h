// Parsing that the external-CA path (crl/external_verifier.h) does on
// untrusted bytes: CRL files and downloads (PEM or DER), a certificate's CRL
// distribution points, the fields hostca records about an external
// certificate, and the on-disk CDP cache entry. Internal to crl/; fuzzed by
// fuzz/external_fuzz.cpp.
//
// Thread-safe (no shared state). Never crashes on malformed input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ossl.h"
#include "common/status.h"
#include "crl/external_verifier.h"

namespace hostca::crl::internal {

// Every CRL in `data`: PEM holding any number of "X509 CRL" blocks (other
// PEM blocks, such as certificates, are skipped), or one or more
// concatenated DER CRLs. invalid_argument "bad_crl" when no CRL is found or
// any CRL (block) is malformed.
Result<std::vector<X509CrlPtr>> ParseCrls(std::string_view data);

// An http:// URL split for httplib::Client(host, port): the host without
// IPv6 brackets, the port (80 when absent) and the path with its query ("/"
// when empty; a fragment is dropped). invalid_argument "bad_crl_url" for
// other schemes, user info, an empty or odd host, a bad port, spaces or
// control characters, or more than kMaxUrlLength characters.
struct HttpUrl {
  std::string host;
  int port = 80;
  std::string path;
};
inline constexpr size_t kMaxUrlLength = 2048;
Result<HttpUrl> SplitHttpUrl(std::string_view url);

// The http:// URLs (those SplitHttpUrl accepts) among the fullName URIs of
// `cert`'s CRL distribution points, in order, without duplicates, at most
// kMaxCdpUrls. ldap://, https:// and anything else are left out (see
// NewHttpCrlFetcher).
inline constexpr size_t kMaxCdpUrls = 8;
std::vector<std::string> HttpCdpUrls(X509* cert);

// RFC 2253 form of a name (X509_NAME_print_ex with XN_FLAG_RFC2253);
// "" for null.
std::string NameToString(const X509_NAME* name);

// Seconds since the epoch of an ASN1_TIME; false when it does not parse.
bool AsnTimeToUnix(const ASN1_TIME* time, int64_t* out);

// Fills every ExternalCertInfo field from `cert` (no verification).
// invalid_argument "bad_certificate" when it cannot be encoded or its
// validity dates do not parse.
Result<ExternalCertInfo> CertInfoOf(X509* cert);

// On-disk CDP cache entry: a text header naming the URL and the download
// time, then the CRL body exactly as it was downloaded.
std::string EncodeCacheEntry(std::string_view url, int64_t fetched_at, std::string_view body);
struct CacheEntry {
  std::string url;
  int64_t fetched_at = 0;
  std::string body;
};
// invalid_argument "bad_crl_cache" when the header is malformed.
Result<CacheEntry> DecodeCacheEntry(std::string_view data);

}  // namespace hostca::crl::internal
