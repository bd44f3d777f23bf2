// The parsing the external-CA path (crl/external_verifier.h) does on
// untrusted bytes, as crl/internal/external_parse.h exposes it:
// - ParseCrls: a crl_dir file or a CDP download, PEM (any number of CRL
//   blocks among others) or concatenated DER; each CRL is re-encoded, its
//   dates read, and CheckCrl'ed against every certificate of the same input
//   (a seed holds an issuer and its CRL, so signatures really verify);
// - a certificate, PEM or DER, as a client presents it: its http:// CDP URLs
//   (HttpCdpUrls) and the fields hostca records (CertInfoOf);
// - SplitHttpUrl (a CDP URL or a redirect Location) and DecodeCacheEntry
//   (a file of the CDP disk cache) on the raw input.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/pem.h"
#include "crl/internal/external_crls.h"
#include "crl/internal/external_parse.h"
#include "fuzz/fuzz_check.h"

namespace {

namespace internal = hostca::crl::internal;

void CheckCert(X509* cert) {
  const std::vector<std::string> urls = internal::HttpCdpUrls(cert);
  FUZZ_CHECK(urls.size() <= internal::kMaxCdpUrls);
  for (const std::string& url : urls) {
    FUZZ_CHECK(url.size() <= internal::kMaxUrlLength);
    FUZZ_CHECK(internal::SplitHttpUrl(url).ok());
  }
  auto info = internal::CertInfoOf(cert);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().reason() == "bad_certificate");
    return;
  }
  FUZZ_CHECK(!info->der.empty());
  FUZZ_CHECK(info->fingerprint_sha256.size() == 64);
  FUZZ_CHECK(!info->serial_hex.empty());
  for (const std::string& dns : info->dns_names) {
    for (const char c : dns) {
      FUZZ_CHECK(!std::isupper(static_cast<unsigned char>(c)));
    }
  }
  // What the verifier does with a presented certificate's DER: parse it again.
  FUZZ_CHECK(hostca::CertFromDer(info->der).ok());
}

void CheckCrl(X509_CRL* crl, const std::vector<hostca::X509Ptr>& certs) {
  auto der = hostca::CrlToDer(crl);
  if (der.ok()) {
    FUZZ_CHECK(internal::ParseCrls(*der).ok());
  }
  (void)internal::NameToString(X509_CRL_get_issuer(crl));
  const int64_t next = internal::NextUpdateOf(crl);
  int64_t this_update = 0;
  const bool dated = internal::AsnTimeToUnix(X509_CRL_get0_lastUpdate(crl), &this_update);
  for (const hostca::X509Ptr& issuer : certs) {
    for (const int64_t now : {int64_t{0}, dated ? this_update : int64_t{1} << 40, next - 1}) {
      const internal::CrlFit fit = internal::CheckCrl(crl, issuer.get(), now);
      FUZZ_CHECK(!internal::DescribeFit(fit, crl, issuer.get()).empty());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<hostca::X509Ptr> certs;
  if (input.find("-----BEGIN") != std::string_view::npos) {
    auto bundle = hostca::CertsFromPemBundle(input);
    if (bundle.ok()) {
      certs = std::move(*bundle);
    }
  } else if (auto cert = hostca::CertFromPemOrDer(input); cert.ok()) {
    certs.push_back(std::move(*cert));
  }
  for (const hostca::X509Ptr& cert : certs) {
    CheckCert(cert.get());
  }

  auto crls = internal::ParseCrls(input);
  if (crls.ok()) {
    FUZZ_CHECK(!crls->empty());
    for (const hostca::X509CrlPtr& crl : *crls) {
      CheckCrl(crl.get(), certs);
    }
  } else {
    FUZZ_CHECK(crls.status().reason() == "bad_crl");
  }

  if (auto url = internal::SplitHttpUrl(input); url.ok()) {
    FUZZ_CHECK(!url->host.empty());
    FUZZ_CHECK(url->port >= 1 && url->port <= 65535);
    FUZZ_CHECK(!url->path.empty() && url->path[0] == '/');
  }
  if (auto entry = internal::DecodeCacheEntry(input); entry.ok()) {
    const std::string again =
        internal::EncodeCacheEntry(entry->url, entry->fetched_at, entry->body);
    auto round = internal::DecodeCacheEntry(again);
    FUZZ_CHECK(round.ok() && round->url == entry->url && round->fetched_at == entry->fetched_at &&
               round->body == entry->body);
  }
  return 0;
}
