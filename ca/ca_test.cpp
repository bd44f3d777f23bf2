// ca/: every key type, the exact host profile, cross-checked by the openssl
// and certtool command lines and by Botan's path validation.
#include <botan/certstor.h>
#include <botan/x509cert.h>
#include <botan/x509path.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <set>

#include "ca/authority.h"
#include "ca/csr.h"
#include "ca/internal/x509_util.h"
#include "ca/issuer.h"
#include "ca/keys.h"
#include "common/clock.h"
#include "common/der.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "tests/testutil.h"

namespace hostca::ca {
namespace {

using hostca::testing::Run;
using hostca::testing::ShellQuote;
using hostca::testing::TempDir;

// certtool cannot verify at a chosen time, so the tests use the real one.
const int64_t kNow = static_cast<int64_t>(std::time(nullptr));

// RSA key generation is slow: one key per type per test run.
EVP_PKEY* CachedKey(KeyType type) {
  static std::map<KeyType, EvpPkeyPtr> keys;
  auto& slot = keys[type];
  if (!slot) {
    slot = std::move(*GenerateKey(type));
  }
  return slot.get();
}

std::string Write(const TempDir& dir, const std::string& name, const std::string& content) {
  const std::string path = dir.Sub(name);
  std::ofstream(path) << content;
  return path;
}

// A CSR made by the openssl command line.
std::string OpensslCsr(const TempDir& dir, const std::string& newkey,
                       const std::string& extra = "") {
  const std::string out = dir.Sub("req-" + HexEncode(RandomBytes(4)) + ".pem");
  const auto r = Run("openssl req -new -newkey " + newkey + " -nodes -subj /CN=host -keyout " +
                     ShellQuote(out + ".key") + " -out " + ShellQuote(out) + " " + extra);
  REQUIRE(r.exit_code == 0);
  return *ReadFile(out);
}

IssuanceRequest HostRequest(EVP_PKEY* key, const std::string& host_id) {
  IssuanceRequest req;
  req.common_name = host_id;
  req.dns_names = {"web1.example", "www.example"};
  req.uris = {"urn:uuid:" + host_id};
  req.public_key = key;
  req.serial = NewSerial();
  req.not_before = kNow - 300;
  req.not_after = kNow + 365 * 86400;
  req.crl_url = "http://ca.example:8080/crl";
  req.ca_issuers_url = "http://ca.example:8080/ca.crt";
  return req;
}

bool BotanValidates(const std::string& root_der, const std::string& leaf_der,
                    const std::vector<std::string>& intermediates_der, std::string* why) {
  auto to_cert = [](const std::string& der) {
    return Botan::X509_Certificate(std::vector<uint8_t>(der.begin(), der.end()));
  };
  Botan::Certificate_Store_In_Memory store;
  store.add_certificate(to_cert(root_der));
  std::vector<Botan::X509_Certificate> chain = {to_cert(leaf_der)};
  for (const auto& d : intermediates_der) {
    chain.push_back(to_cert(d));
  }
  Botan::Path_Validation_Restrictions restrictions(false, 110);
  const auto when = std::chrono::system_clock::from_time_t(kNow);
  const auto result = Botan::x509_path_validate(chain, restrictions, store, "web1.example",
                                                Botan::Usage_Type::TLS_SERVER_AUTH, when);
  *why = result.result_string();
  return result.successful_validation();
}

TEST_CASE("every CA key type - the root and a host certificate verify with three stacks") {
  FakeClock clock(kNow);
  for (const char* type_name : {"p256", "p384", "ed25519", "rsa3072", "rsa4096"}) {
    INFO("CA key type " << type_name);
    TempDir dir;
    const KeyType type = *ParseKeyType(type_name);
    EVP_PKEY* key = CachedKey(type);
    CaOptions options;
    options.organization = "Example Org";
    auto root = CreateRootCertificate(key, options, clock);
    REQUIRE(root.ok());
    const std::string root_path = Write(dir, "root.pem", *CertToPem(root->get()));
    // The root is self-consistent (verified at its issuance time).
    const auto self = Run("openssl verify -attime " + std::to_string(kNow) + " -CAfile " +
                          ShellQuote(root_path) + " " + ShellQuote(root_path));
    INFO(self.output);
    REQUIRE(self.exit_code == 0);
    const auto text = Run("openssl x509 -noout -text -in " + ShellQuote(root_path));
    REQUIRE_THAT(text.output, Catch::Contains("CA:TRUE") &&
                                  Catch::Contains("Certificate Sign, CRL Sign") &&
                                  Catch::Contains("O = Example Org, CN = Example Org Root CA"));
    const X509* r = root->get();
    REQUIRE(X509_cmp_time(X509_get0_notAfter(r), nullptr) > 0);

    auto issuer = Issuer::Create(CopyRef(key), CopyRef(root->get()), {}, options.organization);
    REQUIRE(issuer.ok());
    for (const std::string newkey :
         {"ec -pkeyopt ec_paramgen_curve:P-256", "ed25519", "rsa:2048"}) {
      INFO("CSR key " << newkey);
      auto csr = ParseAndCheckCsr(OpensslCsr(dir, newkey), CsrPolicy{});
      REQUIRE(csr.ok());
      auto issued = (*issuer)->Issue(
          HostRequest(csr->public_key.get(), "0b5f1c52-7d2e-4c3a-9f0e-2a1b3c4d5e6f"));
      REQUIRE(issued.ok());
      const std::string leaf_path = Write(dir, "leaf.pem", issued->pem);
      const auto verify =
          Run("openssl verify -x509_strict -purpose sslserver -attime " + std::to_string(kNow) +
              " -CAfile " + ShellQuote(root_path) + " " + ShellQuote(leaf_path));
      INFO(verify.output);
      REQUIRE(verify.exit_code == 0);
      std::string why;
      INFO("Botan: " << why);
      REQUIRE(BotanValidates(*CertToDer(root->get()), issued->der, {}, &why));
      const auto certtool =
          Run("certtool --verify --verify-profile=low"
              " --load-ca-certificate " +
              ShellQuote(root_path) + " --infile " + ShellQuote(leaf_path));
      INFO(certtool.output);
      REQUIRE(certtool.exit_code == 0);
      const auto ku = Run("openssl x509 -noout -ext keyUsage -in " + ShellQuote(leaf_path));
      if (newkey == "rsa:2048") {
        REQUIRE_THAT(ku.output, Catch::Contains("Digital Signature, Key Encipherment"));
      } else {
        REQUIRE_THAT(ku.output,
                     Catch::Contains("Digital Signature") && !Catch::Contains("Key Encipherment"));
      }
    }
  }
}

TEST_CASE("the host profile is exactly DESIGN.md section 3") {
  FakeClock clock(kNow);
  EVP_PKEY* key = CachedKey(KeyType::kP256);
  auto root = *CreateRootCertificate(key, CaOptions{}, clock);
  auto issuer = *Issuer::Create(CopyRef(key), CopyRef(root.get()), {}, "hostca");
  EvpPkeyPtr host_key = *GenerateKey(KeyType::kP256);
  const std::string id = "0b5f1c52-7d2e-4c3a-9f0e-2a1b3c4d5e6f";
  IssuanceRequest req = HostRequest(host_key.get(), id);
  auto issued = issuer->Issue(req);
  REQUIRE(issued.ok());
  X509Ptr parsed = *CertFromDer(issued->der);
  X509* c = parsed.get();
  REQUIRE(X509_get_version(c) == X509_VERSION_3);
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(c), subject, sizeof(subject));
  REQUIRE(std::string(subject) == "/O=hostca/OU=hosts/CN=" + id);
  REQUIRE(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(root.get())) == 0);
  // SAN: exactly the DNS names and the URI.
  GeneralNamesPtr san(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> names;
  for (int i = 0; i < sk_GENERAL_NAME_num(san.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(san.get(), i);
    const ASN1_IA5STRING* s = gn->type == GEN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
    names.push_back((gn->type == GEN_DNS ? "DNS:" : "URI:") +
                    std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                static_cast<size_t>(ASN1_STRING_length(s))));
  }
  REQUIRE(names ==
          std::vector<std::string>{"DNS:web1.example", "DNS:www.example", "URI:urn:uuid:" + id});
  // basicConstraints critical CA:FALSE.
  int crit = -1;
  BasicConstraintsPtr bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(c, NID_basic_constraints, &crit, nullptr)));
  REQUIRE(bc);
  REQUIRE(crit == 1);
  REQUIRE(bc->ca == 0);
  // keyUsage critical digitalSignature only (EC key); EKU serverAuth+clientAuth only.
  REQUIRE(X509_get_key_usage(c) == KU_DIGITAL_SIGNATURE);
  REQUIRE(X509_get_extended_key_usage(c) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  REQUIRE(X509_EXTENSION_get_critical(X509_get_ext(c, X509_get_ext_by_NID(c, NID_key_usage, -1))) ==
          1);
  // SKI present; AKI == the CA's SKI.
  REQUIRE(X509_get0_subject_key_id(c) != nullptr);
  REQUIRE(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c),
                                X509_get0_subject_key_id(root.get())) == 0);
  // Serial: 16 bytes, positive.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(c);
  REQUIRE(ASN1_STRING_length(serial) == 16);
  REQUIRE(ASN1_STRING_type(serial) == V_ASN1_INTEGER);
  REQUIRE(SerialOf(c) == req.serial);
  // Validity exactly as asked.
  time_t nb = static_cast<time_t>(req.not_before), na = static_cast<time_t>(req.not_after);
  REQUIRE(ASN1_TIME_cmp_time_t(X509_get0_notBefore(c), nb) == 0);
  REQUIRE(ASN1_TIME_cmp_time_t(X509_get0_notAfter(c), na) == 0);
  TempDir dir;
  const std::string path = Write(dir, "leaf.pem", issued->pem);
  const auto text = Run("openssl x509 -noout -text -in " + ShellQuote(path));
  REQUIRE_THAT(text.output, Catch::Contains("URI:http://ca.example:8080/crl") &&
                                Catch::Contains("CA Issuers - URI:http://ca.example:8080/ca.crt"));
  // Without URLs the extensions are absent.
  req.crl_url.clear();
  req.ca_issuers_url.clear();
  req.serial = NewSerial();
  X509Ptr bare = *CertFromDer(issuer->Issue(req)->der);
  REQUIRE(X509_get_ext_by_NID(bare.get(), NID_crl_distribution_points, -1) < 0);
  REQUIRE(X509_get_ext_by_NID(bare.get(), NID_info_access, -1) < 0);
  // Refusals.
  req.dns_names.clear();
  req.uris.clear();
  REQUIRE(issuer->Issue(req).status().code() == Code::kInvalidArgument);
}

// The host certificate as OpenSSL's X509 objects build it (how hostca built
// it before it assembled the DER from kept encodings): its TBSCertificate.
std::string ReferenceTbs(EVP_PKEY* ca_key, X509* ca_cert, const std::string& organization,
                         const IssuanceRequest& req) {
  X509Ptr cert(X509_new());
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(req.serial.data()),
                         static_cast<int>(req.serial.size()), nullptr));
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  REQUIRE(X509_set_version(cert.get(), X509_VERSION_3) == 1);
  REQUIRE(X509_set_serialNumber(cert.get(), serial.get()) == 1);
  REQUIRE(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert)) == 1);
  REQUIRE(X509_set_pubkey(cert.get(), req.public_key) == 1);
  REQUIRE(ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(req.not_before)));
  REQUIRE(ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(req.not_after)));
  REQUIRE(internal::SetSubject(X509_get_subject_name(cert.get()), organization,
                               req.organizational_unit, req.common_name)
              .ok());
  std::string san;
  for (const std::string& d : req.dns_names) {
    san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  }
  for (const std::string& ip : req.ip_addresses) {
    san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  }
  for (const std::string& u : req.uris) {
    san += (san.empty() ? "" : ",") + std::string("URI:") + u;
  }
  const bool rsa = EVP_PKEY_get_base_id(req.public_key) == EVP_PKEY_RSA;
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage,
       rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth,clientAuth"}};
  for (const auto& [nid, value] : exts) {
    X509ExtensionPtr ext = *internal::MakeExtension(nullptr, nid, value);
    REQUIRE(X509_add_ext(cert.get(), ext.get(), -1) == 1);
  }
  X509ExtensionPtr aki = *internal::MakeAkiFromIssuer(ca_cert);
  REQUIRE(X509_add_ext(cert.get(), aki.get(), -1) == 1);
  exts = {{NID_subject_key_identifier, "hash"}, {NID_subject_alt_name, san}};
  if (!req.crl_url.empty()) {
    exts.emplace_back(NID_crl_distribution_points, "URI:" + req.crl_url);
  }
  if (!req.ca_issuers_url.empty()) {
    exts.emplace_back(NID_info_access, "caIssuers;URI:" + req.ca_issuers_url);
  }
  for (const auto& [nid, value] : exts) {
    X509ExtensionPtr ext = *internal::MakeExtension(cert.get(), nid, value);
    REQUIRE(X509_add_ext(cert.get(), ext.get(), -1) == 1);
  }
  REQUIRE(X509_sign(cert.get(), ca_key, DigestFor(ca_key)) > 0);
  unsigned char* buf = nullptr;
  const int len = i2d_re_X509_tbs(cert.get(), &buf);
  REQUIRE(len > 0);
  std::string out(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

// The TBSCertificate of a certificate's DER.
std::string TbsOf(std::string_view cert_der) {
  DerTlv outer, tbs;
  REQUIRE(ReadDer(&cert_der, der::kSequence, &outer));
  std::string_view body = outer.content;
  REQUIRE(ReadDer(&body, der::kSequence, &tbs));
  return std::string(tbs.whole);
}

TEST_CASE("the host certificate is byte for byte what OpenSSL's objects build") {
  FakeClock clock(kNow);
  for (const char* ca_type : {"p256", "p384", "ed25519", "rsa3072"}) {
    EVP_PKEY* ca_key = CachedKey(*ParseKeyType(ca_type));
    CaOptions options;
    options.organization = "Exämple Org";  // not ASCII: UTF8String either way
    auto root = *CreateRootCertificate(ca_key, options, clock);
    auto issuer = *Issuer::Create(CopyRef(ca_key), CopyRef(root.get()), {}, options.organization);
    for (const char* key_type : {"p256", "p384", "ed25519", "rsa3072"}) {
      INFO("CA " << ca_type << ", key " << key_type);
      EVP_PKEY* key = CachedKey(*ParseKeyType(key_type));
      IssuanceRequest req = HostRequest(key, "0b5f1c52-7d2e-4c3a-9f0e-2a1b3c4d5e6f");
      REQUIRE(TbsOf(issuer->Issue(req)->der) ==
              ReferenceTbs(ca_key, root.get(), "Exämple Org", req));
      // The key as a CSR encodes it.
      const std::string spki = *PublicKeyToDer(key);
      req.public_key_spki = spki;
      const std::string der = issuer->Issue(req)->der;
      REQUIRE(TbsOf(der) == ReferenceTbs(ca_key, root.get(), "Exämple Org", req));
      // OpenSSL reads it back and the signature verifies.
      X509Ptr parsed = *CertFromDer(der);
      REQUIRE(X509_verify(parsed.get(), ca_key) == 1);
    }
    // Every field that varies: IP names, no URLs, no OU, a 2050+ notAfter
    // (GeneralizedTime), a serial with its top bit clear but a short form.
    IssuanceRequest req = HostRequest(CachedKey(KeyType::kP256), "hostca-server");
    req.dns_names = {"ca.example"};
    req.ip_addresses = {"127.0.0.1", "::1", "2001:db8::7"};
    req.uris.clear();
    req.crl_url.clear();
    req.ca_issuers_url.clear();
    req.organizational_unit.clear();
    req.serial = std::string("\x00\x01\x7f", 3);
    req.not_after = 2600000000;  // 2052
    REQUIRE(TbsOf(issuer->Issue(req)->der) == ReferenceTbs(ca_key, root.get(), "Exämple Org", req));
    req.not_before = -700000000;  // 1947: before UTCTime's range too
    REQUIRE(TbsOf(issuer->Issue(req)->der) == ReferenceTbs(ca_key, root.get(), "Exämple Org", req));
  }
  // What OpenSSL refuses is refused: a CN over 64 characters, bad UTF-8, a
  // bad IP address.
  EVP_PKEY* ca_key = CachedKey(KeyType::kP256);
  auto root = *CreateRootCertificate(ca_key, CaOptions{}, clock);
  auto issuer = *Issuer::Create(CopyRef(ca_key), CopyRef(root.get()), {}, "hostca");
  IssuanceRequest req = HostRequest(CachedKey(KeyType::kP256), std::string(65, 'a'));
  REQUIRE(issuer->Issue(req).status().code() == Code::kInvalidArgument);
  req.common_name = std::string(64, 'a');
  REQUIRE(issuer->Issue(req).ok());
  req.common_name = "bad\xff";
  REQUIRE(issuer->Issue(req).status().code() == Code::kInvalidArgument);
  // Not UTF-8 by RFC 3629 either: overlong forms ("/" in two bytes, U+0800
  // in four), a UTF-16 surrogate, a code point past U+10FFFF, a truncated
  // sequence.
  for (const char* bad :
       {"a\xc0\xaf", "\xf0\x80\xa0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    INFO(bad);
    req.common_name = bad;
    REQUIRE(issuer->Issue(req).status().code() == Code::kInvalidArgument);
  }
  // The edges that are UTF-8: U+0080, U+07FF, U+FFFF, U+10FFFF, and 64
  // characters of three bytes each.
  for (const std::string good : {"\xc2\x80", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}) {
    req.common_name = good;
    REQUIRE(issuer->Issue(req).ok());
  }
  std::string wide;
  for (int i = 0; i < 64; ++i) {
    wide += "\xe2\x82\xac";  // €
  }
  req.common_name = wide;
  REQUIRE(issuer->Issue(req).ok());
  req.common_name = "ok";
  req.ip_addresses = {"300.1.1.1"};
  REQUIRE(issuer->Issue(req).status().code() == Code::kInvalidArgument);
}

TEST_CASE("the CA key file is 0600 and encrypted and a wrong passphrase is a clear error") {
  TempDir dir;
  const std::string path = dir.Sub("ca.key");
  EVP_PKEY* key = CachedKey(KeyType::kP256);
  REQUIRE(WriteEncryptedKey(path, key, "correct horse", true).ok());
  REQUIRE(*FileMode(path) == 0600);
  REQUIRE_THAT(*ReadFile(path), Catch::Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
  REQUIRE(WriteEncryptedKey(path, key, "x", true).code() == Code::kAlreadyExists);
  REQUIRE(Run("openssl pkey -noout -in " + ShellQuote(path) + " -passin pass:wrong").exit_code !=
          0);
  REQUIRE(Run("openssl pkey -noout -in " + ShellQuote(path) + " -passin pass:'correct horse'")
              .exit_code == 0);
  const auto wrong = LoadEncryptedKey(path, "wrong");
  REQUIRE(wrong.status().reason() == "bad_passphrase");
  REQUIRE_THAT(wrong.status().message(), Catch::Contains("wrong passphrase"));
  auto right = LoadEncryptedKey(path, "correct horse");
  REQUIRE(right.ok());
  REQUIRE(EVP_PKEY_eq(right->get(), key) == 1);
  REQUIRE(LoadEncryptedKey(dir.Sub("missing"), "x").status().code() == Code::kNotFound);
  Write(dir, "plain", "not a key");
  REQUIRE(LoadEncryptedKey(dir.Sub("plain"), "x").status().reason() == "bad_key");
}

TEST_CASE("bad CSRs are refused with stable codes and extra requests are ignored") {
  TempDir dir;
  const CsrPolicy policy;
  const std::string good = OpensslCsr(dir, "ec -pkeyopt ec_paramgen_curve:P-256");
  REQUIRE(ParseAndCheckCsr(good, policy).ok());
  // Flip a byte inside the signature (the DER's last bytes).
  auto req = *CsrFromPemOrDer(good);
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  bytes[bytes.size() - 5] ^= 0x01;
  REQUIRE(ParseAndCheckCsr(bytes, policy).status().reason() == "csr_bad_signature");
  REQUIRE(ParseAndCheckCsr(OpensslCsr(dir, "rsa:1024"), policy).status().reason() ==
          "csr_key_too_small");
  REQUIRE(ParseAndCheckCsr(OpensslCsr(dir, "ec -pkeyopt ec_paramgen_curve:secp256k1"), policy)
              .status()
              .reason() == "csr_key_type");
  REQUIRE(ParseAndCheckCsr(OpensslCsr(dir, "ec -pkeyopt ec_paramgen_curve:P-256",
                                      "-addext basicConstraints=critical,CA:TRUE"),
                           policy)
              .status()
              .reason() == "csr_requests_ca");
  REQUIRE(ParseAndCheckCsr("garbage", policy).status().reason() == "bad_csr");
  REQUIRE(ParseAndCheckCsr("", policy).status().reason() == "bad_csr");
  // A CSR asking for evil.example gets only the names of the request.
  auto evil = ParseAndCheckCsr(OpensslCsr(dir, "ec -pkeyopt ec_paramgen_curve:P-256",
                                          "-addext subjectAltName=DNS:evil.example"),
                               policy);
  REQUIRE(evil.ok());
  REQUIRE(evil->requested_dns_names == std::vector<std::string>{"evil.example"});
  FakeClock clock(kNow);
  EVP_PKEY* key = CachedKey(KeyType::kP256);
  auto root = *CreateRootCertificate(key, CaOptions{}, clock);
  auto issuer = *Issuer::Create(CopyRef(key), CopyRef(root.get()), {}, "hostca");
  auto issued = issuer->Issue(HostRequest(evil->public_key.get(), "id"));
  const std::string path = Write(dir, "evil.pem", issued->pem);
  REQUIRE_THAT(Run("openssl x509 -noout -ext subjectAltName -in " + ShellQuote(path)).output,
               !Catch::Contains("evil.example"));
}

// The CSR is walked by hand (ca/csr.cpp) and its key copied into the
// certificate as encoded: every accepted kind of CSR must give a certificate
// whose key is the CSR's, as openssl itself reads them.
TEST_CASE("CSRs of every accepted key and digest give a certificate with the CSR's own key") {
  TempDir dir;
  FakeClock clock(kNow);
  EVP_PKEY* ca_key = CachedKey(KeyType::kP256);
  auto root = *CreateRootCertificate(ca_key, CaOptions{}, clock);
  auto issuer = *Issuer::Create(CopyRef(ca_key), CopyRef(root.get()), {}, "hostca");
  for (const std::string& kind :
       {std::string("ec -pkeyopt ec_paramgen_curve:P-256"),
        std::string("ec -pkeyopt ec_paramgen_curve:P-384 -sha384"),
        std::string("ec -pkeyopt ec_paramgen_curve:P-256 -sha512"), std::string("ed25519"),
        std::string("rsa:2048"), std::string("rsa:2048 -sha384")}) {
    INFO(kind);
    const std::string csr_pem = OpensslCsr(dir, kind, "-addext subjectAltName=DNS:x.example");
    auto csr = ParseAndCheckCsr(csr_pem, CsrPolicy{});
    INFO(csr.status().ToString());
    REQUIRE(csr.ok());
    REQUIRE(csr->requested_dns_names == std::vector<std::string>{"x.example"});
    IssuanceRequest req = HostRequest(csr->public_key.get(), "id");
    req.public_key_spki = csr->spki_der;
    auto issued = issuer->Issue(req);
    REQUIRE(issued.ok());
    const std::string cert = Write(dir, "c.pem", issued->pem);
    const std::string req_file = Write(dir, "r.pem", csr_pem);
    REQUIRE(Run("openssl x509 -noout -pubkey -in " + ShellQuote(cert)).output ==
            Run("openssl req -noout -pubkey -in " + ShellQuote(req_file)).output);
    const auto verify =
        Run("openssl verify -CAfile " + ShellQuote(Write(dir, "ca.pem", *CertToPem(root.get()))) +
            " " + ShellQuote(cert));
    INFO(verify.output);
    REQUIRE(verify.exit_code == 0);
  }
}

TEST_CASE("CSR keys, digests and encodings outside the policy are refused") {
  TempDir dir;
  const CsrPolicy policy;
  for (const std::string& kind :
       {std::string("ec -pkeyopt ec_paramgen_curve:P-521"), std::string("ed448")}) {
    INFO(kind);
    REQUIRE(ParseAndCheckCsr(OpensslCsr(dir, kind), policy).status().reason() == "csr_key_type");
  }
  REQUIRE(ParseAndCheckCsr(OpensslCsr(dir, "rsa:2048 -sha1"), policy).status().reason() ==
          "csr_bad_signature");
  const std::string good = OpensslCsr(dir, "ec -pkeyopt ec_paramgen_curve:P-256");
  const std::string der = *CsrDerOf(good);
  REQUIRE(ParseAndCheckCsr(der, policy).ok());
  REQUIRE(ParseAndCheckCsr(der + std::string(1, '\0'), policy).status().reason() == "bad_csr");
  REQUIRE(ParseAndCheckCsr(der.substr(0, der.size() - 1), policy).status().reason() == "bad_csr");
  // A point off the curve (the last byte of y changed), for both curves.
  for (const char* curve : {"P-256", "P-384"}) {
    const std::string csr_der =
        *CsrDerOf(OpensslCsr(dir, std::string("ec -pkeyopt ec_paramgen_curve:") + curve));
    const std::string spki = ParseAndCheckCsr(csr_der, policy)->spki_der;
    const size_t last = csr_der.find(spki) + spki.size() - 1;
    std::string off = csr_der;
    off[last] = static_cast<char>(off[last] ^ 0x01);
    INFO(curve);
    REQUIRE(ParseAndCheckCsr(off, policy).status().reason() == "bad_csr");
  }
  // Every single-byte change is refused or (in the unsigned outer framing)
  // still verifies; none may crash or read out of bounds (ASan runs this).
  for (size_t i = 0; i < der.size(); ++i) {
    for (const unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = der;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ mask);
      auto r = ParseAndCheckCsr(bad, policy);
      if (!r.ok()) {
        REQUIRE(!r.status().reason().empty());
      }
    }
  }
}

TEST_CASE("intermediate CA: CSR signed by an openssl root then checked and issuing") {
  TempDir dir;
  FakeClock clock(std::time(nullptr));
  REQUIRE(
      Run("cd " + ShellQuote(dir.path().string()) +
          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
          " -subj /CN=ExtRoot -days 30 -keyout root.key -out root.pem"
          " -addext keyUsage=critical,keyCertSign,cRLSign"
          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
          " -subj /CN=OtherRoot -days 30 -keyout other.key -out other.pem"
          " && printf "
          "'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ca.ext"
          " && printf 'basicConstraints=critical,CA:FALSE\\n' > leaf.ext")
          .exit_code == 0);
  EvpPkeyPtr key = *GenerateKey(KeyType::kP256);
  CaOptions options;
  options.organization = "Inter Org";
  auto csr = CreateIntermediateCsr(key.get(), options);
  REQUIRE(csr.ok());
  Write(dir, "inter.csr", *CsrToPem(csr->get()));
  const std::string d = ShellQuote(dir.path().string());
  auto sign = [&](const std::string& ca, const std::string& ext, const std::string& out) {
    return Run("cd " + d + " && openssl x509 -req -in inter.csr -CA " + ca + ".pem -CAkey " + ca +
               ".key -CAcreateserial -days 20 -extfile " + ext + " -out " + out)
        .exit_code;
  };
  REQUIRE(sign("root", "ca.ext", "inter.pem") == 0);
  REQUIRE(sign("root", "leaf.ext", "notca.pem") == 0);
  REQUIRE(sign("other", "ca.ext", "wrongroot.pem") == 0);
  // openssl stamps notBefore with the second it ran: look from a moment later.
  clock.Set(std::time(nullptr) + 2);
  auto roots = *CertsFromPemBundle(*ReadFile(dir.Sub("root.pem")));
  auto inter = *CertFromPem(*ReadFile(dir.Sub("inter.pem")));
  auto chain = CheckIntermediateCertificate(inter.get(), key.get(), roots, clock);
  REQUIRE(chain.ok());
  REQUIRE(chain->size() == 1);
  EvpPkeyPtr other_key = *GenerateKey(KeyType::kP256);
  REQUIRE(
      CheckIntermediateCertificate(inter.get(), other_key.get(), roots, clock).status().reason() ==
      "key_mismatch");
  auto notca = *CertFromPem(*ReadFile(dir.Sub("notca.pem")));
  REQUIRE(CheckIntermediateCertificate(notca.get(), key.get(), roots, clock).status().reason() ==
          "not_a_ca");
  auto wrong = *CertFromPem(*ReadFile(dir.Sub("wrongroot.pem")));
  REQUIRE(CheckIntermediateCertificate(wrong.get(), key.get(), roots, clock).status().reason() ==
          "chain_invalid");
  auto issuer = Issuer::Create(std::move(key), std::move(inter), std::move(*chain), "Inter Org");
  REQUIRE(issuer.ok());
  REQUIRE((*issuer)->chain_pem().size() == 2);
  EvpPkeyPtr host_key = *GenerateKey(KeyType::kP256);
  IssuanceRequest req = HostRequest(host_key.get(), "id");
  req.not_before = clock.NowSeconds() - 300;
  req.not_after = clock.NowSeconds() + 86400;
  auto leaf = (*issuer)->Issue(req);
  Write(dir, "leaf.pem", leaf->pem);
  const auto verify = Run("cd " + d +
                          " && openssl verify -x509_strict -purpose sslserver -CAfile root.pem"
                          " -untrusted inter.pem leaf.pem");
  INFO(verify.output);
  REQUIRE(verify.exit_code == 0);
}

TEST_CASE("serials are 16 bytes positive and distinct and print as hex without leading zeros") {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const std::string s = NewSerial();
    REQUIRE(s.size() == 16);
    REQUIRE(static_cast<unsigned char>(s[0]) >= 0x01);
    REQUIRE(static_cast<unsigned char>(s[0]) <= 0x7f);
    seen.insert(s);
  }
  REQUIRE(seen.size() == 10000);
  const std::string raw("\x0a\x1b", 2);
  REQUIRE(SerialToHex(raw) == "a1b");
  REQUIRE(*SerialFromHex("a1b") == raw);
  REQUIRE(*SerialFromHex("A1B") == raw);
  const std::string s = NewSerial();
  REQUIRE(*SerialFromHex(SerialToHex(s)) == s);
  REQUIRE_FALSE(SerialFromHex("xyz").ok());
  REQUIRE_FALSE(ParseKeyType("dsa").ok());
  // rsa2048 is a host key type, not a CA's
  CHECK(ParseKeyType("rsa2048").status().reason() == "bad_key_type");
}

}  // namespace
}  // namespace hostca::ca
