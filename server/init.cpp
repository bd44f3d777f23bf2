#include "server/init.h"

#include <cstdlib>

#include "ca/authority.h"
#include "ca/issuer.h"
#include "ca/keys.h"
#include "common/encoding.h"
#include "common/file.h"
#include "common/pem.h"
#include "server/layout.h"
#include "server/running_server.h"
#include "server/tls_identity.h"
#include "storage/storage.h"

namespace hostca::server {
namespace {

bool HasEnvPassphrase() {
  const char* env = std::getenv("HOSTCA_KEY_PASSPHRASE");
  return env != nullptr && env[0] != '\0';
}

// The passphrase for a new CA key: supplied (env or file) or generated into
// DIR/ca.pass.
Result<std::string> NewCaPassphrase(const DataLayout& layout, const ServerOptions& server,
                                    InitReport* report) {
  if (HasEnvPassphrase() || !server.passphrase_file.empty()) {
    return ResolvePassphrase(layout, server.passphrase_file);
  }
  std::string pass = ca::NewPassphrase();
  HOSTCA_RETURN_IF_ERROR(WriteFileExclusive(layout.ca_pass(), pass + "\n", 0600));
  report->passphrase_generated = true;
  report->written.push_back(layout.ca_pass());
  return pass;
}

// Store, admin token and TLS identity: the part shared by the root flow and
// --install-ca-cert.
Status FinishInit(const ServerOptions& server, const InitOptions& init, const DataLayout& layout,
                  const ca::Issuer& issuer, const Clock& clock, InitReport* report) {
  HOSTCA_ASSIGN_OR_RETURN(auto store, storage::OpenLmdbStorage(StoreOptions(server)));
  report->written.push_back(layout.db() + "/");

  const std::string admin_token = Base64UrlEncode(RandomBytes(32));
  HOSTCA_RETURN_IF_ERROR(WriteFileExclusive(layout.admin_token(), admin_token + "\n", 0600));
  report->written.push_back(layout.admin_token());

  std::vector<std::string> names = init.server_names;
  if (names.empty()) {
    names = {"localhost", "127.0.0.1"};
  }
  HOSTCA_ASSIGN_OR_RETURN(TlsIdentityFiles tls,
                          IssueTlsIdentity(issuer, names, init.tls_validity_days, clock));
  HOSTCA_RETURN_IF_ERROR(MakeDirs(layout.tls_dir(), 0700));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(layout.tls_key(), tls.key_pem, 0600));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(layout.tls_crt(), tls.cert_chain_pem, 0644));
  report->written.push_back(layout.tls_crt());
  report->written.push_back(layout.tls_key());

  const std::string token_hash = HexEncode(Sha256(admin_token));
  const int64_t now = clock.NowSeconds();
  Status st = store->Update([&](storage::WriteTxn& txn) -> Status {
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta(kMetaOrganization, issuer.organization()));
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta(kMetaAdminTokenHash, token_hash));
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta(kMetaSecurityLevel, "high"));
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta(kMetaMode, "internal"));
    HOSTCA_RETURN_IF_ERROR(txn.PutMeta(kMetaCaFingerprint, issuer.fingerprint_sha256()));
    HOSTCA_RETURN_IF_ERROR(txn.InsertCert(tls.record));
    return txn
        .AppendAudit(now, "init", "ca.init",
                     "CA " + issuer.fingerprint_sha256() + " organization=" + issuer.organization())
        .status();
  });
  store->Close();
  return st;
}

Status RefuseExisting(const DataLayout& layout, bool allow_key_and_csr) {
  for (const std::string& f : {layout.ca_crt(), layout.admin_token(), layout.db() + "/data.mdb"}) {
    if (FileExists(f)) {
      return AlreadyExists(
          "a CA already exists in " + layout.dir + " (" + f + "); refusing to overwrite it",
          "ca_exists");
    }
  }
  if (!allow_key_and_csr) {
    for (const std::string& f : {layout.ca_key(), layout.ca_csr()}) {
      if (FileExists(f)) {
        return AlreadyExists(
            f + " exists: a CA key was already made here; finish with --install-ca-cert",
            "ca_exists");
      }
    }
  }
  return Status::Ok();
}

Result<InitReport> InitRoot(const ServerOptions& server, const InitOptions& init,
                            const DataLayout& layout, const Clock& clock) {
  InitReport report;
  HOSTCA_ASSIGN_OR_RETURN(const ca::KeyType type, ca::ParseKeyType(init.key_type));
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(type));
  ca::CaOptions ca_options;
  ca_options.organization = init.organization;
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr root, ca::CreateRootCertificate(key.get(), ca_options, clock));
  HOSTCA_ASSIGN_OR_RETURN(const std::string pass, NewCaPassphrase(layout, server, &report));
  HOSTCA_RETURN_IF_ERROR(ca::WriteEncryptedKey(layout.ca_key(), key.get(), pass, true));
  report.written.push_back(layout.ca_key());
  HOSTCA_ASSIGN_OR_RETURN(const std::string root_pem, CertToPem(root.get()));
  HOSTCA_RETURN_IF_ERROR(WriteFileExclusive(layout.ca_crt(), root_pem, 0644));
  report.written.push_back(layout.ca_crt());
  HOSTCA_ASSIGN_OR_RETURN(
      auto issuer, ca::Issuer::Create(std::move(key), std::move(root), {}, init.organization));
  report.fingerprint_sha256 = issuer->fingerprint_sha256();
  HOSTCA_RETURN_IF_ERROR(FinishInit(server, init, layout, *issuer, clock, &report));
  return report;
}

Result<InitReport> InitIntermediateKey(const ServerOptions& server, const InitOptions& init,
                                       const DataLayout& layout) {
  InitReport report;
  HOSTCA_ASSIGN_OR_RETURN(const ca::KeyType type, ca::ParseKeyType(init.key_type));
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(type));
  ca::CaOptions ca_options;
  ca_options.organization = init.organization;
  HOSTCA_ASSIGN_OR_RETURN(X509ReqPtr csr, ca::CreateIntermediateCsr(key.get(), ca_options));
  HOSTCA_ASSIGN_OR_RETURN(const std::string csr_pem, CsrToPem(csr.get()));
  HOSTCA_ASSIGN_OR_RETURN(const std::string pass, NewCaPassphrase(layout, server, &report));
  HOSTCA_RETURN_IF_ERROR(ca::WriteEncryptedKey(layout.ca_key(), key.get(), pass, true));
  report.written.push_back(layout.ca_key());
  HOSTCA_RETURN_IF_ERROR(WriteFileExclusive(layout.ca_csr(), csr_pem, 0644));
  report.written.push_back(layout.ca_csr());
  return report;
}

Result<InitReport> InstallCaCert(const ServerOptions& server, const InitOptions& init,
                                 const DataLayout& layout, const Clock& clock) {
  InitReport report;
  if (!FileExists(layout.ca_key())) {
    return InvalidArgument(layout.ca_key() + " is missing: run init --intermediate first");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string pass,
                          ResolvePassphrase(layout, server.passphrase_file));
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::LoadEncryptedKey(layout.ca_key(), pass));
  HOSTCA_ASSIGN_OR_RETURN(const std::string bundle, ReadFile(init.install_ca_cert));
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, CertsFromPemBundle(bundle));
  X509Ptr cert = std::move(certs.front());
  certs.erase(certs.begin());
  HOSTCA_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain,
                          ca::CheckIntermediateCertificate(cert.get(), key.get(), certs, clock));
  HOSTCA_ASSIGN_OR_RETURN(const std::string cert_pem, CertToPem(cert.get()));
  std::string chain_pem;
  for (const X509Ptr& c : chain) {
    HOSTCA_ASSIGN_OR_RETURN(const std::string pem, CertToPem(c.get()));
    chain_pem += pem;
  }
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(layout.ca_chain(), chain_pem, 0644));
  HOSTCA_RETURN_IF_ERROR(WriteFileExclusive(layout.ca_crt(), cert_pem, 0644));
  report.written.push_back(layout.ca_crt());
  report.written.push_back(layout.ca_chain());
  HOSTCA_ASSIGN_OR_RETURN(auto issuer, ca::Issuer::Create(std::move(key), std::move(cert),
                                                          std::move(chain), init.organization));
  report.fingerprint_sha256 = issuer->fingerprint_sha256();
  HOSTCA_RETURN_IF_ERROR(FinishInit(server, init, layout, *issuer, clock, &report));
  return report;
}

}  // namespace

Result<InitReport> RunInit(const ServerOptions& server, const InitOptions& init,
                           const Clock& clock) {
  if (server.data_dir.empty()) {
    return InvalidArgument("--data DIR is required");
  }
  if (init.intermediate && !init.install_ca_cert.empty()) {
    return InvalidArgument("--intermediate and --install-ca-cert are two separate steps");
  }
  const DataLayout layout(server.data_dir);
  const bool installing = !init.install_ca_cert.empty();
  HOSTCA_RETURN_IF_ERROR(RefuseExisting(layout, installing));
  HOSTCA_RETURN_IF_ERROR(MakeDirs(layout.dir, 0700));
  if (installing) {
    return InstallCaCert(server, init, layout, clock);
  }
  if (init.intermediate) {
    return InitIntermediateKey(server, init, layout);
  }
  return InitRoot(server, init, layout, clock);
}

namespace {

// A CSR for `key` with CN=<name>; the server takes only its public key.
Result<std::string> AdminCsrPem(EVP_PKEY* key, const std::string& name) {
  X509ReqPtr req(X509_REQ_new());
  if (!req ||
      X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1 ||
      X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    return OpenSslError("cannot make the admin certificate's CSR");
  }
  return CsrToPem(req.get());
}

Status WriteAdminFiles(const std::string& out_dir, const std::string& name,
                       const std::string& key_pem, const std::string& cert_chain_pem) {
  HOSTCA_RETURN_IF_ERROR(MakeDirs(out_dir, 0700));
  HOSTCA_RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/" + name + ".key", key_pem, 0600));
  return WriteFileAtomic(out_dir + "/" + name + ".crt", cert_chain_pem, 0644);
}

// The running server issues it: the key stays here, the CSR goes there.
Result<AdminCertIssued> IssueAdminCertThroughServer(const ServerOptions& server,
                                                    const std::string& name,
                                                    const std::string& out_dir,
                                                    int64_t validity_days) {
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::GenerateKey(ca::KeyType::kP256));
  HOSTCA_ASSIGN_OR_RETURN(const std::string csr, AdminCsrPem(key.get(), name));
  HOSTCA_ASSIGN_OR_RETURN(
      const nlohmann::json answer,
      PostToRunningServer(server.data_dir, "/v1/admin-certs",
                          {{"name", name}, {"csr", csr}, {"days", validity_days}}));
  if (!answer.contains("serial") || !answer["serial"].is_string() ||
      !answer.contains("certificate") || !answer["certificate"].is_string()) {
    return Internal("the server's answer holds no certificate");
  }
  const std::string chain_pem = answer["certificate"].get<std::string>();
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr cert, CertFromPem(chain_pem));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Internal("the server's certificate is not for the key made here");
  }
  HOSTCA_ASSIGN_OR_RETURN(const std::string key_pem, PrivateKeyToPem(key.get()));
  HOSTCA_RETURN_IF_ERROR(WriteAdminFiles(out_dir, name, key_pem, chain_pem));
  return AdminCertIssued{answer["serial"].get<std::string>(), true};
}

}  // namespace

Result<AdminCertIssued> IssueAdminCertFiles(const ServerOptions& server, const std::string& name,
                                            const std::string& out_dir, int64_t validity_days,
                                            const Clock& clock) {
  HOSTCA_RETURN_IF_ERROR(CheckAdminName(name));
  const DataLayout layout(server.data_dir);
  if (!FileExists(layout.db() + "/data.mdb")) {
    return InvalidArgument(layout.db() + " holds no store: run hostca-server init first",
                           "incomplete_data_dir");
  }
  auto opened = storage::OpenLmdbStorage(StoreOptions(server));
  if (!opened.ok() && opened.status().reason() == "store_in_use") {
    return IssueAdminCertThroughServer(server, name, out_dir, validity_days);
  }
  HOSTCA_RETURN_IF_ERROR(opened.status());
  std::unique_ptr<storage::Storage> store = std::move(*opened);
  HOSTCA_ASSIGN_OR_RETURN(const std::string pass,
                          ResolvePassphrase(layout, server.passphrase_file));
  HOSTCA_ASSIGN_OR_RETURN(EvpPkeyPtr key, ca::LoadEncryptedKey(layout.ca_key(), pass));
  HOSTCA_ASSIGN_OR_RETURN(const std::string ca_pem, ReadFile(layout.ca_crt()));
  HOSTCA_ASSIGN_OR_RETURN(X509Ptr ca_cert, CertFromPem(ca_pem));
  std::vector<X509Ptr> chain;
  if (FileExists(layout.ca_chain())) {
    HOSTCA_ASSIGN_OR_RETURN(const std::string chain_pem, ReadFile(layout.ca_chain()));
    if (!chain_pem.empty()) {
      HOSTCA_ASSIGN_OR_RETURN(chain, CertsFromPemBundle(chain_pem));
    }
  }
  std::string organization;
  HOSTCA_RETURN_IF_ERROR(store->View([&](storage::ReadTxn& txn) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(organization, txn.GetMeta(kMetaOrganization));
    return Status::Ok();
  }));
  HOSTCA_ASSIGN_OR_RETURN(auto issuer, ca::Issuer::Create(std::move(key), std::move(ca_cert),
                                                          std::move(chain), organization));
  HOSTCA_ASSIGN_OR_RETURN(TlsIdentityFiles files,
                          IssueAdminIdentity(*issuer, name, validity_days, clock));
  HOSTCA_RETURN_IF_ERROR(WriteAdminFiles(out_dir, name, files.key_pem, files.cert_chain_pem));
  Status st =
      RecordAdminCert(*store, files.record, name, "hostca-server admin-cert", clock.NowSeconds());
  store->Close();
  HOSTCA_RETURN_IF_ERROR(st);
  return AdminCertIssued{ca::SerialToHex(files.record.serial), false};
}

Result<std::string> ResolvePassphrase(const DataLayout& layout,
                                      const std::string& passphrase_file) {
  if (HasEnvPassphrase()) {
    return std::string(std::getenv("HOSTCA_KEY_PASSPHRASE"));
  }
  const std::string path = passphrase_file.empty() ? layout.ca_pass() : passphrase_file;
  auto pass = ReadSecretFile(path);
  if (!pass.ok()) {
    return pass.status().WithContext(
        "no CA key passphrase (set HOSTCA_KEY_PASSPHRASE or --passphrase-file)");
  }
  if (pass->empty()) {
    return InvalidArgument("passphrase file " + path + " is empty");
  }
  return pass;
}

}  // namespace hostca::server
