#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/der.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/pem.h"
#include "common/status.h"

namespace hostca {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) {
    return InvalidArgument("odd", "odd_number");
  }
  return x / 2;
}

Result<int> Quarter(int x) {
  HOSTCA_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST_CASE("Result carries a value or a status with a stable reason") {
  REQUIRE(Quarter(8).ok());
  REQUIRE(*Quarter(8) == 2);
  const auto r = Quarter(6);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.status().code() == Code::kInvalidArgument);
  REQUIRE(r.status().reason() == "odd_number");
  REQUIRE(Internal("x").reason() == "internal");
}

TEST_CASE("key types: names, the allowed subset, and the type of a key") {
  const std::initializer_list<KeyType> all = {KeyType::kP256,    KeyType::kP384,
                                              KeyType::kEd25519, KeyType::kRsa2048,
                                              KeyType::kRsa3072, KeyType::kRsa4096};
  for (KeyType t : all) {
    INFO(KeyTypeName(t));
    auto parsed = ParseKeyType(KeyTypeName(t), all);
    REQUIRE(parsed.ok());
    CHECK(*parsed == t);
  }
  auto refused = ParseKeyType("rsa4096", {KeyType::kP256, KeyType::kEd25519});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kInvalidArgument);
  CHECK(refused.status().reason() == "bad_key_type");
  CHECK(refused.status().message() == "unknown key type 'rsa4096' (p256, ed25519)");
  CHECK_FALSE(ParseKeyType("P256", all).ok());  // names are exact

  for (KeyType t : {KeyType::kP256, KeyType::kP384, KeyType::kEd25519, KeyType::kRsa2048}) {
    INFO(KeyTypeName(t));
    auto key = GenerateKey(t);
    REQUIRE(key.ok());
    auto type = KeyTypeOf(key->get());
    REQUIRE(type.ok());
    CHECK(*type == t);
  }
  EvpPkeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  REQUIRE(x25519);
  CHECK(KeyTypeOf(x25519.get()).status().reason() == "bad_key_type");
  EvpPkeyPtr k1(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  REQUIRE(k1);
  auto k1_type = KeyTypeOf(k1.get());
  CHECK(k1_type.status().reason() == "bad_key_type");
  CHECK(k1_type.status().message() == "unsupported EC group secp256k1");
}

TEST_CASE("hex and base64url round-trip") {
  const std::string bytes = RandomBytes(33);
  REQUIRE(*HexDecode(HexEncode(bytes)) == bytes);
  REQUIRE(*Base64UrlDecode(Base64UrlEncode(bytes)) == bytes);
  REQUIRE(HexEncode("\x01\xab") == "01ab");
  REQUIRE_FALSE(HexDecode("0g").ok());
  REQUIRE_FALSE(Base64UrlDecode("a+b").ok());
}

TEST_CASE("RFC 3339 formatting and parsing") {
  REQUIRE(FormatRfc3339(0) == "1970-01-01T00:00:00Z");
  REQUIRE(*ParseRfc3339("2026-11-22T11:27:00Z") == 1795346820);
  REQUIRE(FormatRfc3339(1795346820) == "2026-11-22T11:27:00Z");
  REQUIRE_FALSE(ParseRfc3339("2026-11-22 11:27:00").ok());
}

TEST_CASE("atomic writes set the mode and replace the content") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hostca-common-" + HexEncode(RandomBytes(6)));
  REQUIRE(MakeDirs(dir.string(), 0700).ok());
  const std::string path = (dir / "k").string();
  REQUIRE(WriteFileAtomic(path, "one", 0600).ok());
  REQUIRE(*FileMode(path) == 0600);
  REQUIRE(WriteFileAtomic(path, "two", 0600).ok());
  REQUIRE(*ReadFile(path) == "two");
  REQUIRE(WriteFileExclusive(path, "three", 0600).code() == Code::kAlreadyExists);
  REQUIRE(*ReadFile(path) == "two");
  REQUIRE(ReadFile((dir / "missing").string()).status().code() == Code::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST_CASE("fake clock moves only when told") {
  FakeClock clock(100);
  clock.Advance(5);
  REQUIRE(clock.NowSeconds() == 105);
  REQUIRE(ConstantTimeEquals("abc", "abc"));
  REQUIRE_FALSE(ConstantTimeEquals("abc", "abd"));
}

TEST_CASE("DER headers take the short form under 128 bytes, then the fewest length bytes") {
  for (const auto& [len, expect] : std::vector<std::pair<size_t, std::string>>{
           {0, std::string("\x30\x00", 2)},
           {127, "\x30\x7f"},
           {128, "\x30\x81\x80"},
           {255, "\x30\x81\xff"},
           {256, std::string("\x30\x82\x01\x00", 4)},
           {65535, "\x30\x82\xff\xff"},
           {65536, std::string("\x30\x83\x01\x00\x00", 5)}}) {
    std::string out;
    der::AppendHeader(&out, der::kSequence, len);
    REQUIRE(out == expect);
    REQUIRE(der::HeaderSize(len) == expect.size());
  }
}

TEST_CASE("DER times match OpenSSL's: UTCTime from 1950 to 2049, GeneralizedTime outside") {
  std::vector<int64_t> times = {-631152001, -631152000, -1,          0,
                                951782400,  951868799,  2524607999,  2524608000,
                                4102444800, 4107542399, 253402300799};
  uint64_t x = 88172645463325252ull;  // xorshift: a fixed sweep over 1940 to 9999
  for (int i = 0; i < 5000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    times.push_back(-946771200 + static_cast<int64_t>(x % 254348800000ull));
  }
  for (const int64_t t : times) {
    ASN1_TIME* expected = ASN1_TIME_set(nullptr, static_cast<time_t>(t));
    REQUIRE(expected != nullptr);
    unsigned char* der = nullptr;
    const int len = i2d_ASN1_TIME(expected, &der);
    REQUIRE(len > 0);
    const std::string want(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    ASN1_TIME_free(expected);
    INFO("unix time " << t);
    REQUIRE(der::Time(t) == want);
  }
}

TEST_CASE("DerToPem armours exactly like OpenSSL's PEM writer") {
  // Any bytes do; wrap lengths are what matters (0, 1, 47, 48, 49, 100 bytes).
  for (size_t n : {0, 1, 47, 48, 49, 100}) {
    const std::string der = RandomBytes(n);
    const std::string pem = DerToPem(der, "CERTIFICATE");
    REQUIRE(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0) == 0);
    std::string body;
    for (size_t pos = pem.find('\n') + 1; pos < pem.size();) {
      const size_t nl = pem.find('\n', pos);
      const std::string line = pem.substr(pos, nl - pos);
      if (line.rfind("-----END", 0) == 0) {
        break;
      }
      REQUIRE(line.size() <= 64);
      body += line;
      pos = nl + 1;
    }
    REQUIRE(body.size() == (n + 2) / 3 * 4);
  }
}

// A self-signed P-256 certificate named `cn`, valid for a day.
X509Ptr SelfSigned(const std::string& cn) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  REQUIRE(key);
  X509Ptr cert(X509_new());
  REQUIRE(X509_set_version(cert.get(), 2) == 1);
  REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1) == 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                     0) == 1);
  REQUIRE(X509_set_issuer_name(cert.get(), name) == 1);
  REQUIRE(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) != nullptr);
  REQUIRE(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) != nullptr);
  REQUIRE(X509_set_pubkey(cert.get(), key.get()) == 1);
  REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
  return cert;
}

bool Verifies(X509_STORE* store, X509* cert) {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store, cert, nullptr) == 1);
  return X509_verify_cert(ctx.get()) == 1;
}

TEST_CASE("a trust store holds every certificate of a PEM bundle and nothing else") {
  const X509Ptr a = SelfSigned("anchor a"), b = SelfSigned("anchor b"), c = SelfSigned("other");
  const std::string bundle = *CertToPem(a.get()) + *CertToPem(b.get());
  auto store = TrustStoreFromPem(bundle);
  REQUIRE(store.ok());
  REQUIRE(Verifies(store->get(), a.get()));
  REQUIRE(Verifies(store->get(), b.get()));
  REQUIRE_FALSE(Verifies(store->get(), c.get()));
  // The same certificate twice is one anchor, not an error.
  REQUIRE(TrustStoreFromPem(bundle + *CertToPem(a.get())).ok());
  for (const std::string bad : {"", "not PEM at all", "-----BEGIN CERTIFICATE-----\nAAAA\n"}) {
    const auto refused = TrustStoreFromPem(bad);
    REQUIRE(refused.status().reason() == "bad_certificate");
  }
}

}  // namespace
}  // namespace hostca
