// SniTable and CertSelector::Choose: which certificate a handshake gets.
#include "server/sni_table.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "common/pem.h"
#include "server/options.h"
#include "tests/testutil.h"

namespace hostca::server {
namespace {

// A P-256 certificate with SAN DNS `names`, self-signed unless `issuer`.
std::unique_ptr<TlsIdentity> MakeIdentity(const std::string& cn,
                                          const std::vector<std::string>& names,
                                          const TlsIdentity* issuer = nullptr) {
  auto id = std::make_unique<TlsIdentity>();
  id->key.reset(EVP_EC_gen("P-256"));
  id->leaf.reset(X509_new());
  X509* c = id->leaf.get();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
  X509_gmtime_adj(X509_getm_notBefore(c), -60);
  X509_gmtime_adj(X509_getm_notAfter(c), 86400);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(c, X509_get_subject_name(issuer ? issuer->leaf.get() : c));
  X509_set_pubkey(c, id->key.get());
  if (!names.empty()) {
    std::string san;
    for (const std::string& n : names) {
      san += (san.empty() ? "DNS:" : ",DNS:") + n;
    }
    X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    REQUIRE(ext);
    X509_add_ext(c, ext.get(), -1);
  }
  REQUIRE(X509_sign(c, issuer ? issuer->key.get() : id->key.get(), EVP_sha256()) > 0);
  id->description = cn;
  return id;
}

TEST_CASE("SNI names match exactly, case-insensitively, and one-label wildcards") {
  SniTable table;
  REQUIRE(table.Add(MakeIdentity("a", {"a.example.com", "Alias.Example.com"})).ok());
  REQUIRE(table.Add(MakeIdentity("w", {"*.example.com"})).ok());
  REQUIRE(table.Find("a.example.com")->description == "a");
  REQUIRE(table.Find("ALIAS.example.COM")->description == "a");
  REQUIRE(table.Find("b.example.com")->description == "w");
  REQUIRE(table.Find("example.com") == nullptr);
  REQUIRE(table.Find("x.b.example.com") == nullptr);
  REQUIRE(table.Find("other.org") == nullptr);
  REQUIRE(table.Find("") == nullptr);
}

TEST_CASE("SNI refuses duplicate names and certificates without DNS names") {
  SniTable table;
  REQUIRE(table.Add(MakeIdentity("a", {"a.example.com"})).ok());
  const Status dup = table.Add(MakeIdentity("b", {"b.example.com", "A.example.com"}));
  REQUIRE(dup.reason() == "duplicate_sni_name");
  REQUIRE(table.Find("b.example.com") == nullptr);  // nothing of the refused one was added
  REQUIRE(table.Add(MakeIdentity("none", {})).reason() == "sni_no_names");
  REQUIRE(table.size() == 1);
}

TEST_CASE("the selector prefers SNI, then the mode's external identity, then the default") {
  auto sni = std::make_unique<SniTable>();
  REQUIRE(sni->Add(MakeIdentity("a", {"a.example.com"})).ok());
  enrollment::ModeState mode(enrollment::DomainMode::kInternal);
  CertSelector sel(mode, MakeIdentity("ext", {"localhost"}), MakeIdentity("default", {"d"}),
                   std::move(sni));
  REQUIRE(sel.Choose("a.example.com")->description == "a");
  REQUIRE(sel.Choose(nullptr)->description == "default");
  REQUIRE(sel.Choose("unknown.example.com")->description == "default");
  mode.Set(enrollment::DomainMode::kMixed);
  REQUIRE(sel.Choose(nullptr)->description == "ext");
  REQUIRE(sel.Choose("a.example.com")->description == "a");
  // Without a configured default: the context's certificate (null).
  enrollment::ModeState internal(enrollment::DomainMode::kInternal);
  CertSelector plain(internal, nullptr);
  REQUIRE(plain.Choose("a.example.com") == nullptr);
}

TEST_CASE("a self-signed default certificate is refused, an issued one loads") {
  testing::TempDir dir;
  auto root = MakeIdentity("root", {});
  auto leaf = MakeIdentity("leaf", {"d.example.com"}, root.get());
  REQUIRE(IsSelfSigned(root->leaf.get()));
  REQUIRE_FALSE(IsSelfSigned(leaf->leaf.get()));
  auto write = [&](const std::string& name, const TlsIdentity& id) {
    std::ofstream(dir.Sub(name)) << *CertToPem(id.leaf.get()) << *PrivateKeyToPem(id.key.get());
    return dir.Sub(name);
  };
  const auto refused = LoadDefaultIdentity(write("self.pem", *root), "");
  REQUIRE(refused.status().reason() == "self_signed_default");
  const auto loaded = LoadDefaultIdentity(write("leaf.pem", *leaf), "");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
}

TEST_CASE("a root in a certificate file or chain file is not part of the served chain") {
  testing::TempDir dir;
  auto root = MakeIdentity("root", {});
  auto inter = MakeIdentity("intermediate", {}, root.get());
  auto leaf = MakeIdentity("leaf", {"r.example.com"}, inter.get());
  const std::string leaf_pem = *CertToPem(leaf->leaf.get());
  const std::string inter_pem = *CertToPem(inter->leaf.get());
  const std::string root_pem = *CertToPem(root->leaf.get());
  std::ofstream(dir.Sub("bundle.pem")) << leaf_pem << inter_pem << root_pem;
  std::ofstream(dir.Sub("leaf.pem")) << leaf_pem;
  std::ofstream(dir.Sub("chain.pem")) << inter_pem << root_pem;
  std::ofstream(dir.Sub("leaf.key")) << *PrivateKeyToPem(leaf->key.get());
  for (const auto& [crt, chain] : {std::pair{dir.Sub("bundle.pem"), std::string()},
                                   std::pair{dir.Sub("leaf.pem"), dir.Sub("chain.pem")}}) {
    INFO(crt << " " << chain);
    auto id = LoadTlsIdentity(crt, dir.Sub("leaf.key"), chain, "");
    REQUIRE(id.ok());
    REQUIRE(id->chain.size() == 1);
    REQUIRE(X509_cmp(id->chain.front().get(), inter->leaf.get()) == 0);
  }
}

TEST_CASE("[tls] keys load with paths from the file's directory") {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.toml");
  ServerOptions o;
  std::ofstream(path) << "[tls]\nsni_certificates = [\"a.pem\", \"/etc/b.pem\"]\n"
                         "default_certificate = \"d.pem\"\n";
  const Status st = LoadConfigFile(path, &o);
  INFO(st.ToString());
  REQUIRE(st.ok());
  REQUIRE(o.tls_sni_certificates ==
          std::vector<std::string>{dir.Sub("a.pem"), std::string("/etc/b.pem")});
  REQUIRE(o.tls_default_certificate == dir.Sub("d.pem"));
  for (const char* bad :
       {"[tls]\nsni_certificates = \"a.pem\"\n", "[tls]\nsni_certificates = [1]\n",
        "[tls]\ndefault_key = \"k.pem\"\n", "[tls]\nsni_certificate = []\n"}) {
    INFO(bad);
    std::ofstream(path) << bad;
    ServerOptions fresh;
    REQUIRE(LoadConfigFile(path, &fresh).code() == Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace hostca::server
