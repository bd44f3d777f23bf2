#include "server/sni_table.h"

#include <filesystem>

#include "common/encoding.h"
#include "common/pem.h"

namespace hostca::server {
bool IsSelfSigned(X509* cert) {
  const bool self = X509_self_signed(cert, 1) == 1;
  ClearOpenSslErrors();
  return self;
}

Status SniTable::Add(std::unique_ptr<TlsIdentity> id) {
  const std::vector<std::string> names = SanDnsNames(id->leaf.get());
  if (names.empty()) {
    return InvalidArgument(id->description + " has no SAN DNS name to be chosen by",
                           "sni_no_names");
  }
  for (const std::string& name : names) {
    if (auto it = names_.find(name); it != names_.end() && it->second != nullptr) {
      return InvalidArgument("the name " + name + " is in two certificates: " +
                                 it->second->description + " and " + id->description,
                             "duplicate_sni_name");
    }
  }
  for (const std::string& name : names) {
    names_[name] = id.get();
  }
  ids_.push_back(std::move(id));
  return Status::Ok();
}

std::vector<const TlsIdentity*> SniTable::identities() const {
  std::vector<const TlsIdentity*> out;
  for (const auto& id : ids_) {
    out.push_back(id.get());
  }
  return out;
}

const TlsIdentity* SniTable::Find(std::string_view server_name) const {
  if (server_name.empty() || names_.empty()) {
    return nullptr;
  }
  const std::string name = AsciiLower(server_name);
  if (auto it = names_.find(name); it != names_.end()) {
    return it->second;
  }
  // One label replaced by "*": "a.example.com" -> "*.example.com".
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0) {
    return nullptr;
  }
  if (auto it = names_.find("*" + name.substr(dot)); it != names_.end()) {
    return it->second;
  }
  return nullptr;
}

Result<SniTable> LoadSniTable(const std::string& sni_dir,
                              const std::vector<std::string>& pem_files) {
  SniTable table;
  std::vector<std::string> crts;
  std::error_code ec;
  if (std::filesystem::is_directory(sni_dir, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(sni_dir, ec)) {
      if (entry.path().extension() == ".crt") {
        crts.push_back(entry.path().string());
      }
    }
    if (ec) {
      return InvalidArgument("cannot list " + sni_dir + ": " + ec.message(), "bad_tls_identity");
    }
  }
  std::sort(crts.begin(), crts.end());
  auto add = [&table](const std::string& crt, const std::string& key) -> Status {
    HOSTCA_ASSIGN_OR_RETURN(TlsIdentity id, LoadTlsIdentity(crt, key, "", ""));
    return table.Add(std::make_unique<TlsIdentity>(std::move(id)));
  };
  for (const std::string& crt : crts) {
    const std::string key = crt.substr(0, crt.size() - 4) + ".key";
    HOSTCA_RETURN_IF_ERROR(add(crt, key).WithContext("SNI certificate " + crt));
  }
  for (const std::string& pem : pem_files) {
    HOSTCA_RETURN_IF_ERROR(add(pem, pem).WithContext("[tls] sni_certificates " + pem));
  }
  return table;
}

Result<std::unique_ptr<TlsIdentity>> LoadDefaultIdentity(const std::string& cert_path,
                                                         const std::string& key_path) {
  auto id = LoadTlsIdentity(cert_path, key_path.empty() ? cert_path : key_path, "", "");
  if (!id.ok()) {
    return id.status().WithContext("[tls] default_certificate");
  }
  if (IsSelfSigned(id->leaf.get())) {
    return InvalidArgument("[tls] default_certificate " + cert_path +
                               " is self-signed: clients that send no server name (or an "
                               "unknown one) could not verify it; use a certificate issued by a "
                               "CA they trust",
                           "self_signed_default");
  }
  return std::make_unique<TlsIdentity>(std::move(*id));
}

}  // namespace hostca::server
