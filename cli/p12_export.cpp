#include "cli/p12_export.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <vector>

#include "common/file.h"
#include "common/pem.h"
#include "common/pkcs12.h"

namespace hostca::cli {
namespace {

// A certificate file, its key file and where its chain comes from when the
// certificate file holds only the leaf.
struct Candidate {
  std::string cert, key;
  std::vector<std::string> chain_fallback;
};

std::vector<Candidate> PairsIn(const std::string& dir,
                               const std::vector<std::string>& chain_fallback) {
  std::vector<Candidate> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return out;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".crt" && entry.path().filename() != "ca.crt") {
      const std::string crt = entry.path().string();
      out.push_back({crt, crt.substr(0, crt.size() - 4) + ".key", chain_fallback});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Candidate& a, const Candidate& b) { return a.cert < b.cert; });
  return out;
}

std::vector<Candidate> CandidatesOf(const ExportSources& s) {
  std::vector<Candidate> out;
  if (!s.state_dir.empty()) {
    const std::string d = s.state_dir;
    out.push_back({d + "/host.crt",
                   d + "/host.key",
                   {FileExists(d + "/chain.pem") ? d + "/chain.pem" : d + "/ca.crt"}});
    out.push_back(
        {d + "/external/host.crt", d + "/external/host.key", {d + "/external/chain.pem"}});
  }
  if (!s.data_dir.empty()) {
    const std::vector<std::string> ca = {s.data_dir + "/ca.crt", s.data_dir + "/ca-chain.pem"};
    out.push_back({s.data_dir + "/tls/server.crt", s.data_dir + "/tls/server.key", ca});
    for (Candidate& c : PairsIn(s.data_dir + "/tls/sni", ca)) {
      out.push_back(std::move(c));
    }
  }
  if (!s.key_dir.empty()) {
    for (Candidate& c : PairsIn(s.key_dir, {s.key_dir + "/ca.crt"})) {
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::string SerialOf(X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) {
    return "";
  }
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  return NormalizeSerial(out);
}

std::vector<X509Ptr> CertsOf(const std::string& path) {
  auto pem = ReadFile(path);
  if (!pem.ok()) {
    return {};
  }
  auto certs = CertsFromPemBundle(*pem);
  return certs.ok() ? std::move(*certs) : std::vector<X509Ptr>{};
}

std::string SubjectOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

}  // namespace

std::string NormalizeSerial(const std::string& serial) {
  std::string out;
  for (char c : serial) {
    if (c != ':') {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? (out.empty() ? "" : "0") : out.substr(first);
}

Result<ExportReport> ExportP12(const ExportSources& sources, const std::string& serial,
                               const std::string& out_path, const std::string& passphrase) {
  const std::string wanted = NormalizeSerial(serial);
  std::string looked;
  for (const Candidate& c : CandidatesOf(sources)) {
    looked += (looked.empty() ? "" : ", ") + c.cert;
    std::vector<X509Ptr> certs = CertsOf(c.cert);
    if (certs.empty()) {
      continue;
    }
    X509* leaf = certs.front().get();
    auto fingerprint = CertFingerprintSha256(leaf);
    if (SerialOf(leaf) != wanted && !(fingerprint.ok() && *fingerprint == wanted)) {
      continue;
    }
    if (!FileExists(c.key)) {
      return NotFound("certificate " + wanted + " is in " + c.cert + " but its key " + c.key +
                          " is missing: only certificates whose key is here can be exported",
                      "key_missing");
    }
    HOSTCA_ASSIGN_OR_RETURN(const std::string key_pem, ReadFile(c.key));
    auto key = PrivateKeyFromPem(key_pem);
    if (!key.ok()) {
      return key.status().WithContext("the key " + c.key);
    }
    std::vector<X509Ptr> chain;
    for (size_t i = 1; i < certs.size(); ++i) {
      chain.push_back(std::move(certs[i]));
    }
    if (chain.empty()) {
      for (const std::string& path : c.chain_fallback) {
        for (X509Ptr& cert : CertsOf(path)) {
          chain.push_back(std::move(cert));
        }
      }
    }
    std::vector<X509*> borrowed;
    for (const X509Ptr& cert : chain) {
      borrowed.push_back(cert.get());
    }
    ExportReport report;
    report.serial = SerialOf(leaf);
    report.subject = SubjectOf(leaf);
    report.cert_path = c.cert;
    report.chain_certs = chain.size();
    HOSTCA_ASSIGN_OR_RETURN(const std::string der,
                            EncodePkcs12(leaf, key->get(), borrowed, passphrase, report.serial));
    HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(out_path, der, 0600));
    return report;
  }
  return NotFound("no certificate with serial " + wanted +
                      " whose key is on this machine (looked in " +
                      (looked.empty() ? std::string("nothing") : looked) +
                      "; --data DIR and --key-dir DIR add places)",
                  "cert_not_found");
}

}  // namespace hostca::cli
