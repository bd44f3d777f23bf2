// Enrollment policy over real HTTPS (DESIGN.md sections 4 and 5): one test
// per row of the security-level table and per renewal/reissue rule, each
// asserting the exact HTTP status and error code.
#include <catch2/catch.hpp>
#include <future>

#include "tests/api_fixture.h"

namespace hostca::testing {
namespace {

TEST_CASE("very-high: every new host needs a token, pre-registered or not") {
  ApiFixture ca;
  REQUIRE(ca.SetLevel("very-high") == "very-high");
  REQUIRE_ANSWER(ca.Enroll("a.example"), 403, "token_required");
  REQUIRE(ca.AdminCall("POST", "/v1/hosts", {{"hostname", "pre.example"}}).status == 201);
  REQUIRE_ANSWER(ca.Enroll("pre.example"), 403, "token_required");
  REQUIRE_ANSWER(ca.Enroll("pre.example", ca.CreateToken("t1")), 201, "");
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t2")), 201, "");
}

TEST_CASE("high: a token unless an admin pre-registered the hostname") {
  ApiFixture ca;
  REQUIRE(ca.SetLevel("high") == "high");
  REQUIRE_ANSWER(ca.Enroll("new.example"), 403, "token_required");
  const HttpResult pre = ca.AdminCall("POST", "/v1/hosts", {{"hostname", "pre.example"}});
  REQUIRE(pre.status == 201);
  HostCreds creds;
  REQUIRE_ANSWER(ca.Enroll("pre.example", "", &creds), 201, "");
  REQUIRE(creds.host_id == pre.body["host_id"]);
  REQUIRE_ANSWER(ca.Enroll("new.example", ca.CreateToken("t")), 201, "");
  // Even at medium, a resolver match is not enough at high.
  ca.resolver().Set("dns.example", {"127.0.0.1"});
  REQUIRE_ANSWER(ca.Enroll("dns.example"), 403, "token_required");
}

TEST_CASE("medium: pre-registered, or the name resolves to the request's source address") {
  ApiFixture ca;
  REQUIRE(ca.SetLevel("medium") == "medium");
  ca.resolver().Set("mine.example", {"10.9.9.9", "127.0.0.1"});
  ca.resolver().Set("other.example", {"192.0.2.7"});
  REQUIRE_ANSWER(ca.Enroll("mine.example"), 201, "");
  REQUIRE_ANSWER(ca.Enroll("other.example"), 403, "token_required");
  REQUIRE_ANSWER(ca.Enroll("unresolvable.example"), 403, "token_required");
  REQUIRE(ca.AdminCall("POST", "/v1/hosts", {{"hostname", "pre.example"}}).status == 201);
  REQUIRE_ANSWER(ca.Enroll("pre.example"), 201, "");
  REQUIRE_ANSWER(ca.Enroll("other.example", ca.CreateToken("t")), 201, "");
}

TEST_CASE("the level change takes effect from the next request and /v1/ca announces it") {
  ApiFixture ca;
  REQUIRE(ca.Call("GET", "/v1/ca").body["crl_refresh_seconds"] == 4 * 3600);
  ca.SetLevel("very-high");
  REQUIRE(ca.Call("GET", "/v1/ca").body["crl_refresh_seconds"] == 3600);
  REQUIRE(ca.Call("GET", "/v1/ca").body["security_level"] == "very-high");
  ca.SetLevel("medium");
  REQUIRE(ca.Call("GET", "/v1/ca").body["crl_refresh_seconds"] == 8 * 3600);
  REQUIRE_ANSWER(ca.AdminCall("PUT", "/v1/security-level", {{"level", "extreme"}}), 400,
                 "bad_level");
}

TEST_CASE("a host with a valid certificate gets already_enrolled") {
  ApiFixture ca;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t1")), 201, "");
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t2")), 409, "already_enrolled");
}

TEST_CASE("renewal: a valid certificate renews with no token, keeping the host ID") {
  ApiFixture ca;
  HostCreds creds;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t"), &creds), 201, "");
  const std::string host_id = creds.host_id;
  const std::string old_serial = creds.serial;
  REQUIRE_ANSWER(ca.Renew(&creds), 201, "");
  REQUIRE(creds.host_id == host_id);
  REQUIRE(creds.serial != old_serial);
  // The renewed certificate works for the next renewal too.
  REQUIRE_ANSWER(ca.Renew(&creds), 201, "");
  REQUIRE_ANSWER(ca.Call("POST", "/v1/renew", {{"csr", MakeCsr("x").csr_pem}}), 401,
                 "client_cert_required");
}

TEST_CASE("renewal: an expired certificate gets certificate_expired and must be reissued") {
  ApiFixture ca;
  HostCreds creds;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t"), &creds), 201, "");
  ca.clock().Advance(366LL * 86400);
  REQUIRE_ANSWER(ca.Renew(&creds), 403, "certificate_expired");
  REQUIRE_ANSWER(ca.Enroll("a.example"), 403, "reissue_required");
  const std::string reissue = ca.CreateToken("r", 1, creds.host_id);
  HostCreds fresh;
  REQUIRE_ANSWER(ca.Enroll("a.example", reissue, &fresh), 201, "");
  REQUIRE(fresh.host_id == creds.host_id);
}

TEST_CASE("renewal: a certificate before its notBefore is refused, and works once valid") {
  ApiFixture ca;
  HostCreds creds;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t"), &creds), 201, "");
  // The host's clock is not the CA's: one hour back is before notBefore
  // (now - 5 minutes) of the stored, byte-equal certificate.
  ca.clock().Advance(-3600);
  REQUIRE_ANSWER(ca.Renew(&creds), 401, "client_cert_invalid");
  ca.clock().Advance(3600);
  REQUIRE_ANSWER(ca.Renew(&creds), 201, "");
}

TEST_CASE("renewal: a revoked certificate is refused") {
  ApiFixture ca;
  HostCreds creds;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t"), &creds), 201, "");
  REQUIRE_ANSWER(ca.Call("POST", "/v1/revoke", {{"reason", "keyCompromise"}}, &creds), 200, "");
  REQUIRE_ANSWER(ca.Renew(&creds), 403, "certificate_revoked");
  const HttpResult rec = ca.AdminCall("GET", "/v1/certs/" + creds.serial);
  REQUIRE(rec.body["status"] == "revoked");
  REQUIRE(rec.body["revocation_reason"] == "keyCompromise");
}

// The handshake takes any client certificate unchecked (server.cpp); each
// call that acts on one verifies it. A forgery of a stored certificate (same
// serial, subject and issuer name, the forger's key and signature) passes
// the handshake, since the forger holds its key, and must fail there.
TEST_CASE("renewal: a forged copy of a host's certificate is refused") {
  ApiFixture ca;
  HostCreds creds;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t"), &creds), 201, "");
  HostCreds forged;
  forged.key.reset(EVP_EC_gen("P-256"));
  forged.cert.reset(X509_dup(creds.cert.get()));
  REQUIRE(X509_set_pubkey(forged.cert.get(), forged.key.get()) == 1);
  REQUIRE(X509_sign(forged.cert.get(), forged.key.get(), EVP_sha256()) > 0);
  REQUIRE_ANSWER(ca.Renew(&forged), 401, "client_cert_invalid");
  REQUIRE_ANSWER(ca.Call("POST", "/v1/revoke", {{"reason", "keyCompromise"}}, &forged), 401,
                 "client_cert_invalid");
  REQUIRE(ca.AdminCall("GET", "/v1/certs/" + creds.serial).body["status"] == "valid");
  // The host's own certificate still renews.
  REQUIRE_ANSWER(ca.Renew(&creds), 201, "");
}

TEST_CASE("reissue with a token: same host ID, earlier certificates revoked as superseded") {
  ApiFixture ca;
  HostCreds a, b;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("ta"), &a), 201, "");
  REQUIRE_ANSWER(ca.Enroll("b.example", ca.CreateToken("tb"), &b), 201, "");
  const std::string for_a = ca.CreateToken("reissue-a", 1, a.host_id);
  REQUIRE_ANSWER(ca.Enroll("b.example", for_a), 403, "token_wrong_host");
  HostCreds a2;
  REQUIRE_ANSWER(ca.Enroll("a.example", for_a, &a2), 201, "");
  REQUIRE(a2.host_id == a.host_id);
  const HttpResult old = ca.AdminCall("GET", "/v1/certs/" + a.serial);
  REQUIRE(old.body["status"] == "revoked");
  REQUIRE(old.body["revocation_reason"] == "superseded");
  REQUIRE(ca.AdminCall("GET", "/v1/certs/" + a2.serial).body["status"] == "valid");
  // The reissue token was single-use.
  REQUIRE_ANSWER(ca.Enroll("a.example", for_a), 403, "token_used_up");
  // A superseded certificate can no longer renew.
  REQUIRE_ANSWER(ca.Renew(&a), 403, "certificate_revoked");
}

TEST_CASE("reissue within an admin's window, which then closes") {
  ApiFixture ca;
  HostCreds a;
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("t"), &a), 201, "");
  REQUIRE(ca.AdminCall("POST", "/v1/hosts/" + a.host_id + "/revoke", {{"reason", "keyCompromise"}})
              .body["revoked"] == 1);
  REQUIRE_ANSWER(ca.Enroll("a.example"), 403, "reissue_required");
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/hosts/a.example/allow-reissue", {{"seconds", 3600}}),
                 200, "");
  HostCreds a2;
  REQUIRE_ANSWER(ca.Enroll("a.example", "", &a2), 201, "");
  REQUIRE(a2.host_id == a.host_id);
  REQUIRE_ANSWER(ca.Enroll("a.example"), 409, "already_enrolled");
  // An expired window does not help.
  REQUIRE(ca.AdminCall("POST", "/v1/hosts/a.example/revoke", {{"reason", "superseded"}}).status ==
          200);
  REQUIRE(ca.AdminCall("POST", "/v1/hosts/a.example/allow-reissue", {{"seconds", 600}}).status ==
          200);
  ca.clock().Advance(601);
  REQUIRE_ANSWER(ca.Enroll("a.example"), 403, "reissue_required");
}

TEST_CASE("token errors are distinct") {
  ApiFixture ca;
  REQUIRE_ANSWER(ca.Enroll("a.example", "short"), 403, "token_invalid");
  REQUIRE_ANSWER(ca.Enroll("a.example", std::string(43, 'A')), 403, "token_invalid");
  const std::string soon = ca.CreateToken("soon", 5, "", 120);
  ca.clock().Advance(121);
  REQUIRE_ANSWER(ca.Enroll("a.example", soon), 403, "token_expired");
  const std::string once = ca.CreateToken("once");
  REQUIRE_ANSWER(ca.Enroll("a.example", once), 201, "");
  REQUIRE_ANSWER(ca.Enroll("b.example", once), 403, "token_used_up");
  // Cleanup removes the expired and the used-up token, and lists no values.
  const HttpResult list = ca.AdminCall("GET", "/v1/tokens");
  REQUIRE(list.body["tokens"].size() == 2);
  REQUIRE(list.raw.find(once) == std::string::npos);
  REQUIRE(ca.AdminCall("POST", "/v1/tokens/cleanup").body["removed"] == 2);
  REQUIRE(ca.AdminCall("GET", "/v1/tokens").body["tokens"].empty());
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/tokens", {{"name", "bad name!"}}), 400,
                 "bad_token_name");
}

TEST_CASE("a 3-use token and 12 parallel enrollments: exactly 3 certificates") {
  ApiFixture ca;
  const std::string token = ca.CreateToken("three", 3);
  std::vector<std::future<HttpResult>> results;
  for (int i = 0; i < 12; ++i) {
    results.push_back(std::async(std::launch::async, [&ca, &token, i] {
      return ca.Enroll("par" + std::to_string(i) + ".example", token);
    }));
  }
  int ok = 0, used_up = 0;
  for (auto& f : results) {
    const HttpResult r = f.get();
    ok += r.status == 201 ? 1 : 0;
    used_up += (r.status == 403 && r.code() == "token_used_up") ? 1 : 0;
  }
  REQUIRE(ok == 3);
  REQUIRE(used_up == 9);
  REQUIRE(ca.AdminCall("GET", "/v1/certs?status=valid").body["certificates"].size() == 4);  // + TLS
}

TEST_CASE("failed token attempts are rate-limited per source address with Retry-After") {
  ApiFixture ca;
  for (int i = 0; i < 10; ++i) {
    REQUIRE_ANSWER(ca.Enroll("a.example", std::string(43, 'B')), 403, "token_invalid");
  }
  const HttpResult limited = ca.Enroll("a.example", ca.CreateToken("good"));
  REQUIRE_ANSWER(limited, 429, "rate_limited");
  REQUIRE_FALSE(limited.headers.find("Retry-After") == limited.headers.end());
  ca.clock().Advance(61);
  REQUIRE_ANSWER(ca.Enroll("a.example", ca.CreateToken("good2")), 201, "");
}

TEST_CASE("names: conflicts are 409 and requested extra names wait for approval") {
  ApiFixture ca;
  HostCreds a;
  REQUIRE(ca.Enroll("a.example", ca.CreateToken("t"), &a).status == 201);
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/hosts", {{"hostname", "A.example"}}), 409,
                 "name_conflict");
  REQUIRE_ANSWER(ca.Enroll("bad_name.example", ca.CreateToken("t2")), 400, "bad_hostname");
  // A renewal whose CSR asks for more names queues them; only approved
  // names go into certificates.
  KeyAndCsr kc = MakeCsr("x", {"a.example", "www.a.example"});
  HttpResult r = ca.Call("POST", "/v1/renew", {{"csr", kc.csr_pem}}, &a);
  REQUIRE(r.status == 201);
  const HttpResult waiting = ca.AdminCall("GET", "/v1/mappings");
  REQUIRE(waiting.body["mappings"].size() == 1);
  REQUIRE(waiting.body["mappings"][0]["name"] == "www.a.example");
  const std::string id = waiting.body["mappings"][0]["id"];
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/mappings/" + id + "/approve"), 200, "");
  REQUIRE(ca.AdminCall("GET", "/v1/hosts/" + a.host_id).body["aliases"] ==
          nlohmann::json::array({"www.a.example"}));
  a.cert = std::move(*CertFromPem(std::string(r.body["certificate"])));
  a.key = std::move(kc.key);
  REQUIRE(ca.Renew(&a).status == 201);
  REQUIRE(ca.AdminCall("GET", "/v1/certs/" + a.serial).body["names"] ==
          nlohmann::json::array({"a.example", "www.a.example"}));
}

TEST_CASE("admin calls need the admin token") {
  ApiFixture ca;
  REQUIRE_ANSWER(ca.Call("GET", "/v1/tokens"), 401, "admin_unauthenticated");
  REQUIRE_ANSWER(ca.Call("GET", "/v1/tokens", nullptr, nullptr, "wrong"), 401,
                 "admin_unauthenticated");
  REQUIRE_ANSWER(ca.AdminCall("GET", "/v1/tokens"), 200, "");
  REQUIRE_ANSWER(ca.AdminCall("PUT", "/v1/mode", {{"mode", "external"}}), 409,
                 "external_not_configured");
  REQUIRE_ANSWER(ca.AdminCall("GET", "/v1/certs/zz"), 404, "not_found");
  REQUIRE_ANSWER(ca.AdminCall("POST", "/v1/tokens", "not an object"), 400, "bad_json");
}

}  // namespace
}  // namespace hostca::testing
