// Tests of the host's CRL checks: CRLs are made with `openssl ca -gencrl`,
// not with the code under test.
#include <catch2/catch.hpp>

#include "cli/crl_ops.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/testutil.h"

namespace hostca::cli {
namespace {

using hostca::testing::Run;
using hostca::testing::ShellQuote;
using hostca::testing::TempDir;

// Two CAs made by openssl(1): "ca" and "imposter", which has the same subject
// name (CN=ca) but its own key; plus "other" with another name.
struct CrlFixture {
  TempDir tmp;
  std::string d = ShellQuote(tmp.path().string());

  CrlFixture() {
    for (const auto& [file, cn] : {std::pair<std::string, std::string>{"ca", "ca"},
                                   {"imposter", "ca"},
                                   {"other", "other"}}) {
      const auto r =
          Run("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 " +
              "-nodes -keyout " + file + ".key -out " + file + ".crt -days 30 -subj /CN=" + cn +
              " -addext basicConstraints=critical,CA:TRUE");
      REQUIRE(r.exit_code == 0);
    }
    const std::string conf =
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ndefault_md = sha256\n"
        "default_crl_days = 7\n";
    REQUIRE(WriteFileAtomic(tmp.Sub("nonum.cnf"), conf, 0644).ok());
    REQUIRE(WriteFileAtomic(tmp.Sub("ca.cnf"), conf + "crlnumber = crlnumber\n", 0644).ok());
    REQUIRE(WriteFileAtomic(tmp.Sub("index.txt"),
                            "R\t301231000000Z\t260101000000Z,keyCompromise\t0ABC\tunknown\t/CN=x\n",
                            0644)
                .ok());
  }

  // A CRL with `number` signed by `ca`; `crlnumber` omitted when number < 0.
  std::string Crl(const std::string& ca, int number) {
    if (number >= 0) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "%02X\n", number);
      REQUIRE(WriteFileAtomic(tmp.Sub("crlnumber"), hex, 0644).ok());
    }
    const std::string conf = number >= 0 ? "ca.cnf" : "nonum.cnf";
    const auto r = Run("cd " + d + " && openssl ca -config " + conf + " -gencrl -keyfile " + ca +
                       ".key -cert " + ca + ".crt -out crl.pem 2>&1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return *ReadFile(tmp.Sub("crl.pem"));
  }
  std::string CaPem() { return *ReadFile(tmp.Sub("ca.crt")); }
};

Result<CrlInfo> Check(const std::string& crl_pem, const std::string& ca_pem) {
  auto crl = CrlFromPemOrDer(crl_pem);
  REQUIRE(crl.ok());
  return CheckCrl(crl->get(), ca_pem);
}

TEST_CASE("CheckCrl reads number and entries of a CRL from the pinned CA") {
  CrlFixture f;
  auto info = Check(f.Crl("ca", 7), f.CaPem());
  REQUIRE(info.ok());
  REQUIRE(info->number == 7);
  REQUIRE(info->entries == 1);
  REQUIRE(info->next_update - info->this_update == 7 * 86400);
}

TEST_CASE("CheckCrl refuses other issuers and forged signatures with distinct reasons") {
  CrlFixture f;
  auto other = Check(f.Crl("other", 1), f.CaPem());
  REQUIRE(other.status().reason() == "crl_wrong_issuer");
  // Same issuer name, another key: only the signature tells them apart.
  auto forged = Check(f.Crl("imposter", 9), f.CaPem());
  REQUIRE(forged.status().reason() == "crl_bad_signature");
  auto unnumbered = Check(f.Crl("ca", -1), f.CaPem());
  REQUIRE(unnumbered.status().reason() == "bad_crl");
}

TEST_CASE("CheckCrlSuccessor refuses a lower number and a reused one") {
  const CrlInfo five{5, 0, 0, 0};
  const CrlInfo four{4, 0, 0, 0};
  const CrlInfo six{6, 0, 0, 0};
  REQUIRE(CheckCrlSuccessor(nullptr, "", four, "a").ok());
  REQUIRE(CheckCrlSuccessor(&five, "a", six, "b").ok());
  REQUIRE(CheckCrlSuccessor(&five, "a", five, "a").ok());
  REQUIRE(CheckCrlSuccessor(&five, "a", four, "b").reason() == "crl_rollback");
  REQUIRE(CheckCrlSuccessor(&five, "a", five, "b").reason() == "crl_number_reused");
}

TEST_CASE("LoadLocalCrl trusts crl.pem and the cached ETag only for that CRL") {
  CrlFixture f;
  const StatePaths paths(f.tmp.Sub("state"));
  REQUIRE(MakeDirs(paths.dir(), 0700).ok());
  REQUIRE(!LoadLocalCrl(paths, f.CaPem())->has_value());

  REQUIRE(WriteFileAtomic(paths.crl_pem(), f.Crl("ca", 3), 0644).ok());
  REQUIRE(WriteFileAtomic(paths.crl_json(),
                          R"({"crl_number": 3, "etag": "\"3\"", "checked_at": 1000})", 0644)
              .ok());
  auto local = LoadLocalCrl(paths, f.CaPem());
  REQUIRE(local.ok());
  REQUIRE(local->has_value());
  REQUIRE((*local)->info.number == 3);
  REQUIRE((*local)->etag == "\"3\"");
  // Due one interval after the last check, or at nextUpdate if that is sooner.
  REQUIRE(CrlRefreshDueAt(*local, 3600, 2000) == 4600);
  LocalCrl late = **local;
  late.checked_at = late.info.next_update - 1000;
  REQUIRE(CrlRefreshDueAt(late, 3600, late.checked_at) == late.info.next_update);
  REQUIRE(CrlRefreshDueAt(std::nullopt, 3600, 2000) == 2000);

  // crl.json describing another CRL: its ETag is not sent, the refresh is due.
  REQUIRE(WriteFileAtomic(paths.crl_pem(), f.Crl("ca", 4), 0644).ok());
  local = LoadLocalCrl(paths, f.CaPem());
  REQUIRE((*local)->info.number == 4);
  REQUIRE((*local)->etag.empty());
  REQUIRE(CrlRefreshDueAt(*local, 3600, 2000) == 2000);

  // A CRL from another CA or a damaged file counts as none.
  REQUIRE(WriteFileAtomic(paths.crl_pem(), f.Crl("imposter", 8), 0644).ok());
  REQUIRE(!LoadLocalCrl(paths, f.CaPem())->has_value());
  REQUIRE(WriteFileAtomic(paths.crl_pem(), "garbage", 0644).ok());
  REQUIRE(!LoadLocalCrl(paths, f.CaPem())->has_value());
}

}  // namespace
}  // namespace hostca::cli
