// enrollment::NormalizeHostname and IsHostId: the "hostname" and "aliases"
// of enrollment and admin calls, and the host ID or name in admin paths.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "enrollment/names.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto name = hostca::enrollment::NormalizeHostname(input);
  if (name.ok()) {
    // Same length, lower case LDH, idempotent.
    FUZZ_CHECK(name->size() == input.size());
    FUZZ_CHECK(!name->empty() && name->size() <= 253);
    FUZZ_CHECK(name->front() != '.' && name->back() != '.' && name->back() != '-');
    for (char c : *name) {
      FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
    }
    FUZZ_CHECK(name->find("..") == std::string::npos);
    auto again = hostca::enrollment::NormalizeHostname(*name);
    FUZZ_CHECK(again.ok() && *again == *name);
  } else {
    FUZZ_CHECK(name.status().reason() == "bad_hostname");
  }
  if (hostca::enrollment::IsHostId(input)) {
    FUZZ_CHECK(input.size() == 36);
  }
  return 0;
}
