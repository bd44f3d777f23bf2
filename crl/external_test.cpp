// crl/external: ExternalVerifier against an external CA made by the openssl
// command line (tests/external_ca.h): chains, expiry, CRLs from a directory
// and from distribution points over a real loopback HTTP server, the disk
// cache, and agreement with `openssl verify`.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "crl/external_verifier.h"
#include "crl/internal/external_parse.h"
#include "tests/external_ca.h"
#include "tests/testutil.h"

namespace hostca::crl {
namespace {

using hostca::testing::ExternalCa;
using hostca::testing::Run;
using hostca::testing::ShellQuote;
using hostca::testing::TempDir;

X509Ptr Cert(const std::string& pem) {
  auto cert = CertFromPem(pem);
  REQUIRE(cert.ok());
  return std::move(*cert);
}

X509StackPtr Stack(std::initializer_list<std::string> pems) {
  X509StackPtr stack(sk_X509_new_null());
  for (const std::string& pem : pems) {
    sk_X509_push(stack.get(), Cert(pem).release());
  }
  return stack;
}

void WriteBytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  REQUIRE(out.flush());
}

std::string PemToDer(const std::string& crl_pem) {
  auto crl = CrlFromPemOrDer(crl_pem);
  REQUIRE(crl.ok());
  return *CrlToDer(crl->get());
}

// A CrlFetcher whose answers the test decides; counts calls.
struct FetchScript {
  std::mutex mu;
  std::function<Result<std::string>(const std::string&)> respond;
  std::vector<std::string> urls;
};
class ScriptedFetcher final : public CrlFetcher {
 public:
  explicit ScriptedFetcher(std::shared_ptr<FetchScript> script) : script_(std::move(script)) {}
  Result<std::string> Fetch(const std::string& url) override {
    std::lock_guard<std::mutex> lock(script_->mu);
    script_->urls.push_back(url);
    return script_->respond(url);
  }

 private:
  std::shared_ptr<FetchScript> script_;
};

Result<std::string> Refuse(const std::string& url) {
  return Unavailable("CRL download from " + url + " failed: scripted", "external_crl_unavailable");
}

// An external CA in a temporary directory and a fake clock at the real time
// (openssl signs with the real time).
struct Fixture {
  explicit Fixture(const std::string& leaf_cdp = "", const std::string& inter_cdp = "")
      : ca(tmp.Sub("ext"), "External", leaf_cdp, inter_cdp) {
    std::filesystem::create_directories(crl_dir);
  }
  int64_t now() const { return clock.NowSeconds(); }
  ExternalCa::Leaf Leaf(const std::string& name) {
    return ca.IssueLeaf(name, name + ".example.com", {name + ".example.com"}, now() - 60,
                        now() + 86400);
  }
  ExternalTrustOptions Options(ExternalCrlCheck check = ExternalCrlCheck::kLeaf) const {
    ExternalTrustOptions o;
    o.trust_bundle_pem = ca.bundle_pem();
    o.crl_check = check;
    o.crl_dir = crl_dir;
    o.cdp_download = false;
    return o;
  }
  std::unique_ptr<ExternalVerifier> Verifier(const ExternalTrustOptions& o,
                                             std::unique_ptr<CrlFetcher> fetcher = nullptr) {
    auto v = ExternalVerifier::Create(o, clock, std::move(fetcher));
    INFO(v.status().ToString());
    REQUIRE(v.ok());
    return std::move(*v);
  }
  Result<ExternalCertInfo> Verify(const ExternalVerifier& v, const ExternalCa::Leaf& leaf,
                                  bool send_intermediate = true) {
    X509Ptr cert = Cert(leaf.cert_pem);
    X509StackPtr chain = send_intermediate ? Stack({ca.intermediate_pem()}) : nullptr;
    return v.Verify(cert.get(), chain.get());
  }

  TempDir tmp;
  ExternalCa ca;
  FakeClock clock{static_cast<int64_t>(std::time(nullptr))};
  std::string crl_dir = tmp.Sub("crls");
};

// The reason of a failed verification, for REQUIRE.
std::string ReasonOf(const Result<ExternalCertInfo>& r) {
  return r.ok() ? std::string("ok") : r.status().reason();
}

TEST_CASE("crl_check names") {
  REQUIRE(*ParseExternalCrlCheck("leaf") == ExternalCrlCheck::kLeaf);
  REQUIRE(*ParseExternalCrlCheck("chain") == ExternalCrlCheck::kChain);
  REQUIRE(*ParseExternalCrlCheck("disabled") == ExternalCrlCheck::kDisabled);
  REQUIRE(ParseExternalCrlCheck("Leaf").status().reason() == "bad_crl_check");
  for (auto c : {ExternalCrlCheck::kLeaf, ExternalCrlCheck::kChain, ExternalCrlCheck::kDisabled}) {
    REQUIRE(*ParseExternalCrlCheck(ExternalCrlCheckName(c)) == c);
  }
}

TEST_CASE("a valid leaf with the intermediate sent by the client verifies") {
  Fixture f;
  WriteBytes(f.crl_dir + "/inter.pem", f.ca.IntermediateCrlPem());
  const auto leaf =
      f.ca.IssueLeaf("web1", "web1.example.com", {"web1.example.com", "Web1.Example.ORG"},
                     f.now() - 60, f.now() + 86400);
  auto v = f.Verifier(f.Options());
  auto info = f.Verify(*v, leaf);
  INFO(info.status().ToString());
  REQUIRE(info.ok());
  REQUIRE(info->der == *CertToDer(Cert(leaf.cert_pem).get()));
  REQUIRE(info->serial_hex == leaf.serial_hex);
  REQUIRE(info->serial_hex == "1000");
  REQUIRE(info->subject_dn == "CN=web1.example.com");
  REQUIRE(info->subject_cn == "web1.example.com");
  REQUIRE(info->issuer_dn == "CN=External Intermediate");
  REQUIRE(info->dns_names == std::vector<std::string>{"web1.example.com", "web1.example.org"});
  REQUIRE(info->not_before == f.now() - 60);
  REQUIRE(info->not_after == f.now() + 86400);
  // The fingerprint as the openssl command line computes it.
  const auto fp = Run("openssl x509 -noout -fingerprint -sha256 -in " + ShellQuote(leaf.cert_path));
  std::string expected = fp.output.substr(fp.output.find('=') + 1);
  std::erase_if(expected, [](char c) { return c == ':' || c == '\n'; });
  for (char& c : expected) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  REQUIRE(info->fingerprint_sha256 == expected);

  // As SSL_get_peer_cert_chain gives it on a server: the leaf first.
  X509Ptr cert = Cert(leaf.cert_pem);
  X509StackPtr with_leaf = Stack({leaf.cert_pem, f.ca.intermediate_pem()});
  REQUIRE(v->Verify(cert.get(), with_leaf.get()).ok());
  REQUIRE(v->ChainsToBundle(cert.get(), with_leaf.get()));

  const auto names = v->BundleSubjectNames();
  REQUIRE(names.size() == 2);
  REQUIRE(internal::NameToString(names[0]) == "CN=External Root");
  REQUIRE(internal::NameToString(names[1]) == "CN=External Intermediate");
  for (X509_NAME* name : names) {
    X509_NAME_free(name);
  }
}

TEST_CASE("an intermediate present only in the bundle also verifies") {
  Fixture f;
  const auto leaf = f.Leaf("web2");
  auto v = f.Verifier(f.Options(ExternalCrlCheck::kDisabled));
  REQUIRE(f.Verify(*v, leaf, /*send_intermediate=*/false).ok());

  // With only the root in the bundle the client must send the intermediate.
  auto o = f.Options(ExternalCrlCheck::kDisabled);
  o.trust_bundle_pem = f.ca.root_pem();
  auto root_only = f.Verifier(o);
  REQUIRE(f.Verify(*root_only, leaf).ok());
  const auto missing = f.Verify(*root_only, leaf, false);
  REQUIRE(ReasonOf(missing) == "external_untrusted");
  REQUIRE_THAT(missing.status().message(), Catch::Contains("CN=web2.example.com"));
}

TEST_CASE("a bundle must parse and hold a root") {
  Fixture f;
  FakeClock clock(0);
  auto o = f.Options();
  o.trust_bundle_pem = "not PEM";
  REQUIRE(ExternalVerifier::Create(o, clock, nullptr).status().reason() == "bad_trust_bundle");
  o.trust_bundle_pem = "";
  REQUIRE(ExternalVerifier::Create(o, clock, nullptr).status().reason() == "bad_trust_bundle");
  // An intermediate alone never leads to a root: refused up front.
  o.trust_bundle_pem = f.ca.intermediate_pem();
  REQUIRE(ExternalVerifier::Create(o, clock, nullptr).status().reason() == "bad_trust_bundle");
}

TEST_CASE("a certificate of another CA is untrusted") {
  Fixture f;
  ExternalCa other(f.tmp.Sub("other"), "Other");
  // The same names as the trusted CA, other keys.
  ExternalCa twin(f.tmp.Sub("twin"), "External");
  auto v = f.Verifier(f.Options(ExternalCrlCheck::kDisabled));
  for (ExternalCa* ca : {&other, &twin}) {
    const auto leaf =
        ca->IssueLeaf("x", "x.example.com", {"x.example.com"}, f.now() - 60, f.now() + 3600);
    X509Ptr cert = Cert(leaf.cert_pem);
    X509StackPtr chain = Stack({ca->intermediate_pem(), ca->root_pem()});
    const auto r = v->Verify(cert.get(), chain.get());
    INFO(r.status().ToString());
    REQUIRE(ReasonOf(r) == "external_untrusted");
    REQUIRE(r.status().code() == Code::kUnauthenticated);
    REQUIRE_FALSE(v->ChainsToBundle(cert.get(), chain.get()));
  }
  REQUIRE(ReasonOf(v->Verify(nullptr, nullptr)) == "external_untrusted");
}

TEST_CASE("expired and not yet valid certificates are refused") {
  Fixture f;
  const auto old = f.ca.IssueLeaf("old", "old.example.com", {"old.example.com"},
                                  f.now() - 10 * 86400, f.now() - 86400);
  const auto future = f.ca.IssueLeaf("future", "future.example.com", {"future.example.com"},
                                     f.now() + 86400, f.now() + 10 * 86400);
  auto v = f.Verifier(f.Options(ExternalCrlCheck::kDisabled));
  const auto expired = f.Verify(*v, old);
  REQUIRE(ReasonOf(expired) == "external_expired");
  REQUIRE(expired.status().code() == Code::kPermissionDenied);
  REQUIRE_THAT(expired.status().message(), Catch::Contains("CN=old.example.com") &&
                                               Catch::Contains(FormatRfc3339(f.now() - 86400)));
  const auto early = f.Verify(*v, future);
  REQUIRE(ReasonOf(early) == "external_not_yet_valid");
  REQUIRE(early.status().code() == Code::kPermissionDenied);
  // The clock decides, not the real time.
  f.clock.Advance(2 * 86400);
  REQUIRE(f.Verify(*v, future).ok());
  REQUIRE_FALSE(v->ChainsToBundle(Cert(old.cert_pem).get(), nullptr));
}

TEST_CASE("a leaf revoked on a PEM CRL in the directory is refused") {
  Fixture f;
  const auto good = f.Leaf("good");
  const auto bad = f.Leaf("bad");
  f.ca.Revoke(bad);
  WriteBytes(f.crl_dir + "/intermediate.crl.pem", f.ca.IntermediateCrlPem());
  auto v = f.Verifier(f.Options());
  REQUIRE(f.Verify(*v, good).ok());
  const auto r = f.Verify(*v, bad);
  REQUIRE(ReasonOf(r) == "external_revoked");
  REQUIRE(r.status().code() == Code::kPermissionDenied);
  REQUIRE_THAT(r.status().message(),
               Catch::Contains("CN=bad.example.com") && Catch::Contains("intermediate.crl.pem"));
  // Revocation does not affect the cheap check.
  REQUIRE(v->ChainsToBundle(Cert(bad.cert_pem).get(), nullptr));
}

TEST_CASE("a DER CRL with any file name is read, and a changed file is read again") {
  Fixture f;
  const auto leaf = f.Leaf("der");
  const std::string path = f.crl_dir + "/odd name~.0";
  WriteBytes(path, PemToDer(f.ca.IntermediateCrlPem()));
  WriteBytes(f.crl_dir + "/README.txt", "not a CRL");  // skipped with a warning
  std::filesystem::create_directories(f.crl_dir + "/subdir");
  auto v = f.Verifier(f.Options());
  REQUIRE(f.Verify(*v, leaf).ok());
  f.ca.Revoke(leaf);
  WriteBytes(path, PemToDer(f.ca.IntermediateCrlPem()));
  REQUIRE(ReasonOf(f.Verify(*v, leaf)) == "external_revoked");
  // Gone from the directory: no CRL any more.
  std::filesystem::remove(path);
  REQUIRE(ReasonOf(f.Verify(*v, leaf)) == "external_crl_unavailable");
}

TEST_CASE("chain mode refuses a revoked intermediate, leaf mode accepts it") {
  Fixture f;
  const auto leaf = f.Leaf("web");
  auto chain_v = f.Verifier(f.Options(ExternalCrlCheck::kChain));
  auto leaf_v = f.Verifier(f.Options(ExternalCrlCheck::kLeaf));
  // Both CRLs in one file; the root needs no CRL of its own.
  WriteBytes(f.crl_dir + "/all.pem", f.ca.RootCrlPem() + f.ca.IntermediateCrlPem());
  REQUIRE(f.Verify(*chain_v, leaf).ok());
  // Without the root's CRL the intermediate cannot be checked.
  WriteBytes(f.crl_dir + "/all.pem", f.ca.IntermediateCrlPem());
  const auto no_root_crl = f.Verify(*chain_v, leaf);
  REQUIRE(ReasonOf(no_root_crl) == "external_crl_unavailable");
  REQUIRE_THAT(no_root_crl.status().message(),
               Catch::Contains("CN=External Root") && Catch::Contains("CN=External Intermediate"));
  REQUIRE(f.Verify(*leaf_v, leaf).ok());

  f.ca.RevokeIntermediate();
  WriteBytes(f.crl_dir + "/all.pem", f.ca.RootCrlPem() + f.ca.IntermediateCrlPem());
  const auto r = f.Verify(*chain_v, leaf);
  REQUIRE(ReasonOf(r) == "external_chain_revoked");
  REQUIRE(r.status().code() == Code::kPermissionDenied);
  REQUIRE_THAT(r.status().message(), Catch::Contains("CN=External Intermediate"));
  REQUIRE(f.Verify(*leaf_v, leaf).ok());
}

TEST_CASE("chain mode does not check the trust anchor against its own CRL") {
  Fixture f;
  const auto leaf = f.Leaf("web");
  f.ca.RevokeRoot();  // OpenSSL's CRL_CHECK_ALL alone would refuse the chain now
  WriteBytes(f.crl_dir + "/root.pem", f.ca.RootCrlPem());
  WriteBytes(f.crl_dir + "/inter.pem", f.ca.IntermediateCrlPem());
  auto v = f.Verifier(f.Options(ExternalCrlCheck::kChain));
  const auto r = f.Verify(*v, leaf);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  // The same files through `openssl verify -crl_check_all`: refused at depth 2.
  const auto cli =
      Run("openssl verify -CAfile " + ShellQuote(f.ca.root_path()) + " -untrusted " +
          ShellQuote(f.ca.intermediate_path()) + " -CRLfile " +
          ShellQuote(f.crl_dir + "/root.pem") + " -CRLfile " +
          ShellQuote(f.crl_dir + "/inter.pem") + " -crl_check_all " + ShellQuote(leaf.cert_path));
  REQUIRE(cli.exit_code != 0);
  REQUIRE_THAT(cli.output, Catch::Contains("at 2 depth"));
}

TEST_CASE("disabled ignores CRLs") {
  Fixture f;
  const auto leaf = f.Leaf("web");
  f.ca.Revoke(leaf);
  f.ca.RevokeIntermediate();
  WriteBytes(f.crl_dir + "/all.pem", f.ca.RootCrlPem() + f.ca.IntermediateCrlPem());
  auto v = f.Verifier(f.Options(ExternalCrlCheck::kDisabled));
  REQUIRE(f.Verify(*v, leaf).ok());
  auto o = f.Options(ExternalCrlCheck::kDisabled);
  o.crl_dir = f.tmp.Sub("absent");
  REQUIRE(f.Verify(*f.Verifier(o), leaf).ok());
}

TEST_CASE("a missing CRL makes verification unavailable") {
  Fixture f;
  const auto leaf = f.Leaf("web");  // no CDP in it
  auto v = f.Verifier(f.Options());
  const auto r = f.Verify(*v, leaf);
  REQUIRE(ReasonOf(r) == "external_crl_unavailable");
  REQUIRE(r.status().code() == Code::kUnavailable);
  REQUIRE_THAT(r.status().message(),
               Catch::Contains("CN=External Intermediate") && Catch::Contains(f.crl_dir));

  // CDP download on, but the certificate names no distribution point.
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  auto script = std::make_shared<FetchScript>();
  script->respond = Refuse;
  const auto no_cdp = f.Verify(*f.Verifier(o, std::make_unique<ScriptedFetcher>(script)), leaf);
  REQUIRE(ReasonOf(no_cdp) == "external_crl_unavailable");
  REQUIRE_THAT(no_cdp.status().message(), Catch::Contains("no http:// CRL distribution point"));
  REQUIRE(script->urls.empty());

  // A directory that does not exist.
  o = f.Options();
  o.crl_dir = f.tmp.Sub("absent");
  const auto absent = f.Verify(*f.Verifier(o), leaf);
  REQUIRE(ReasonOf(absent) == "external_crl_unavailable");
  REQUIRE_THAT(absent.status().message(), Catch::Contains("cannot list crl_dir"));
}

TEST_CASE("a stale CRL makes verification unavailable") {
  Fixture f;
  const auto leaf = f.Leaf("web");
  WriteBytes(f.crl_dir + "/inter.pem", f.ca.IntermediateCrlPem(/*hours=*/1));
  auto v = f.Verifier(f.Options());
  REQUIRE(f.Verify(*v, leaf).ok());
  f.clock.Advance(2 * 3600);
  const auto r = f.Verify(*v, leaf);
  REQUIRE(ReasonOf(r) == "external_crl_unavailable");
  REQUIRE_THAT(r.status().message(), Catch::Contains("stale") && Catch::Contains("inter.pem"));
}

TEST_CASE("a CRL signed by the wrong key is refused") {
  Fixture f("http://crl.invalid/inter.crl");
  ExternalCa twin(f.tmp.Sub("twin"), "External");  // same names, other keys
  const auto leaf = f.Leaf("web");
  f.ca.Revoke(leaf);
  const std::string forged = twin.IntermediateCrlPem();  // does not list the leaf
  WriteBytes(f.crl_dir + "/forged.pem", forged);
  auto v = f.Verifier(f.Options());
  const auto r = f.Verify(*v, leaf);
  REQUIRE(ReasonOf(r) == "external_crl_unavailable");
  REQUIRE_THAT(r.status().message(),
               Catch::Contains("forged.pem") && Catch::Contains("not signed by the key"));

  // The same over a distribution point.
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  auto script = std::make_shared<FetchScript>();
  script->respond = [&](const std::string&) -> Result<std::string> { return forged; };
  auto cdp_v = f.Verifier(o, std::make_unique<ScriptedFetcher>(script));
  const auto r2 = f.Verify(*cdp_v, leaf);
  REQUIRE(ReasonOf(r2) == "external_crl_unavailable");
  REQUIRE_THAT(r2.status().message(), Catch::Contains("http://crl.invalid/inter.crl") &&
                                          Catch::Contains("not signed by the key"));
  REQUIRE(cdp_v->GetStats().crl_download_failures == 1);
}

// A loopback HTTP server with the routes the CDP tests need: /inter.crl and
// /root.crl serve what Serve set, the others fixed answers.
struct CrlServer {
  CrlServer() {
    for (const char* path : {"/inter.crl", "/root.crl"}) {
      server.Get(path, [this](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard<std::mutex> lock(mu);
        hits[req.path]++;
        res.set_content(content[req.path], "application/pkix-crl");
      });
    }
    server.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(4096, 'x'), "application/pkix-crl");
    });
    server.Get("/moved", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/inter.crl");
    });
    server.Get("/to-https", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("https://127.0.0.1:1/inter.crl");
    });
    port = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) {
      std::this_thread::yield();
    }
  }
  ~CrlServer() {
    server.stop();
    thread.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
  void Serve(const std::string& body, const std::string& path = "/inter.crl") {
    std::lock_guard<std::mutex> lock(mu);
    content[path] = body;
  }
  int Hits(const std::string& path = "/inter.crl") {
    std::lock_guard<std::mutex> lock(mu);
    return hits[path];
  }

  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::map<std::string, std::string> content;  // guarded by mu
  std::map<std::string, int> hits;             // guarded by mu
};

TEST_CASE("CDP download: cached until the refresh interval, then a revocation shows") {
  CrlServer http;
  Fixture f(http.Url("/inter.crl"));
  const auto leaf = f.Leaf("web");
  http.Serve(f.ca.IntermediateCrlPem());
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  o.cdp_refresh_seconds = 3600;
  auto v = f.Verifier(o, NewHttpCrlFetcher(5));
  REQUIRE(f.Verify(*v, leaf).ok());
  REQUIRE(f.Verify(*v, leaf).ok());
  REQUIRE(v->GetStats().crl_downloads == 1);
  REQUIRE(v->GetStats().crl_cache_hits == 1);
  REQUIRE(http.Hits() == 1);

  f.ca.Revoke(leaf);
  http.Serve(f.ca.IntermediateCrlPem());
  f.clock.Advance(3599);
  REQUIRE(f.Verify(*v, leaf).ok());  // the cached CRL is still fresh
  REQUIRE(http.Hits() == 1);
  f.clock.Advance(2);
  const auto r = f.Verify(*v, leaf);
  REQUIRE(ReasonOf(r) == "external_revoked");
  REQUIRE_THAT(r.status().message(), Catch::Contains(http.Url("/inter.crl")));
  REQUIRE(http.Hits() == 2);
  REQUIRE(v->GetStats().crl_downloads == 2);
  REQUIRE(v->GetStats().crl_download_failures == 0);
}

TEST_CASE("CDP download: refreshed when the cached CRL's nextUpdate passes") {
  CrlServer http;
  Fixture f(http.Url("/inter.crl"));
  const auto leaf = f.Leaf("web");
  http.Serve(f.ca.IntermediateCrlPem(/*hours=*/1));
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  auto v = f.Verifier(o, NewHttpCrlFetcher(5));
  REQUIRE(f.Verify(*v, leaf).ok());
  // An hour later the CRL is stale (the server still has the old one).
  f.clock.Advance(3700);
  REQUIRE(ReasonOf(f.Verify(*v, leaf)) == "external_crl_unavailable");
  REQUIRE(http.Hits() == 2);
  // Not hammered: within a minute of the failure the URL is not retried.
  REQUIRE(ReasonOf(f.Verify(*v, leaf)) == "external_crl_unavailable");
  REQUIRE(http.Hits() == 2);
  f.clock.Advance(61);
  http.Serve(f.ca.IntermediateCrlPem(24));
  // openssl signed with the real time; the fake clock is ahead of it.
  REQUIRE(f.Verify(*v, leaf).ok());
  REQUIRE(http.Hits() == 3);
}

TEST_CASE("the HTTP fetcher refuses errors, oversized bodies and non-http redirects") {
  CrlServer http;
  http.Serve("crl bytes");
  auto fetcher = NewHttpCrlFetcher(5, 1024);
  REQUIRE(*fetcher->Fetch(http.Url("/inter.crl")) == "crl bytes");
  REQUIRE(*fetcher->Fetch(http.Url("/moved")) == "crl bytes");
  for (const std::string& url :
       {http.Url("/absent"), http.Url("/big"), http.Url("/to-https"),
        std::string("https://127.0.0.1/x.crl"), std::string("ldap://ldap.example.com/x"),
        std::string("http://user@127.0.0.1/x.crl")}) {
    INFO(url);
    const auto r = fetcher->Fetch(url);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.status().reason() == "external_crl_unavailable");
    REQUIRE(r.status().code() == Code::kUnavailable);
  }
  REQUIRE_THAT(fetcher->Fetch(http.Url("/absent")).status().message(), Catch::Contains("404"));
  REQUIRE_THAT(fetcher->Fetch(http.Url("/big")).status().message(), Catch::Contains("1024"));
  // Nothing listens on port 1.
  REQUIRE_THAT(fetcher->Fetch("http://127.0.0.1:1/x.crl").status().message(),
               Catch::Contains("http://127.0.0.1:1/x.crl"));
}

TEST_CASE("CDP: a garbage body or a failed download with nothing cached is unavailable") {
  Fixture f("http://crl.example.com/inter.crl");
  const auto leaf = f.Leaf("web");
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  auto script = std::make_shared<FetchScript>();
  script->respond = Refuse;
  auto v = f.Verifier(o, std::make_unique<ScriptedFetcher>(script));
  const auto r = f.Verify(*v, leaf);
  REQUIRE(ReasonOf(r) == "external_crl_unavailable");
  REQUIRE_THAT(r.status().message(), Catch::Contains("http://crl.example.com/inter.crl"));
  REQUIRE(v->GetStats().crl_download_failures == 1);
  REQUIRE(script->urls == std::vector<std::string>{"http://crl.example.com/inter.crl"});

  script->respond = [](const std::string&) -> Result<std::string> {
    return std::string("garbage");
  };
  f.clock.Advance(120);
  const auto g = f.Verify(*v, leaf);
  REQUIRE(ReasonOf(g) == "external_crl_unavailable");
  REQUIRE_THAT(g.status().message(), Catch::Contains("not a CRL"));
  REQUIRE(v->GetStats().crl_download_failures == 2);
  REQUIRE(v->GetStats().crl_downloads == 0);
}

TEST_CASE("CDP: a failed refresh falls back to the cached CRL until its nextUpdate") {
  Fixture f("http://crl.example.com/inter.crl");
  const auto leaf = f.Leaf("web");
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  o.cdp_refresh_seconds = 600;
  auto script = std::make_shared<FetchScript>();
  const std::string crl = f.ca.IntermediateCrlPem(/*hours=*/2);
  script->respond = [&](const std::string&) -> Result<std::string> { return crl; };
  auto v = f.Verifier(o, std::make_unique<ScriptedFetcher>(script));
  REQUIRE(f.Verify(*v, leaf).ok());
  script->respond = Refuse;
  f.clock.Advance(601);
  REQUIRE(f.Verify(*v, leaf).ok());
  REQUIRE(v->GetStats().crl_download_failures == 1);
  REQUIRE(script->urls.size() == 2);
  f.clock.Advance(2 * 3600);
  REQUIRE(ReasonOf(f.Verify(*v, leaf)) == "external_crl_unavailable");
}

TEST_CASE("CDP: the disk cache serves a restart without the network") {
  Fixture f("http://crl.example.com/inter.crl");
  const auto good = f.Leaf("good");
  const auto bad = f.Leaf("bad");
  f.ca.Revoke(bad);
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  o.cache_dir = f.tmp.Sub("cache/crls");
  o.cdp_refresh_seconds = 3600;
  auto script = std::make_shared<FetchScript>();
  const std::string crl = f.ca.IntermediateCrlPem();
  script->respond = [&](const std::string&) -> Result<std::string> { return crl; };
  {
    auto v = f.Verifier(o, std::make_unique<ScriptedFetcher>(script));
    REQUIRE(f.Verify(*v, good).ok());
    REQUIRE(v->GetStats().crl_downloads == 1);
  }
  REQUIRE(*FileMode(o.cache_dir) == 0700);
  const std::string file =
      o.cache_dir + "/" + HexEncode(Sha256("http://crl.example.com/inter.crl")) + ".crl";
  REQUIRE(FileExists(file));
  REQUIRE(*FileMode(file) == 0600);

  auto offline = std::make_shared<FetchScript>();
  offline->respond = Refuse;
  auto v = f.Verifier(o, std::make_unique<ScriptedFetcher>(offline));
  REQUIRE(f.Verify(*v, good).ok());
  REQUIRE(ReasonOf(f.Verify(*v, bad)) == "external_revoked");
  REQUIRE(offline->urls.empty());
  REQUIRE(v->GetStats().crl_downloads == 0);
  REQUIRE(v->GetStats().crl_cache_hits == 2);
  // Past the refresh interval (counted from the first download, not the
  // restart) a download is tried; it fails and the cached CRL still serves.
  f.clock.Advance(o.cdp_refresh_seconds);
  REQUIRE(f.Verify(*v, good).ok());
  REQUIRE(offline->urls.size() == 1);
  REQUIRE(v->GetStats().crl_download_failures == 1);

  // A damaged cache file is ignored.
  WriteBytes(file, "hostca-crl-cache 1\nfetched_at x\n\n");
  REQUIRE(ReasonOf(f.Verify(*f.Verifier(o, std::make_unique<ScriptedFetcher>(offline)), good)) ==
          "external_crl_unavailable");
}

TEST_CASE("CDP: concurrent verifications share one download") {
  Fixture f("http://crl.example.com/inter.crl");
  const auto leaf = f.Leaf("web");
  auto o = f.Options();
  o.crl_dir = "";
  o.cdp_download = true;
  auto script = std::make_shared<FetchScript>();
  const std::string crl = f.ca.IntermediateCrlPem();
  script->respond = [&](const std::string&) -> Result<std::string> { return crl; };
  auto v = f.Verifier(o, std::make_unique<ScriptedFetcher>(script));
  X509Ptr cert = Cert(leaf.cert_pem);
  X509StackPtr chain = Stack({f.ca.intermediate_pem()});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        ok += v->Verify(cert.get(), chain.get()).ok() ? 1 : 0;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  REQUIRE(ok == 80);
  REQUIRE(v->GetStats().crl_downloads == 1);
  REQUIRE(v->GetStats().crl_cache_hits == 79);
}

TEST_CASE("chain mode over distribution points of leaf and intermediate") {
  CrlServer http;
  Fixture f(http.Url("/inter.crl"), http.Url("/root.crl"));
  const auto leaf = f.Leaf("web");
  http.Serve(f.ca.IntermediateCrlPem());
  http.Serve(f.ca.RootCrlPem(), "/root.crl");
  auto o = f.Options(ExternalCrlCheck::kChain);
  o.crl_dir = "";
  o.cdp_download = true;
  o.cdp_refresh_seconds = 3600;
  auto v = f.Verifier(o, NewHttpCrlFetcher(5));
  REQUIRE(f.Verify(*v, leaf).ok());
  REQUIRE(v->GetStats().crl_downloads == 2);
  REQUIRE(http.Hits("/root.crl") == 1);
  f.ca.RevokeIntermediate();
  http.Serve(f.ca.RootCrlPem(), "/root.crl");
  f.clock.Advance(o.cdp_refresh_seconds);
  REQUIRE(ReasonOf(f.Verify(*v, leaf)) == "external_chain_revoked");
}

TEST_CASE("a directory CRL is preferred to the distribution point") {
  Fixture f("http://crl.example.com/inter.crl");
  const auto leaf = f.Leaf("web");
  WriteBytes(f.crl_dir + "/inter.pem", f.ca.IntermediateCrlPem());
  auto o = f.Options();
  o.cdp_download = true;
  auto script = std::make_shared<FetchScript>();
  script->respond = Refuse;
  auto v = f.Verifier(o, std::make_unique<ScriptedFetcher>(script));
  REQUIRE(f.Verify(*v, leaf).ok());
  REQUIRE(script->urls.empty());
}

TEST_CASE("openssl verify -crl_check agrees") {
  Fixture f;
  const auto good = f.Leaf("good");
  const auto bad = f.Leaf("bad");
  f.ca.Revoke(bad);
  const std::string crl_path = f.crl_dir + "/inter.pem";
  WriteBytes(crl_path, f.ca.IntermediateCrlPem());
  auto v = f.Verifier(f.Options());
  for (const auto* leaf : {&good, &bad}) {
    const auto ours = f.Verify(*v, *leaf);
    const auto theirs = Run("openssl verify -attime " + std::to_string(f.now()) + " -CAfile " +
                            ShellQuote(f.ca.root_path()) + " -untrusted " +
                            ShellQuote(leaf->chain_path) + " -CRLfile " + ShellQuote(crl_path) +
                            " -crl_check -purpose sslclient " + ShellQuote(leaf->cert_path));
    INFO(theirs.output << ours.status().ToString());
    REQUIRE(ours.ok() == (theirs.exit_code == 0));
    if (!ours.ok()) {
      REQUIRE(ReasonOf(ours) == "external_revoked");
      REQUIRE_THAT(theirs.output, Catch::Contains("certificate revoked"));
    }
  }
}

TEST_CASE("parsing helpers") {
  using internal::SplitHttpUrl;
  auto u = SplitHttpUrl("HTTP://crl.example.com:8080/a/b.crl?x=1#frag");
  REQUIRE(u.ok());
  REQUIRE(u->host == "crl.example.com");
  REQUIRE(u->port == 8080);
  REQUIRE(u->path == "/a/b.crl?x=1");
  u = SplitHttpUrl("http://[::1]/c.crl");
  REQUIRE((u.ok() && u->host == "::1" && u->port == 80 && u->path == "/c.crl"));
  REQUIRE(SplitHttpUrl("http://crl.example.com")->path == "/");
  for (const char* bad : {"https://a/b", "http://", "http://a:0/", "http://a:99999/", "http://u@a/",
                          "http://a b/", "http://[::1/", "ftp://a/", "http://a:x/"}) {
    INFO(bad);
    REQUIRE(SplitHttpUrl(bad).status().reason() == "bad_crl_url");
  }

  TempDir tmp;
  ExternalCa ca(tmp.Sub("ca"), "Cdp",
                "ldap://ldap.example.com/cn=crl,URI:http://crl.example.com/a.crl,"
                "URI:https://crl.example.com/b.crl,URI:http://crl2.example.com/c.crl");
  const int64_t now = std::time(nullptr);
  const auto leaf = ca.IssueLeaf("x", "x", {}, now - 60, now + 60);
  REQUIRE(
      internal::HttpCdpUrls(Cert(leaf.cert_pem).get()) ==
      std::vector<std::string>{"http://crl.example.com/a.crl", "http://crl2.example.com/c.crl"});
  REQUIRE(internal::HttpCdpUrls(Cert(ca.root_pem()).get()).empty());

  // Several PEM CRLs and a certificate in one file; DER concatenations.
  const std::string a = ca.RootCrlPem(), b = ca.IntermediateCrlPem();
  REQUIRE(internal::ParseCrls(a + ca.root_pem() + b)->size() == 2);
  REQUIRE(internal::ParseCrls(PemToDer(a) + PemToDer(b))->size() == 2);
  REQUIRE(internal::ParseCrls(PemToDer(a) + "x").status().reason() == "bad_crl");
  REQUIRE(internal::ParseCrls(ca.root_pem()).status().reason() == "bad_crl");
  REQUIRE(internal::ParseCrls("").status().reason() == "bad_crl");

  const std::string entry = internal::EncodeCacheEntry("http://a/b", 42, "body\n\nbytes");
  auto decoded = internal::DecodeCacheEntry(entry);
  REQUIRE((decoded.ok() && decoded->url == "http://a/b" && decoded->fetched_at == 42 &&
           decoded->body == "body\n\nbytes"));
  REQUIRE(internal::DecodeCacheEntry("x").status().reason() == "bad_crl_cache");
}

}  // namespace
}  // namespace hostca::crl
