#include "server/p12_commands.h"

#include <cctype>
#include <filesystem>
#include <set>

#include "ca/keys.h"
#include "common/file.h"
#include "common/pem.h"
#include "common/pkcs12.h"
#include "server/layout.h"
#include "server/sni_table.h"

namespace hostca::server {
namespace {

std::string SubjectOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

Result<std::vector<X509Ptr>> ReadBundleIfAny(const std::string& path) {
  if (!FileExists(path)) {
    return std::vector<X509Ptr>{};
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pem, ReadFile(path));
  if (pem.find("-----BEGIN") == std::string::npos) {
    return std::vector<X509Ptr>{};
  }
  return CertsFromPemBundle(pem);
}

// The file stem under DATA/tls/sni for `name`: "*" becomes "_wildcard";
// anything but letters, digits, '.', '-' and '_' is refused.
Result<std::string> FileStemFor(const std::string& name) {
  std::string stem = name;
  if (stem.rfind("*.", 0) == 0) {
    stem = "_wildcard" + stem.substr(1);
  }
  for (char c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return InvalidArgument("the certificate's name '" + name + "' is not a DNS name",
                             "bad_tls_identity");
    }
  }
  if (stem.empty() || stem.front() == '.') {
    return InvalidArgument("the certificate's name '" + name + "' is not a DNS name",
                           "bad_tls_identity");
  }
  return stem;
}

// Verifies `leaf` at `now` for TLS server use, with the self-signed
// certificates of `extra` and DATA/ca.crt as anchors and the rest of
// `extra` as intermediates. Returns the verified path after the leaf.
Result<std::vector<X509Ptr>> VerifyChain(X509* leaf, const std::vector<X509Ptr>& extra,
                                         X509* local_ca, int64_t now) {
  X509StorePtr store(X509_STORE_new());
  X509StackPtr untrusted(sk_X509_new_null());
  if (!store || !untrusted) {
    return OpenSslError("allocating a certificate store");
  }
  if (local_ca != nullptr) {
    X509_STORE_add_cert(store.get(), local_ca);
  }
  for (const X509Ptr& c : extra) {
    if (IsSelfSigned(c.get())) {
      X509_STORE_add_cert(store.get(), c.get());
    } else {
      X509Ptr ref = CopyRef(c.get());
      if (sk_X509_push(untrusted.get(), ref.get()) != 0) {
        ref.release();  // the stack owns it now
      }
    }
  }
  ClearOpenSslErrors();
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return OpenSslError("preparing chain verification");
  }
  // DATA/ca.crt may be an intermediate CA: it is an anchor all the same.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_PARTIAL_CHAIN);
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now));
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    const std::string why = X509_verify_cert_error_string(err);
    if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
        err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
        err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) {
      return InvalidArgument("the chain is incomplete (" + why +
                                 "): the file must hold every intermediate and the root, unless "
                                 "the certificate is issued by this CA",
                             "incomplete_chain");
    }
    return InvalidArgument("the certificate does not verify: " + why, "chain_invalid");
  }
  X509StackPtr path(X509_STORE_CTX_get1_chain(ctx.get()));
  std::vector<X509Ptr> out;
  for (int i = 1; path && i < sk_X509_num(path.get()); ++i) {
    out.push_back(CopyRef(sk_X509_value(path.get(), i)));
  }
  return out;
}

// Refuses names another installed certificate (not `stem`) answers for.
Status CheckNoOverlap(const std::string& sni_dir, const std::string& stem,
                      const std::vector<std::string>& names) {
  const std::set<std::string> wanted(names.begin(), names.end());
  std::error_code ec;
  if (!std::filesystem::is_directory(sni_dir, ec)) {
    return Status::Ok();
  }
  for (const auto& entry : std::filesystem::directory_iterator(sni_dir, ec)) {
    if (entry.path().extension() != ".crt" || entry.path().stem() == stem) {
      continue;
    }
    auto pem = ReadFile(entry.path().string());
    if (!pem.ok()) {
      continue;  // the server reports it at start
    }
    auto cert = CertFromPem(*pem);
    if (!cert.ok()) {
      continue;
    }
    for (const std::string& n : SanDnsNames(cert->get())) {
      if (wanted.count(n) != 0) {
        return InvalidArgument("the name " + n + " is already served by " + entry.path().string() +
                                   "; remove that file first",
                               "duplicate_sni_name");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ExportCaReport> ExportCaP12(const ServerOptions& server, const std::string& p12_path,
                                   const std::string& p12_passphrase) {
  if (p12_passphrase.empty()) {
    return InvalidArgument("the export needs a non-empty passphrase", "empty_passphrase");
  }
  const DataLayout layout(server.data_dir);
  HOSTCA_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(layout.ca_crt()));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr ca_cert, CertFromPem(ca_pem));
  HOSTCA_ASSIGN_OR_RETURN(const std::string pass,
                          ResolvePassphrase(layout, server.passphrase_file));
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::LoadEncryptedKey(layout.ca_key(), pass));
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ReadBundleIfAny(layout.ca_chain()));
  std::vector<X509*> borrowed;
  for (const X509Ptr& c : chain) {
    borrowed.push_back(c.get());
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string der, EncodePkcs12(ca_cert.get(), key.get(), borrowed,
                                                              p12_passphrase, "hostca CA"));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(p12_path, der, 0600));
  ExportCaReport report;
  HOSTCA_ASSIGN_OR_RETURN(report.fingerprint_sha256, CertFingerprintSha256(ca_cert.get()));
  report.chain_certs = chain.size();
  return report;
}

Result<ImportTlsReport> ImportTlsP12(const ServerOptions& server, const std::string& p12_path,
                                     const std::string& p12_passphrase, const Clock& clock) {
  const DataLayout layout(server.data_dir);
  HOSTCA_ASSIGN_OR_RETURN(const std::string der, ReadFile(p12_path));
  HOSTCA_ASSIGN_OR_RETURN(Pkcs12Contents p12, DecodePkcs12(der, p12_passphrase));
  ImportTlsReport report;
  report.subject = SubjectOf(p12.cert.get());
  report.dns_names = SanDnsNames(p12.cert.get());
  if (report.dns_names.empty()) {
    return InvalidArgument("the certificate " + report.subject +
                               " has no SAN DNS name: clients could not choose it by name",
                           "sni_no_names");
  }
  if (IsSelfSigned(p12.cert.get())) {
    return InvalidArgument("the certificate " + report.subject +
                               " is self-signed: import a certificate issued by a CA",
                           "self_signed_leaf");
  }
  X509Ptr local_ca;
  if (FileExists(layout.ca_crt())) {
    HOSTCA_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(layout.ca_crt()));
    HOSTCA_ASSIGN_OR_RETURN(local_ca, CertFromPem(ca_pem));
  }
  HOSTCA_ASSIGN_OR_RETURN(
      std::vector<X509Ptr> path,
      VerifyChain(p12.cert.get(), p12.chain, local_ca.get(), clock.NowSeconds()));
  HOSTCA_ASSIGN_OR_RETURN(const std::string stem, FileStemFor(report.dns_names.front()));
  HOSTCA_RETURN_IF_ERROR(CheckNoOverlap(layout.tls_sni_dir(), stem, report.dns_names));

  HOSTCA_ASSIGN_OR_RETURN(std::string crt_pem, CertToPem(p12.cert.get()));
  for (const X509Ptr& c : path) {
    HOSTCA_ASSIGN_OR_RETURN(const std::string pem, CertToPem(c.get()));
    crt_pem += pem;
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string key_pem, PrivateKeyToPem(p12.key.get()));
  report.crt_path = layout.tls_sni_dir() + "/" + stem + ".crt";
  report.key_path = layout.tls_sni_dir() + "/" + stem + ".key";
  report.chain_certs = path.size();
  report.replaced = FileExists(report.crt_path);
  HOSTCA_RETURN_IF_ERROR(MakeDirs(layout.tls_sni_dir(), 0700));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(report.key_path, key_pem, 0600));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(report.crt_path, crt_pem, 0644));
  return report;
}

}  // namespace hostca::server
