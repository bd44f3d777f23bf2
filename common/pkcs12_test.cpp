// common/pkcs12: round trip, wrong passphrase, mismatched key, and files
// OpenSSL's own command line writes and reads.
#include "common/pkcs12.h"

#include <openssl/pkcs12.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>

#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"

namespace hostca {
namespace {

EvpPkeyPtr NewP256() { return EvpPkeyPtr(EVP_EC_gen("P-256")); }

// A certificate for `cn` with `key`, signed by `issuer_key` (and
// `issuer`'s name; self-signed when `issuer` is null).
X509Ptr MakeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  REQUIRE(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0);
  return cert;
}

struct Fixture {
  Fixture() {
    ca_key = NewP256();
    ca = MakeCert("Test CA", ca_key.get(), nullptr, ca_key.get());
    key = NewP256();
    leaf = MakeCert("leaf.example", key.get(), ca.get(), ca_key.get());
  }
  EvpPkeyPtr ca_key, key;
  X509Ptr ca, leaf;
};

TEST_CASE("PKCS#12 round trip keeps the certificate, the key and the chain") {
  Fixture f;
  auto der = EncodePkcs12(f.leaf.get(), f.key.get(), {f.ca.get()}, "s3cret pass", "leaf");
  REQUIRE(der.ok());
  auto back = DecodePkcs12(*der, "s3cret pass");
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  REQUIRE(X509_cmp(back->cert.get(), f.leaf.get()) == 0);
  REQUIRE(EVP_PKEY_eq(back->key.get(), f.key.get()) == 1);
  REQUIRE(back->chain.size() == 1);
  REQUIRE(X509_cmp(back->chain[0].get(), f.ca.get()) == 0);
}

TEST_CASE("PKCS#12 uses PBES2 with AES-256-CBC and a SHA-256 MAC") {
  Fixture f;
  auto der = EncodePkcs12(f.leaf.get(), f.key.get(), {f.ca.get()}, "pw", "");
  REQUIRE(der.ok());
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  std::unique_ptr<PKCS12, OsslDeleter<PKCS12_free>> p12(
      d2i_PKCS12(nullptr, &p, static_cast<long>(der->size())));
  REQUIRE(p12);
  const X509_ALGOR* mac_alg = nullptr;
  const ASN1_INTEGER* iter = nullptr;
  PKCS12_get0_mac(nullptr, &mac_alg, nullptr, &iter, p12.get());
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, mac_alg);
  REQUIRE(OBJ_obj2nid(oid) == NID_sha256);
  REQUIRE(ASN1_INTEGER_get(iter) == kPkcs12Iterations);
  // The bags' algorithm: the encrypted certificate bag is PBES2.
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12.get());
  REQUIRE(safes != nullptr);
  bool pbes2 = false;
  for (int i = 0; i < sk_PKCS7_num(safes); ++i) {
    PKCS7* safe = sk_PKCS7_value(safes, i);
    if (OBJ_obj2nid(safe->type) == NID_pkcs7_encrypted) {
      const ASN1_OBJECT* alg = nullptr;
      X509_ALGOR_get0(&alg, nullptr, nullptr, safe->d.encrypted->enc_data->algorithm);
      pbes2 = OBJ_obj2nid(alg) == NID_pbes2;
    }
  }
  sk_PKCS7_pop_free(safes, PKCS7_free);
  REQUIRE(pbes2);
}

TEST_CASE("PKCS#12 refuses a wrong or empty passphrase and garbage") {
  Fixture f;
  auto der = EncodePkcs12(f.leaf.get(), f.key.get(), {}, "right", "");
  REQUIRE(der.ok());
  auto wrong = DecodePkcs12(*der, "wrong");
  REQUIRE(!wrong.ok());
  REQUIRE(wrong.status().reason() == "pkcs12_bad_passphrase");
  auto empty = EncodePkcs12(f.leaf.get(), f.key.get(), {}, "", "");
  REQUIRE(empty.status().reason() == "empty_passphrase");
  REQUIRE(DecodePkcs12("not a pkcs12", "x").status().reason() == "bad_pkcs12");
  REQUIRE(DecodePkcs12(der->substr(0, der->size() / 2), "right").status().reason() == "bad_pkcs12");
}

TEST_CASE("PKCS#12 refuses a key that does not belong to the certificate") {
  Fixture f;
  EvpPkeyPtr other = NewP256();
  auto der = EncodePkcs12(f.leaf.get(), other.get(), {f.ca.get()}, "pw", "");
  REQUIRE(!der.ok());
  REQUIRE(der.status().reason() == "key_mismatch");
}

TEST_CASE("PKCS#12 made by openssl pkcs12 -export decodes, a mismatched one is refused") {
  Fixture f;
  const auto dir =
      std::filesystem::temp_directory_path() / ("hostca-p12-" + HexEncode(RandomBytes(6)));
  std::filesystem::create_directories(dir);
  const std::string d = dir.string();
  REQUIRE(WriteFileAtomic(d + "/leaf.pem", *CertToPem(f.leaf.get()), 0644).ok());
  REQUIRE(WriteFileAtomic(d + "/ca.pem", *CertToPem(f.ca.get()), 0644).ok());
  REQUIRE(WriteFileAtomic(d + "/key.pem", *PrivateKeyToPem(f.key.get()), 0600).ok());
  EvpPkeyPtr other = NewP256();
  REQUIRE(WriteFileAtomic(d + "/other.pem", *PrivateKeyToPem(other.get()), 0600).ok());
  const std::string base = "openssl pkcs12 -export -passout pass:pw -in " + d + "/leaf.pem" +
                           " -certfile " + d + "/ca.pem";
  REQUIRE(std::system((base + " -inkey " + d + "/key.pem -out " + d + "/ok.p12").c_str()) == 0);
  auto ok = DecodePkcs12(*ReadFile(d + "/ok.p12"), "pw");
  INFO(ok.status().ToString());
  REQUIRE(ok.ok());
  REQUIRE(X509_cmp(ok->cert.get(), f.leaf.get()) == 0);
  REQUIRE(ok->chain.size() == 1);
  // Our own file reads back with the openssl command line.
  REQUIRE(WriteFileAtomic(d + "/ours.p12",
                          *EncodePkcs12(f.leaf.get(), f.key.get(), {f.ca.get()}, "pw", "x"), 0600)
              .ok());
  REQUIRE(std::system(
              ("openssl pkcs12 -info -noout -passin pass:pw -in " + d + "/ours.p12 >/dev/null 2>&1")
                  .c_str()) == 0);
  REQUIRE(std::system(("openssl pkcs12 -info -noout -passin pass:nope -in " + d +
                       "/ours.p12 >/dev/null 2>&1")
                          .c_str()) != 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("passphrase files lose one trailing newline and must not be empty") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("hostca-pass-" + HexEncode(RandomBytes(6)));
  std::filesystem::create_directories(dir);
  const std::string p = (dir / "pass").string();
  REQUIRE(WriteFileAtomic(p, " two words \r\n", 0600).ok());
  REQUIRE(*ReadPassphraseFile(p) == " two words ");
  REQUIRE(WriteFileAtomic(p, "\n", 0600).ok());
  REQUIRE(ReadPassphraseFile(p).status().reason() == "empty_passphrase");
  REQUIRE(!ReadPassphraseFile((dir / "missing").string()).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hostca
