// Tests of the host state directory: reading a certificate, saving an issued
// certificate in order, and recovering from an interrupted save. Certificates
// are made with the openssl command line, not with the code under test.
#include <catch2/catch.hpp>

#include "cli/keygen.h"
#include "cli/state.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/testutil.h"

namespace hostca::cli {
namespace {

using hostca::testing::Run;
using hostca::testing::ShellQuote;
using hostca::testing::TempDir;

constexpr char kHostId[] = "0b5c3e8e-2f3c-4d6a-9d61-5c7a1f4e2b10";

// A CA and a host certificate for `key_pem`, issued by openssl(1).
struct Fixture {
  TempDir tmp;
  std::string ca_pem;
  std::string other_ca_pem;

  Fixture() {
    const std::string d = ShellQuote(tmp.path().string());
    for (const std::string ca : {"ca", "other"}) {
      const auto r =
          Run("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 " +
              "-nodes -keyout " + ca + ".key -out " + ca + ".crt -days 30 -subj /CN=" + ca +
              " -addext basicConstraints=critical,CA:TRUE");
      REQUIRE(r.exit_code == 0);
    }
    ca_pem = *ReadFile(tmp.Sub("ca.crt"));
    other_ca_pem = *ReadFile(tmp.Sub("other.crt"));
  }

  // Issues a certificate for `key` signed by `ca` ("ca" or "other").
  std::string Issue(EVP_PKEY* key, const std::string& ca = "ca") {
    REQUIRE(WriteFileAtomic(tmp.Sub("host.csr"), *MakeCsrPem(key, "web1"), 0644).ok());
    REQUIRE(
        WriteFileAtomic(tmp.Sub("ext.cnf"),
                        std::string("subjectAltName=DNS:web1.example.com,DNS:web1,URI:urn:uuid:") +
                            kHostId + "\n",
                        0644)
            .ok());
    const std::string d = ShellQuote(tmp.path().string());
    const auto r = Run("cd " + d + " && openssl x509 -req -in host.csr -CA " + ca + ".crt -CAkey " +
                       ca + ".key -set_serial 0x00ab12 -days 10 -extfile ext.cnf -out host.crt");
    REQUIRE(r.exit_code == 0);
    return *ReadFile(tmp.Sub("host.crt"));
  }
};

IssuedCert Issued(const std::string& cert, const std::string& ca) {
  return IssuedCert{kHostId, "ab12", cert, {ca}};
}

TEST_CASE("InspectCertificate reads serial, names, host ID and validity") {
  Fixture f;
  auto key = GenerateKey(KeyType::kP256);
  REQUIRE(key.ok());
  auto cert = CertFromPem(f.Issue(key->get()));
  REQUIRE(cert.ok());
  auto info = InspectCertificate(cert->get());
  REQUIRE(info.ok());
  CHECK(info->serial_hex == "ab12");
  CHECK(info->host_id == kHostId);
  CHECK(info->dns_names == std::vector<std::string>{"web1.example.com", "web1"});
  CHECK(info->not_after - info->not_before == 10 * 86400);
}

TEST_CASE("SaveIssued writes the state and LoadHostState reads it back") {
  Fixture f;
  const StatePaths paths(f.tmp.Sub("state"));
  auto key = GenerateKey(KeyType::kEd25519);
  REQUIRE(key.ok());
  const std::string cert = f.Issue(key->get());
  REQUIRE(SaveIssued(paths, f.ca_pem, "web1.example.com", key->get(), Issued(cert, f.ca_pem)).ok());
  CHECK(*FileMode(paths.host_key()) == 0600);
  CHECK_FALSE(FileExists(paths.host_key_new()));
  CHECK(*ReadFile(paths.host_crt()) == cert);
  CHECK(*ReadFile(paths.chain_pem()) == f.ca_pem);
  const auto meta = nlohmann::json::parse(*ReadFile(paths.host_json()));
  CHECK(meta["host_id"] == kHostId);
  CHECK(meta["serial"] == "ab12");
  CHECK(meta["hostname"] == "web1.example.com");

  auto st = LoadHostState(paths);
  REQUIRE(st.ok());
  CHECK(st->hostname == "web1.example.com");
  CHECK(st->info.serial_hex == "ab12");
  CHECK(st->chain.size() == 1);
  CHECK(EVP_PKEY_eq(st->key.get(), key->get()) == 1);
}

TEST_CASE("SaveIssued refuses a certificate that does not check out") {
  Fixture f;
  const StatePaths paths(f.tmp.Sub("state"));
  auto key = GenerateKey(KeyType::kP256);
  auto other_key = GenerateKey(KeyType::kP256);
  REQUIRE((key.ok() && other_key.ok()));
  SECTION("not for our key") {
    const std::string cert = f.Issue(other_key->get());
    const Status st = SaveIssued(paths, f.ca_pem, "web1", key->get(), Issued(cert, f.ca_pem));
    CHECK(st.reason() == "bad_response");
  }
  SECTION("not from the pinned CA") {
    const std::string cert = f.Issue(key->get(), "other");
    const Status st = SaveIssued(paths, f.ca_pem, "web1", key->get(), Issued(cert, f.other_ca_pem));
    CHECK(st.reason() == "bad_response");
  }
  CHECK_FALSE(FileExists(paths.host_crt()));
  CHECK_FALSE(FileExists(paths.host_key()));
}

TEST_CASE("LoadHostState finishes or discards an interrupted save") {
  Fixture f;
  const StatePaths paths(f.tmp.Sub("state"));
  auto old_key = GenerateKey(KeyType::kP256);
  auto new_key = GenerateKey(KeyType::kP256);
  REQUIRE((old_key.ok() && new_key.ok()));
  REQUIRE(
      SaveIssued(paths, f.ca_pem, "web1", old_key->get(), Issued(f.Issue(old_key->get()), f.ca_pem))
          .ok());
  REQUIRE(WriteFileAtomic(paths.host_key_new(), *PrivateKeyToPem(new_key->get()), 0600).ok());
  SECTION("crash before the new certificate was written: the new key is dropped") {
    auto st = LoadHostState(paths);
    REQUIRE(st.ok());
    CHECK(EVP_PKEY_eq(st->key.get(), old_key->get()) == 1);
  }
  SECTION("crash after the new certificate was written: the new key is installed") {
    REQUIRE(WriteFileAtomic(paths.host_crt(), f.Issue(new_key->get()), 0644).ok());
    auto st = LoadHostState(paths);
    REQUIRE(st.ok());
    CHECK(EVP_PKEY_eq(st->key.get(), new_key->get()) == 1);
    CHECK(*FileMode(paths.host_key()) == 0600);
  }
  CHECK_FALSE(FileExists(paths.host_key_new()));
}

TEST_CASE("missing state gives stable reasons") {
  TempDir tmp;
  const StatePaths paths(tmp.Sub("empty"));
  CHECK(LoadHostState(paths).status().reason() == "not_enrolled");
  CHECK(LoadPinnedCa(paths).status().reason() == "ca_not_pinned");
}

}  // namespace
}  // namespace hostca::cli
