// server::LoadConfigFile, the TOML configuration loader, and SplitHostPort
// on the listen addresses it yields (what `serve` does next). The loader
// reads a path, so each input is written to an in-memory file (memfd) and
// loaded through /proc/self/fd. The file is operator-written, not network
// input, but a typo or a hostile edit must give an error, never a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_check.h"
#include "server/options.h"

namespace {

int MemFile() {
  static const int fd = memfd_create("hostca-config-fuzz", 0);
  FUZZ_CHECK(fd >= 0);
  return fd;
}

void Write(int fd, const uint8_t* data, size_t size) {
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    FUZZ_CHECK(n > 0);
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void Address(const std::string& addr) {
  std::string host;
  int port = -1;
  if (hostca::server::SplitHostPort(addr, &host, &port).ok()) {
    FUZZ_CHECK(!host.empty());
    FUZZ_CHECK(port >= 0 && port <= 65535);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = MemFile();
  Write(fd, data, size);
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  hostca::server::ServerOptions options;
  const hostca::Status st = hostca::server::LoadConfigFile(path, &options);
  if (!st.ok()) {
    FUZZ_CHECK(st.code() == hostca::Code::kInvalidArgument);
    return 0;
  }
  // The ranges the loader promises to have checked.
  FUZZ_CHECK(options.validity_days >= 1 && options.validity_days <= 3650);
  FUZZ_CHECK(options.crl_validity_days >= 1 && options.crl_validity_days <= 365);
  FUZZ_CHECK(options.crl_republish_seconds >= 60 && options.crl_republish_seconds <= 86400);
  FUZZ_CHECK(options.min_rsa_bits >= 2048);
  FUZZ_CHECK(options.max_batch >= 1 && options.threads >= 0);
  FUZZ_CHECK(options.mapped_mib >= 16 && options.mapped_mib <= 1048576);
  FUZZ_CHECK(options.tidy_retention_days >= 0 && options.tidy_interval_seconds >= 60);
  Address(options.listen);
  Address(options.http_listen);
  return 0;
}
