// ExternalCa: an "external" certificate authority for tests, made entirely
// with the `openssl` command line (STYLE.md rule 10: fixtures come from
// another stack than the code under test). A self-signed root and an
// intermediate, both EC P-256, with `openssl ca` databases so certificates
// can be revoked and CRLs generated.
//
//   hostca::testing::TempDir tmp;
//   hostca::testing::ExternalCa ca(tmp.Sub("ext"), "Acme", "http://127.0.0.1:8080/int.crl");
//   auto leaf = ca.IssueLeaf("web1", "web1.example.com", {"web1.example.com"}, now - 60, now +
//   86400); ca.Revoke(leaf); std::string crl = ca.IntermediateCrlPem();
//
// Layout under `dir`: openssl.cnf, root.{key,pem}, intermediate.{key,pem},
// root/ and inter/ (index.txt, serial, crlnumber, newcerts/), and per leaf
// <name>.{key,pem,csr,ext} plus <name>-chain.pem.
//
// Header-only; every method throws std::runtime_error with the failing
// command and its output. Not thread-safe (one openssl database per CA).
#pragma once

#include <cctype>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/testutil.h"

namespace hostca::testing {

class ExternalCa {
 public:
  // Makes the root (CN=<prefix> Root) and the intermediate
  // (CN=<prefix> Intermediate) under `dir` (created when missing). Both are
  // valid from a day ago for ten years. `leaf_cdp` (may be "") is the CRL
  // distribution point URL put into leaves the intermediate issues;
  // `inter_cdp` (may be "") the one put into the intermediate.
  explicit ExternalCa(std::string dir, std::string prefix = "External", std::string leaf_cdp = "",
                      std::string inter_cdp = "")
      : dir_(std::move(dir)), prefix_(std::move(prefix)), leaf_cdp_(std::move(leaf_cdp)) {
    std::filesystem::create_directories(dir_);
    for (const char* sub : {"root", "inter"}) {
      std::filesystem::create_directories(Path(sub) + "/newcerts");
      WriteText(Path(sub) + "/index.txt", "");
      WriteText(Path(sub) + "/crlnumber", "1000\n");
    }
    WriteText(Path("root/serial"), "01\n");
    WriteText(Path("inter/serial"), "1000\n");
    WriteText(Path("openssl.cnf"), Config(inter_cdp));
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    const std::string from = Date(now - 86400), to = Date(now + 10 * 365 * 86400LL);

    MakeKeyAndCsr("root", "/CN=" + prefix_ + " Root");
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name root_ca -selfsign -batch -notext" +
            " -in " + Q(Path("root.csr")) + " -keyfile " + Q(Path("root.key")) +
            " -extensions v3_root -startdate " + from + " -enddate " + to + " -out " +
            Q(Path("root.pem")));
    MakeKeyAndCsr("intermediate", "/CN=" + prefix_ + " Intermediate");
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name root_ca -batch -notext -in " +
            Q(Path("intermediate.csr")) + " -extensions v3_inter -startdate " + from +
            " -enddate " + to + " -out " + Q(Path("intermediate.pem")));
  }

  const std::string& dir() const { return dir_; }
  std::string root_path() const { return Path("root.pem"); }
  std::string intermediate_path() const { return Path("intermediate.pem"); }
  std::string root_pem() const { return ReadText(Path("root.pem")); }
  std::string intermediate_pem() const { return ReadText(Path("intermediate.pem")); }
  // Root then intermediate.
  std::string bundle_pem() const { return root_pem() + intermediate_pem(); }

  struct Leaf {
    std::string cert_path, key_path, chain_path;  // chain: the intermediate, PEM
    std::string cert_pem, key_pem;
    std::string serial_hex;  // lower-case, no leading zeros
  };

  // A leaf for TLS client and server use (EKU clientAuth+serverAuth) signed
  // by the intermediate: subject CN=`cn`, SAN DNS `dns` (none when empty),
  // valid from `not_before` to `not_after` (unix seconds; may lie in the
  // past). EC P-256 key, unencrypted PEM, mode 0600. `name` names its files.
  Leaf IssueLeaf(const std::string& name, const std::string& cn,
                 const std::vector<std::string>& dns, int64_t not_before, int64_t not_after) {
    std::string ext =
        "[leaf]\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature,keyAgreement\n"
        "extendedKeyUsage = clientAuth,serverAuth\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
    if (!dns.empty()) {
      ext += "subjectAltName = ";
      for (size_t i = 0; i < dns.size(); ++i) {
        ext += (i == 0 ? "DNS:" : ",DNS:") + dns[i];
      }
      ext += "\n";
    }
    if (!leaf_cdp_.empty()) {
      ext += "crlDistributionPoints = URI:" + leaf_cdp_ + "\n";
    }
    WriteText(Path(name + ".ext"), ext);
    MakeKeyAndCsr(name, "/CN=" + cn);
    std::string serial = ReadText(Path("inter/serial"));
    serial = serial.substr(0, serial.find_first_of("\r\n"));
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name inter_ca -batch -notext -in " +
            Q(Path(name + ".csr")) + " -extfile " + Q(Path(name + ".ext")) +
            " -extensions leaf -startdate " + Date(not_before) + " -enddate " + Date(not_after) +
            " -out " + Q(Path(name + ".pem")));
    Leaf leaf;
    leaf.cert_path = Path(name + ".pem");
    leaf.key_path = Path(name + ".key");
    leaf.chain_path = Path(name + "-chain.pem");
    leaf.cert_pem = ReadText(leaf.cert_path);
    leaf.key_pem = ReadText(leaf.key_path);
    WriteText(leaf.chain_path, intermediate_pem());
    for (char& c : serial) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const size_t first = serial.find_first_not_of('0');
    leaf.serial_hex = first == std::string::npos ? "0" : serial.substr(first);
    return leaf;
  }

  // Marks `leaf` revoked in the intermediate's database (next CRL lists it).
  void Revoke(const Leaf& leaf) {
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name inter_ca -revoke " +
            Q(leaf.cert_path) + " -crl_reason keyCompromise");
  }
  // Marks the intermediate revoked in the root's database.
  void RevokeIntermediate() {
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name root_ca -revoke " +
            Q(Path("intermediate.pem")) + " -crl_reason cACompromise");
  }
  // Lists the root on its own CRL (for "the trust anchor is not checked").
  void RevokeRoot() {
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name root_ca -revoke " +
            Q(Path("root.pem")));
  }

  // CRLs as PEM, signed now (openssl's real time) with lastUpdate a minute
  // back (as real CAs do, for clock skew) and nextUpdate `hours` ahead.
  std::string IntermediateCrlPem(int hours = 24 * 30) { return CrlPem("inter_ca", hours); }
  std::string RootCrlPem(int hours = 24 * 30) { return CrlPem("root_ca", hours); }

  // YYYYMMDDHHMMSSZ, as `openssl ca -startdate` takes it.
  static std::string Date(int64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%SZ", &tm);
    return buf;
  }

 private:
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  static std::string Q(const std::string& s) { return ShellQuote(s); }

  static void WriteText(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      throw std::runtime_error("cannot write " + path);
    }
  }
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw std::runtime_error("cannot read " + path);
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static std::string Openssl(const std::string& args) {
    const std::string cmd = "openssl " + args;
    const CommandResult r = Run(cmd);
    if (r.exit_code != 0) {
      throw std::runtime_error(cmd + " failed (" + std::to_string(r.exit_code) + "):\n" + r.output);
    }
    return r.output;
  }

  void MakeKeyAndCsr(const std::string& name, const std::string& subject) const {
    Openssl("req -new -config " + Q(Path("openssl.cnf")) +
            " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
            Q(Path(name + ".key")) + " -subj " + Q(subject) + " -out " + Q(Path(name + ".csr")));
    std::filesystem::permissions(Path(name + ".key"), std::filesystem::perms::owner_read |
                                                          std::filesystem::perms::owner_write);
  }

  std::string CrlPem(const std::string& ca_name, int hours) {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    const std::string out = Path(ca_name + ".crl.pem");
    Openssl("ca -config " + Q(Path("openssl.cnf")) + " -name " + ca_name + " -gencrl" +
            " -crl_lastupdate " + Date(now - 60) + " -crl_nextupdate " +
            Date(now + int64_t{hours} * 3600) + " -out " + Q(out));
    return ReadText(out);
  }

  std::string Config(const std::string& inter_cdp) const {
    std::string c =
        "[req]\ndistinguished_name = req_dn\nprompt = no\n[req_dn]\n"
        "[policy_any]\ncommonName = supplied\n"
        "[crl_ext]\nauthorityKeyIdentifier = keyid:always\n"
        "[v3_root]\nbasicConstraints = critical,CA:TRUE\n"
        "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
        "[v3_inter]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n"
        "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n";
    if (!inter_cdp.empty()) {
      c += "crlDistributionPoints = URI:" + inter_cdp + "\n";
    }
    for (const auto& [section, sub, cert, key] :
         {std::tuple{"root_ca", "root", "root.pem", "root.key"},
          std::tuple{"inter_ca", "inter", "intermediate.pem", "intermediate.key"}}) {
      c += std::string("[") + section + "]\n" + "dir = " + Path(sub) + "\n" +
           "database = $dir/index.txt\nnew_certs_dir = $dir/newcerts\nserial = $dir/serial\n"
           "crlnumber = $dir/crlnumber\n" +
           "certificate = " + Path(cert) + "\nprivate_key = " + Path(key) + "\n" +
           "default_md = sha256\npolicy = policy_any\nunique_subject = no\nemail_in_dn = no\n"
           "copy_extensions = none\ndefault_days = 365\ncrl_extensions = crl_ext\n";
    }
    return c;
  }

  std::string dir_, prefix_, leaf_cdp_;
};

}  // namespace hostca::testing
