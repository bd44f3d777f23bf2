// The PEM/DER readers of common/pem.h and common/der.h on untrusted bytes:
// certificate bundles and chains (trust bundles, client chains), CRLs (the
// external-CA CRL directory and CDP downloads), the PEM armour of CSRs, and
// the hand-written DER reader under the CSR walker. What parses is encoded
// again, as the server does when it stores or serves it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/der.h"
#include "common/pem.h"
#include "fuzz/fuzz_check.h"

namespace {

// Walks every TLV, descending into constructed ones, as far as ReadDer
// accepts; checks that what it returns lies inside its input.
void WalkDer(std::string_view in, int depth) {
  while (!in.empty()) {
    const std::string_view before = in;
    hostca::DerTlv tlv;
    if (!hostca::ReadDer(&in, &tlv)) {
      FUZZ_CHECK(in.data() == before.data() && in.size() == before.size());
      return;
    }
    FUZZ_CHECK(tlv.whole.data() == before.data());
    FUZZ_CHECK(tlv.whole.size() <= before.size() && tlv.whole.size() >= 2);
    FUZZ_CHECK(in.size() == before.size() - tlv.whole.size());
    FUZZ_CHECK(tlv.content.data() + tlv.content.size() == tlv.whole.data() + tlv.whole.size());
    FUZZ_CHECK(static_cast<uint8_t>(tlv.whole[0]) == tlv.tag);
    hostca::DerTlv same;
    std::string_view again = tlv.whole;
    FUZZ_CHECK(hostca::ReadDer(&again, tlv.tag, &same) && again.empty());
    if ((tlv.tag & 0x20) != 0 && depth < 32) {
      WalkDer(tlv.content, depth + 1);
    }
  }
}

void Certs(std::string_view input) {
  auto bundle = hostca::CertsFromPemBundle(input);
  if (bundle.ok()) {
    FUZZ_CHECK(!bundle->empty());
    for (const auto& cert : *bundle) {
      FUZZ_CHECK(cert != nullptr);
      (void)hostca::CertToDer(cert.get());
      (void)hostca::CertFingerprintSha256(cert.get());
    }
  } else {
    FUZZ_CHECK(bundle.status().code() == hostca::Code::kInvalidArgument);
  }
  auto cert = hostca::CertFromPemOrDer(input);
  if (cert.ok()) {
    auto der = hostca::CertToDer(cert->get());
    if (der.ok()) {
      // What we encode must read back (the store keeps this DER).
      (void)hostca::CertFromDer(*der);
    }
    (void)hostca::CertToPem(cert->get());
  }
}

void Crl(std::string_view input) {
  auto crl = hostca::CrlFromPemOrDer(input);
  if (crl.ok()) {
    FUZZ_CHECK(*crl != nullptr);
    (void)hostca::CrlToDer(crl->get());
    (void)hostca::CrlToPem(crl->get());
  } else {
    FUZZ_CHECK(crl.status().code() == hostca::Code::kInvalidArgument);
  }
}

void Csr(std::string_view input) {
  auto der = hostca::CsrDerOf(input);
  if (der.ok()) {
    WalkDer(*der, 0);
  } else {
    FUZZ_CHECK(der.status().reason() == "bad_csr");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  WalkDer(input, 0);
  Certs(input);
  Crl(input);
  Csr(input);
  return 0;
}
