// Revocation and CRLs over the real server (DESIGN.md section 6), checked
// with the openssl and certtool command lines and Botan's path validation.
#include <botan/certstor.h>
#include <botan/data_src.h>
#include <botan/x509_crl.h>
#include <botan/x509cert.h>
#include <botan/x509path.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <thread>

#include "common/encoding.h"
#include "common/pem.h"
#include "tests/api_fixture.h"
#include "tests/server_process.h"

namespace hostca::testing {
namespace {

struct Crl {
  int status = 0;
  std::string body, etag;
};

Crl FetchCrl(int http_port, const std::string& path = "/crl", const std::string& etag = "") {
  httplib::Client cli("127.0.0.1", http_port);
  httplib::Headers h;
  if (!etag.empty()) {
    h.emplace("If-None-Match", etag);
  }
  auto res = cli.Get(path.c_str(), h);
  REQUIRE(res);
  return Crl{res->status, res->body, res->get_header_value("ETag")};
}

std::string CrlText(const TempDir& dir, const std::string& der) {
  std::ofstream(dir.Sub("crl.der"), std::ios::binary) << der;
  return Run("openssl crl -inform DER -noout -text -in " + ShellQuote(dir.Sub("crl.der"))).output;
}

// How `openssl crl -text` prints a serial: upper case, whole bytes.
std::string OpensslSerial(std::string hex) {
  if (hex.size() % 2 != 0) {
    hex.insert(hex.begin(), '0');
  }
  for (char& c : hex) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return hex;
}

long CrlNumber(const std::string& text) {
  std::smatch m;
  static const std::regex re("CRL Number: *\\n *([0-9A-Fa-f]+)");
  REQUIRE(std::regex_search(text, m, re));
  return std::stol(m[1], nullptr, 16);
}

TEST_CASE("openssl, certtool and Botan refuse a revoked certificate with the fetched CRL") {
  ApiFixture ca;
  HostCreds a, b;
  REQUIRE(ca.Enroll("a.example", ca.CreateToken("ta"), &a).status == 201);
  REQUIRE(ca.Enroll("b.example", ca.CreateToken("tb"), &b).status == 201);
  REQUIRE(ca.AdminCall("POST", "/v1/certs/" + a.serial + "/revoke", {{"reason", "keyCompromise"}})
              .status == 200);
  REQUIRE(ca.AdminCall("POST", "/v1/crl/publish").status == 200);
  const Crl crl = FetchCrl(ca.http_port());
  REQUIRE(crl.status == 200);
  TempDir dir;
  std::ofstream(dir.Sub("crl.der"), std::ios::binary) << crl.body;
  REQUIRE(Run("openssl crl -inform DER -in " + ShellQuote(dir.Sub("crl.der")) + " -out " +
              ShellQuote(dir.Sub("crl.pem")))
              .exit_code == 0);
  std::ofstream(dir.Sub("a.pem")) << a.cert_pem;
  std::ofstream(dir.Sub("b.pem")) << b.cert_pem;
  const std::string base = "openssl verify -crl_check -CAfile " + ShellQuote(ca.ca_path()) +
                           " -CRLfile " + ShellQuote(dir.Sub("crl.pem")) + " ";
  const auto revoked = Run(base + ShellQuote(dir.Sub("a.pem")));
  REQUIRE(revoked.exit_code != 0);
  REQUIRE_THAT(revoked.output, Catch::Contains("certificate revoked"));
  REQUIRE(Run(base + ShellQuote(dir.Sub("b.pem"))).exit_code == 0);

  const std::string gnutls = "certtool --verify --load-ca-certificate " + ShellQuote(ca.ca_path()) +
                             " --load-crl " + ShellQuote(dir.Sub("crl.pem")) + " --infile ";
  REQUIRE(Run(gnutls + ShellQuote(dir.Sub("a.pem"))).exit_code != 0);
  REQUIRE(Run(gnutls + ShellQuote(dir.Sub("b.pem"))).exit_code == 0);

  auto cert = [](const std::string& pem) {
    Botan::DataSource_Memory src(pem);
    return Botan::X509_Certificate(src);
  };
  Botan::Certificate_Store_In_Memory store;
  store.add_certificate(cert(*ReadFile(ca.ca_path())));
  store.add_crl(Botan::X509_CRL(std::vector<uint8_t>(crl.body.begin(), crl.body.end())));
  const Botan::Path_Validation_Restrictions require_crl(true, 110);
  auto validate = [&](const std::string& pem, const std::string& name) {
    const std::vector<Botan::X509_Certificate> chain = {cert(pem)};
    return Botan::x509_path_validate(chain, require_crl, store, name,
                                     Botan::Usage_Type::TLS_SERVER_AUTH);
  };
  REQUIRE_FALSE(validate(a.cert_pem, "a.example").successful_validation());
  const auto ok = validate(b.cert_pem, "b.example");
  INFO(ok.result_string());
  REQUIRE(ok.successful_validation());
}

TEST_CASE("openssl crl -text: the number rises by one per publish, reasons, nextUpdate") {
  ApiFixture ca;
  HostCreds a;
  REQUIRE(ca.Enroll("a.example", ca.CreateToken("t"), &a).status == 201);
  REQUIRE(ca.AdminCall("POST", "/v1/hosts/a.example/revoke", {{"reason", "cessationOfOperation"}})
              .status == 200);
  TempDir dir;
  const long first = ca.AdminCall("POST", "/v1/crl/publish").body["number"];
  const std::string text1 = CrlText(dir, FetchCrl(ca.http_port()).body);
  REQUIRE(CrlNumber(text1) == first);
  REQUIRE(ca.AdminCall("POST", "/v1/crl/publish").body["number"] == first + 1);
  const std::string text2 = CrlText(dir, FetchCrl(ca.http_port()).body);
  REQUIRE(CrlNumber(text2) == first + 1);
  REQUIRE_THAT(text2, Catch::Contains("Cessation Of Operation") &&
                          Catch::Contains("Serial Number: " + OpensslSerial(a.serial)));
  const auto published = ca.AdminCall("POST", "/v1/crl/publish").body;
  REQUIRE(*ParseRfc3339(std::string(published["next_update"])) -
              *ParseRfc3339(std::string(published["this_update"])) ==
          7 * 86400);
}

TEST_CASE("ETag: the second GET gets 304 with no body, PEM on request, HTTPS too") {
  ApiFixture ca;
  const Crl first = FetchCrl(ca.http_port());
  REQUIRE(first.status == 200);
  REQUIRE_FALSE(first.etag.empty());
  const Crl again = FetchCrl(ca.http_port(), "/crl", first.etag);
  REQUIRE(again.status == 304);
  REQUIRE(again.body.empty());
  const Crl pem = FetchCrl(ca.http_port(), "/crl?format=pem");
  REQUIRE(pem.body.rfind("-----BEGIN X509 CRL-----", 0) == 0);
  REQUIRE(pem.etag == first.etag);
  auto parsed = CrlFromPemOrDer(pem.body);
  REQUIRE(parsed.ok());
  REQUIRE(*CrlToDer(parsed->get()) == first.body);
  const HttpResult https = ca.Call("GET", "/v1/crl");
  REQUIRE(https.status == 200);
  REQUIRE(https.raw == first.body);
  const auto cc = https.headers.find("Cache-Control");
  REQUIRE(cc != https.headers.end());
  REQUIRE(cc->second == "public, max-age=14400");  // level high: 4 h
  ca.SetLevel("very-high");
  REQUIRE(ca.Call("GET", "/v1/crl").headers.find("Cache-Control")->second ==
          "public, max-age=3600");
}

TEST_CASE("a burst of 500 revocations from 8 threads lands in few CRLs") {
  ApiFixture ca;
  const std::string token = ca.CreateToken("many", 500);
  std::vector<std::string> serials(500);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 500; i += 8) {
        HostCreds c;
        if (ca.Enroll("h" + std::to_string(i) + ".example", token, &c).status == 201) {
          serials[i] = c.serial;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  const long before = ca.AdminCall("POST", "/v1/crl/publish").body["number"];
  threads.clear();
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 500; i += 8) {
        ca.AdminCall("POST", "/v1/certs/" + serials[i] + "/revoke", {{"reason", "superseded"}});
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  // The publisher coalesces on its own; poll the CRL (bounded) until all 500 are in.
  TempDir dir;
  std::string text;
  for (int i = 0; i < 500; ++i) {
    text = CrlText(dir, FetchCrl(ca.http_port()).body);
    if (std::count(serials.begin(), serials.end(), "") == 0 && [&] {
          size_t n = 0;
          for (size_t p = text.find("Serial Number:"); p != std::string::npos;
               p = text.find("Serial Number:", p + 1)) {
            ++n;
          }
          return n;
        }() == 500) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const std::string& s : serials) {
    REQUIRE(text.find("Serial Number: " + OpensslSerial(s)) != std::string::npos);
  }
  const long published = CrlNumber(text) - before;
  INFO("CRLs published for 500 revocations: " << published);
  REQUIRE(published >= 1);
  REQUIRE(published < 50);
}

}  // namespace
}  // namespace hostca::testing
