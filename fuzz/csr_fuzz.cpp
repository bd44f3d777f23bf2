// ca::ParseAndCheckCsr on untrusted bytes, as POST /v1/enroll and
// POST /v1/renew hand it the "csr" field: PEM or DER, at most 64 KiB.
// Inputs that are not PEM are also tried inside PEM armour, so the fuzzed
// DER reaches the walker through both paths.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ca/csr.h"
#include "common/pem.h"
#include "fuzz/fuzz_check.h"

namespace {

void Check(std::string_view input, const hostca::ca::CsrPolicy& policy) {
  auto csr = hostca::ca::ParseAndCheckCsr(input, policy);
  if (!csr.ok()) {
    FUZZ_CHECK(csr.status().code() == hostca::Code::kInvalidArgument ||
               csr.status().code() == hostca::Code::kInternal);
    return;
  }
  FUZZ_CHECK(csr->public_key != nullptr);
  FUZZ_CHECK(!csr->key_description.empty());
  FUZZ_CHECK(!csr->spki_der.empty());
  FUZZ_CHECK(csr->requested_dns_names.size() <= 32);
  // What the issuer does next with the key: re-encode it.
  auto spki = hostca::PublicKeyToDer(csr->public_key.get());
  FUZZ_CHECK(spki.ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const hostca::ca::CsrPolicy policy;
  Check(input, policy);
  if (input.find("-----BEGIN") == std::string_view::npos && !input.empty()) {
    Check(hostca::DerToPem(input, "CERTIFICATE REQUEST"), policy);
  }
  return 0;
}
